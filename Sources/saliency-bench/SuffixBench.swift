import ArgumentParser
import Foundation
import Runtime

struct SuffixBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suffix",
        abstract: "Gated variants of one layer: full forwards vs. capture once + suffix forwards (CHIP's pattern).",
        discussion: """
        For each cut layer of the model: V variants of one image, each with random
        channel gates on the layer (CHIP's channel perturbation), evaluated (a) by V
        full forwards with the gates as an intervention, and (b) by one forward that
        captures the layer plus forwards of the rest of the graph from it
        (Graph.forward(from:value:)). Both one variant per pass (batch 1) and
        --batch variants per pass. No gradients. Median of the timed runs; the
        capture is inside the timed suffix figure.
        """)

    @OptionGroup var common: CommonOptions
    @Option(help: "ONNX model (the shipped ResNet by default).")
    var model: String = "models/resnet-shapes.onnx"
    @Option(help: "Comma-separated cut layers.")
    var layers: String = "relu,layer1.0.relu2,layer2.0.relu2,layer3.0.relu2"
    @Option(help: "Gated variants per image.")
    var variants: Int = 100
    @Option(help: "Variants per pass in the batched rows.")
    var batch: Int = 25

    func run() throws {
        Threads.tuneAllocator()
        if let t = common.threads { Threads.set(t) } else { Threads.set(Threads.count) }
        let g = try loadONNX(path: model)
        g.freeze()
        guard let shape = g.inputs.first?.shape, shape.count == 4 else {
            throw ValidationError("model '\(model)' needs one [N, C, H, W] input")
        }
        var rng = RandomGenerator(seed: 1)
        let x = Tensor.uniform([1] + shape.dropFirst(), rng: &rng)
        let runs = max(common.runs, 5)
        print("saliency-bench suffix: \(model), \(variants) gated variants of one \(shape.dropFirst().map(String.init).joined(separator: "x")) image, \(Threads.count) thread(s), median of \(runs) runs")
        let header = [pad("layer", 18), pad("C", 5), pad("per pass", 9), pad("full ms", 9), pad("suffix ms", 10), "speed-up"].joined(separator: " ")
        print(header)
        print(String(repeating: "-", count: header.count))
        for layer in layers.split(separator: ",").map(String.init) {
            // unreachable from input: forward throws for an unknown layer name and captures every known one
            let a = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(capture: [layer])) }.captured[layer]!
            let c = a.shape[1]
            let gates = Tensor.uniform([variants, c], low: 0, high: 1, rng: &rng)
            for perPass in [1, batch] {
                let passes = stride(from: 0, to: variants, by: perPass).map { $0..<min($0 + perPass, variants) }
                func gated(_ r: Range<Int>) -> ForwardOptions {
                    ForwardOptions(interventions: [layer: .scaleChannels(gates.slice(axis: 0, r))])
                }
                func copies(_ t: Tensor, _ n: Int) -> Tensor { n == 1 ? t : Tensor.concat([Tensor](repeating: t, count: n), axis: 0) }
                let full = try medianMilliseconds(runs: runs) {
                    for r in passes { _ = try Autograd.noGrad { try g.forward(copies(x, r.count), options: gated(r)) } }
                }
                let suffix = try medianMilliseconds(runs: runs) {
                    let captured = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(stopAt: layer)) }.output
                    for r in passes {
                        _ = try Autograd.noGrad { try g.forward(from: layer, value: copies(captured, r.count), options: gated(r)) }
                    }
                }
                print([pad(layer, 18), pad(String(c), 5), pad(String(perPass), 9), pad(fmt(full), 9), pad(fmt(suffix), 10),
                       fmt(full / suffix, 2) + "x"].joined(separator: " "))
            }
        }
    }
}
