import ArgumentParser
import Foundation
import Plugins
import Runtime

/// `saliency-bench train <model>`: trains one of the reference models shipped in models/ and
/// reports per-epoch progress, test accuracy and wall time. Every default here is the
/// recipe models/README.md records; flags only override it.
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Trains a reference model (lenet-fmnist, vgg-an8flower-single6c, vgg-an8flower-double12c, resnet-shapes) and saves it as ONNX.")

    @Argument(help: "Model to train: \(TrainRecipe.all.map(\.name).joined(separator: ", ")).")
    var model: String
    @Option(help: "Epochs (default: the recipe's).") var epochs: Int?
    @Option(help: "Mini-batch size (default: the recipe's).") var batchSize: Int?
    @Option(help: "Learning rate (default: the recipe's).") var lr: Double?
    @Option(help: "Training examples (default: the recipe's).") var trainCount: Int?
    @Option(help: "Optimizer, sgd or adam (default: the recipe's).") var optimizer: String?
    @Option(help: "Learning-rate schedule, none, step or cosine (default: the recipe's).") var schedule: String?
    @Option(help: "Seed for initialisation and shuffling.") var seed: UInt64 = 0
    @Option(help: "Threads for GEMM and parallel loops (default: all cores).") var threads: Int?
    @Option(help: "Output folder for <model>.onnx.") var out: String = "models"
    @Option(help: "Folder for epoch checkpoints; a killed run started again with the same flags resumes there.") var checkpoint: String?

    func run() throws {
        if let threads { Threads.set(threads) }
        guard let recipe = TrainRecipe.all.first(where: { $0.name == model }) else {
            throw ValidationError("unknown model '\(model)'; choose one of \(TrainRecipe.all.map(\.name).joined(separator: ", "))")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let data = try recipe.data(trainCount)
        let graph = try recipe.build(seed)
        graph.labels = data.train.classNames
        let nEpochs = epochs ?? recipe.epochs, batch = batchSize ?? recipe.batchSize, rate = lr ?? recipe.learningRate
        let opt = optimizer ?? recipe.optimizer, sched = schedule ?? recipe.schedule
        print("training \(recipe.name): \(data.train.name) (\(data.train.count) train, \(data.validation.count) validation, \(data.test.count) test), "
            + "\(nEpochs) epochs, batch \(batch), \(opt) lr \(rate), schedule \(sched), seed \(seed), \(Threads.count) threads")
        let report = try train(graph, on: data.train, validation: data.validation, epochs: nEpochs, batchSize: batch,
                               learningRate: rate, optimizer: opt, momentum: 0.9, weightDecay: recipe.weightDecay,
                               schedule: sched, seed: seed, checkpoint: checkpoint.map { URL(fileURLWithPath: $0) },
                               progress: { r in
            print("epoch \(r.epoch + 1)/\(nEpochs): loss \(fmt(r.loss, 4)), train acc \(fmt(100 * r.trainAccuracy, 2))%, "
                + "validation acc \(fmt(100 * (r.validationAccuracy ?? .nan), 2))%, lr \(String(format: "%.2e", r.learningRate)), \(fmt(r.seconds, 1)) s")
            fflush(nil)
        }, resumed: { print("resuming after epoch \($0) from \(checkpoint ?? "")") })
        let t0 = DispatchTime.now().uptimeNanoseconds
        let testAcc = try accuracy(graph, on: data.test, batchSize: 200)
        let testSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        graph.metadata["dataset"] = data.test.name
        graph.metadata["test_accuracy"] = String(format: "%.4f", testAcc)
        graph.metadata["recipe"] = "saliency-bench train \(recipe.name) --epochs \(nEpochs) --batch-size \(batch) --lr \(rate) --optimizer \(opt) --schedule \(sched) --seed \(seed)" + (trainCount.map { " --train-count \($0)" } ?? "")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let path = out + "/" + recipe.name + ".onnx"
        try graph.saveONNX(path: path)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        print("best validation accuracy \(fmt(100 * (report.bestAccuracy ?? .nan), 2))% at epoch \(report.bestEpoch + 1)")
        print("test accuracy \(fmt(100 * testAcc, 2))% on \(data.test.count) test images (\(fmt(testSeconds, 1)) s)")
        print("training time \(fmt(report.seconds, 1)) s (total \(fmt(total, 1)) s) on \(Threads.count) threads; peak RSS \(fmt(peakResidentMiB(), 0)) MiB")
        print("saved \(path) (\(bytes / 1024) KiB)")
    }
}

/// How one shipped model is trained.
struct TrainRecipe {
    var name: String
    var epochs: Int
    var batchSize: Int
    var learningRate: Double
    var optimizer: String
    var schedule: String
    var weightDecay: Double = 0
    var build: (UInt64) throws -> Graph
    var data: (Int?) throws -> (train: any Dataset, validation: any Dataset, test: any Dataset)

    static var all: [TrainRecipe] { [
        // Fashion-MNIST: the first 55k training images train, the last 5k validate.
        TrainRecipe(name: "lenet-fmnist", epochs: 4, batchSize: 64, learningRate: 1e-3, optimizer: "adam", schedule: "cosine",
                    build: { try ModelZoo.lenet5NICE(classes: 10, seed: $0) },
                    data: { n in
                        let full = try FashionMNISTDataset(split: "train")
                        let trainEnd = Swift.min(n ?? 55_000, 55_000)
                        return (try DatasetSubset(full, 0..<trainEnd), try DatasetSubset(full, 55_000..<60_000),
                                try FashionMNISTDataset(split: "test"))
                    }),
        an8(name: "vgg-an8flower-single6c", variant: .single6c),
        an8(name: "vgg-an8flower-double12c", variant: .double12c),
        // shapes-loc at 64x64: train seed 0, validation = train split of seed 1 (disjoint).
        TrainRecipe(name: "resnet-shapes", epochs: 12, batchSize: 32, learningRate: 2e-3, optimizer: "adam", schedule: "cosine",
                    build: { try ModelZoo.smallResNet(classes: 8, inputSize: 64, seed: $0) },
                    data: { n in
                        (try ShapesLocDataset(split: "train", size: 64, count: n ?? 4000, seed: 0),
                         try ShapesLocDataset(split: "train", size: 64, count: 400, seed: 1),
                         try ShapesLocDataset(split: "test", size: 64, count: 800, seed: 0))
                    }),
    ] }

    /// an8flower at 64x64: train seed 0, validation = train split of seed 1, test split seed 0.
    static func an8(name: String, variant: An8FlowerDataset.Variant) -> TrainRecipe {
        TrainRecipe(name: name, epochs: 12, batchSize: 32, learningRate: 2e-3, optimizer: "adam", schedule: "cosine",
                    build: { try ModelZoo.vggStyle(classes: variant == .single6c ? 6 : 12, inputSize: 64, seed: $0) },
                    data: { n in
                        (try An8FlowerDataset(variant: variant, split: "train", size: 64, count: n ?? 3000, seed: 0),
                         try An8FlowerDataset(variant: variant, split: "train", size: 64, count: 400, seed: 1),
                         try An8FlowerDataset(variant: variant, split: "test", size: 64, count: 400, seed: 0))
                    })
    }
}
