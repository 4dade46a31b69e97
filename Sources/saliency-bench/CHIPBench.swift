import ArgumentParser
import Foundation
import Plugins
import Runtime

struct CHIPBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chip",
        abstract: "CHIP's fit time per layer of a shipped model: ms per image per gate, solve time, fit quality.",
        discussion: """
        Fits the chip plugin on the first --images training images of the model's
        dataset, one layer at a time (refine_layer = layer, so each fit is that layer
        alone), with --gates perturbed networks per image. Reported per layer: K
        (channels), the perturbation time (clean pass once per image batch + one
        suffix pass from the gated layer per gate) as ms per image per gate, the
        per-class ADMM time, the mean weighted R² of the per-class fits, the largest
        ADMM iteration count, and the share of weights above a thousandth of their
        class's largest (Fig. 11's rule). One fit per layer (no repetition: a fit
        already averages over images x gates passes); the machine's load shows in
        the wall times.

        Models: resnet-shapes and vgg-shapes (shapes-loc), vgg-an8flower-single6c and
        vgg-an8flower-double12c (an8flower at 64x64): the training split, seed 0;
        lenet-fmnist: the first Fashion-MNIST training images.
        """)

    @OptionGroup var common: CommonOptions
    @Option(help: "Shipped model: resnet-shapes, vgg-shapes, vgg-an8flower-single6c, vgg-an8flower-double12c, lenet-fmnist.")
    var model: String = "resnet-shapes"
    @Option(help: "Folder with the shipped models.")
    var models: String = "models"
    @Option(help: "Comma-separated layers (default: every conv block output of the model).")
    var layers: String?
    @Option(help: "Training images to fit on.")
    var images: Int = 50
    @Option(help: "Perturbed networks per image.")
    var gates: Int = 100
    @Option(help: "Gated copies per forward pass.")
    var batchSize: Int = 128

    /// The dataset each shipped model was trained on, and its default layers.
    static func setting(_ model: String) throws -> (dataset: String, options: [String: ParamValue], layers: [String]) {
        let vggLayers = ["block1.relu1", "block1.relu2", "block2.relu2", "block3.relu2"]
        switch model {
        case "resnet-shapes":
            return ("shapes-loc", ["size": .int(64)], ["relu", "layer1.0.relu2", "layer2.0.relu2", "layer3.0.relu2"])
        case "vgg-shapes": return ("shapes-loc", ["size": .int(64)], vggLayers)
        case "vgg-an8flower-single6c": return ("an8flower", ["size": .int(64), "variant": .string("single-6c")], vggLayers)
        case "vgg-an8flower-double12c": return ("an8flower", ["size": .int(64), "variant": .string("double-12c")], vggLayers)
        case "lenet-fmnist": return ("fashion-mnist", [:], ["relu_conv1", "relu_conv2"])
        default: throw ValidationError("unknown model '\(model)' (resnet-shapes, vgg-shapes, vgg-an8flower-single6c, vgg-an8flower-double12c, lenet-fmnist)")
        }
    }

    func run() throws {
        Threads.tuneAllocator()
        if let t = common.threads { Threads.set(t) } else { Threads.set(Threads.count) }
        let (datasetName, options, defaultLayers) = try Self.setting(model)
        let g = try loadONNX(path: (models as NSString).appendingPathComponent("\(model).onnx"))
        let provider = try Registry.shared.dataset(datasetName)
        var p = options
        if datasetName == "fashion-mnist" { p["limit"] = .int(images) } else { p["count"] = .int(images); p["seed"] = .int(0) }
        let data = try provider.open(split: "train", params: Params.resolve(p, schema: provider.parameters, plugin: datasetName))
        let chosen = layers.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? defaultLayers
        print("saliency-bench chip: \(model) on \(images) \(datasetName) training images x \(gates) gates, batch \(batchSize), \(Threads.count) thread(s)")
        let header = [pad("layer", 16), pad("K", 4), pad("ms/img/gate", 12), pad("perturb s", 10), pad("solve ms", 9),
                      pad("R2 mean", 8), pad("iter max", 9), "important"].joined(separator: " ")
        print(header)
        print(String(repeating: "-", count: header.count))
        for layer in chosen {
            let params: [String: ParamValue] = ["layer": .string(layer), "refine_layer": .string(layer), "gates": .int(gates),
                                                "batch_size": .int(batchSize)]
            let s = try fit(CHIPExplainer(), model: g, dataset: data, params: params)
            func v(_ key: String) -> Double { s.scalars["layer.\(key)"] ?? .nan }
            let perturb = v("seconds") - v("seconds_solving")
            print([pad(layer, 16), pad(String(Int(v("channels"))), 4), pad(fmt(v("ms_per_image_per_gate"), 3), 12), pad(fmt(perturb, 1), 10),
                   pad(fmt(v("seconds_solving") * 1000, 1), 9), pad(fmt(v("r2_mean"), 3), 8), pad(String(Int(v("iterations_max"))), 9),
                   fmt(100 * v("important_fraction"), 0) + " %"].joined(separator: " "))
        }
        print("peak RSS: \(fmt(peakResidentMiB(), 0)) MiB")
    }
}
