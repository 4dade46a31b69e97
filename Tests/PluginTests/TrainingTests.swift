import Foundation
import Testing
@testable import Plugins
import Runtime

/// 8x8 gray images: a bright bar on the left half (class 0) or the right half (class 1), at a
/// random row, over noise. `flip` swaps the labels (to make validation disagree with training).
struct BarsDataset: Dataset {
    var count: Int
    var seed: UInt64
    var flip = false
    var name: String { "bars" }
    var classNames: [String] { ["left", "right"] }
    func example(_ index: Int) throws -> Example {
        var rng = RandomGenerator(seed: seed &* 1000 &+ UInt64(index))
        let label = index % 2
        let row = Int(rng.next() % 6) + 1
        let image = Tensor(shape: [1, 8, 8]) { b in
            for i in 0..<64 { b[i] = rng.nextUniform() * 0.3 }
            for x in 0..<4 { b[row * 8 + x + (label == 0 ? 0 : 4)] = 1 }
        }
        return Example(image: image, label: flip ? 1 - label : label)
    }
}

@Suite struct TrainingTests {
    func tinyNet(seed: UInt64 = 1) throws -> Graph {
        let b = GraphBuilder(name: "tiny", inputShape: [1, 8, 8], seed: seed)
        try b.conv(name: "conv", out: 4, kernel: 3, padding: 1, bias: false)
        try b.batchNorm(name: "bn")
        try b.relu(name: "relu")
        try b.maxPool(name: "pool", kernel: 2)
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: 2)
        return try b.build()
    }

    @Test func tinyNetLearnsBarsAndUpdatesBatchNormStatistics() throws {
        let g = try tinyNet()
        #expect(trainableWeightNames(g) == ["conv.weight", "bn.weight", "bn.bias", "fc.weight", "fc.bias"])
        let before = try accuracy(g, on: BarsDataset(count: 200, seed: 9))
        var seen: [Int] = []
        let report = try train(g, on: BarsDataset(count: 256, seed: 1), validation: BarsDataset(count: 200, seed: 9),
                               epochs: 4, batchSize: 16, learningRate: 0.01, optimizer: "adam", schedule: "cosine", seed: 3) { seen.append($0.epoch) }
        #expect(seen == [0, 1, 2, 3])
        #expect(report.epochs.count == 4 && report.seconds > 0)
        #expect(report.epochs.last!.loss < report.epochs.first!.loss)
        let after = try accuracy(g, on: BarsDataset(count: 200, seed: 9))
        #expect(after >= 0.95, "accuracy \(before) -> \(after)")
        // Running statistics moved away from their initial 0 / 1 and are no gradient leaves.
        #expect(g.weight("bn.running_mean")!.scalars.contains { Swift.abs($0) > 1e-3 })
        #expect(g.weight("bn.running_var")!.scalars.contains { Swift.abs($0 - 1) > 1e-3 })
        #expect(g.trainable.isEmpty)  // frozen again after training
    }

    @Test func sgdWithNesterovAndStepScheduleTrainsToo() throws {
        let g = try tinyNet(seed: 2)
        let report = try train(g, on: BarsDataset(count: 128, seed: 4), epochs: 3, batchSize: 8, learningRate: 0.05,
                               optimizer: "sgd", momentum: 0.9, nesterov: true, weightDecay: 1e-4, schedule: "step", seed: 1,
                               augment: Augmentation(maxShift: 0))
        #expect(report.bestAccuracy == nil && report.bestEpoch == 2)
        let rates = report.epochs.map(\.learningRate)
        #expect(zip(rates, [0.05, 0.005, 0.0005]).allSatisfy { Swift.abs($0 - $1) < 1e-6 }, "\(rates)")
        #expect(try accuracy(g, on: BarsDataset(count: 100, seed: 5)) > 0.9)
    }

    @Test func bestWeightsAreKept() throws {
        // Validation labels are the opposite of training labels: the better the net learns,
        // the worse validation gets, so the best epoch is an early one and its weights must
        // come back at the end.
        let g = try tinyNet(seed: 5)
        let validation = BarsDataset(count: 100, seed: 7, flip: true)
        // The weights as each epoch left them, copied by the test (not by the trainer).
        var snapshots: [[String: [Float]]] = []
        let report = try train(g, on: BarsDataset(count: 256, seed: 6), validation: validation, epochs: 4, batchSize: 16,
                               learningRate: 0.003, optimizer: "sgd", momentum: 0.5, seed: 2) { _ in
            snapshots.append(g.weights.mapValues(\.scalars))
        }
        let accs = report.epochs.map { $0.validationAccuracy! }
        #expect(report.bestAccuracy == accs.max())
        #expect(report.bestEpoch == accs.firstIndex(of: accs.max()!)!)
        #expect(report.bestEpoch < 3, "validation accuracies \(accs)")
        // Restoring copies the kept weights back: equal bit for bit by construction.
        try #require(snapshots.count == 4)
        #expect(g.weights.mapValues(\.scalars) == snapshots[report.bestEpoch])
        #expect(g.weights.mapValues(\.scalars) != snapshots[3])
    }

    @Test func badArgumentsAreErrors() throws {
        let g = try tinyNet()
        let ds = BarsDataset(count: 8, seed: 1)
        #expect(throws: PluginError.self) { try train(g, on: ds, epochs: 1, optimizer: "rmsprop") }
        #expect(throws: PluginError.self) { try train(g, on: ds, epochs: 0) }
        #expect(throws: PluginError.self) { try train(g, on: ds, epochs: 1, schedule: "linear") }
        let rgb = try An8FlowerDataset(size: 16, count: 4)
        do { _ = try train(g, on: rgb, epochs: 1); Issue.record("expected a shape error") } catch let e as PluginError {
            #expect(e.description.contains("takes input"))
        }
        let cancel = CancellationToken(); cancel.cancel()
        #expect(throws: PluginError.cancelled) { try train(g, on: ds, epochs: 1, cancellation: cancel) }
    }

    @Test func modelZooBuildsRunnableNets() throws {
        let vgg = try ModelZoo.vggStyle(classes: 6, inputSize: 32)
        #expect(vgg.nodes.filter { $0.opType == "Conv" }.count == 6)
        #expect(vgg.nodes.filter { $0.opType == "BatchNormalization" }.count == 6)
        #expect(vgg.nodes.filter { $0.opType == "Gemm" }.count == 2)
        #expect(try vgg(Tensor.zeros([2, 3, 32, 32])).shape == [2, 6])
        let res = try ModelZoo.smallResNet(classes: 8, inputSize: 32)
        #expect(res.nodes.filter { $0.opType == "Add" }.count == 3)
        #expect(try res(Tensor.zeros([1, 3, 32, 32])).shape == [1, 8])
        let lenet = try ModelZoo.lenet5NICE()
        #expect(lenet.nodes.map(\.opType) == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm"])
        #expect(lenet.weight("fc1.weight")!.shape == [500, 800])
    }
}
