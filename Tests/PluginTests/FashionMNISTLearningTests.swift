import Foundation
import Testing
@testable import Plugins
import Runtime

/// Graphs learn Fashion-MNIST through the classification trainer in one epoch on 2,000
/// images (Debian's copy in /usr/share/datasets/fashion-mnist; a missing copy fails).
/// Chance is 10% and the loss of a uniform guess ln 10 = 2.30.
@Suite struct FashionMNISTLearningTests {
    func data() throws -> (train: FashionMNISTDataset, test: FashionMNISTDataset) {
        (try FashionMNISTDataset(split: "train", limit: 2_000), try FashionMNISTDataset(split: "test", limit: 1_000))
    }

    /// LeNet-sized: conv-BN-ReLU-pool twice, fc-ReLU-fc; SGD with Nesterov momentum and
    /// weight decay. One epoch reaches ~75% on 1,000 test images. (At lr 0.05 the weights
    /// still move so fast at the end of the one epoch that the running statistics, an average
    /// over the last ten batches or so, lag behind them: 69% in training mode, 39% in
    /// inference.)
    @Test func lenetWithBatchNormLearnsInOneEpoch() throws {
        let (trainSet, testSet) = try data()
        let b = GraphBuilder(name: "lenet-bn", inputShape: [1, 28, 28], seed: 7)
        try b.conv(name: "conv1", out: 8, kernel: 5, padding: 2)
        try b.batchNorm(name: "bn1")
        try b.relu(name: "relu1")
        try b.maxPool(name: "pool1", kernel: 2)
        try b.conv(name: "conv2", out: 16, kernel: 5)
        try b.batchNorm(name: "bn2")
        try b.relu(name: "relu2")
        try b.maxPool(name: "pool2", kernel: 2)
        try b.flatten(name: "flatten")
        try b.linear(name: "fc1", out: 64)
        try b.relu(name: "relu3")
        try b.linear(name: "fc2", out: 10)
        let g = try b.build()
        let report = try train(g, on: trainSet, epochs: 1, batchSize: 32, learningRate: 0.01, optimizer: "sgd",
                               momentum: 0.9, nesterov: true, weightDecay: 1e-4, seed: 7)
        let acc = try accuracy(g, on: testSet)
        print("LeNet-BN, one epoch on 2,000 Fashion-MNIST images: test accuracy \(acc), loss \(report.epochs[0].loss)")
        #expect(report.epochs[0].loss < 2.30)
        #expect(acc > 0.6, "test accuracy \(acc)")
        // Running statistics moved away from their initial zeros during training.
        #expect(g.weight("bn1.running_mean")!.abs().sum().item > 0)
    }

    /// A two-layer perceptron with Adam.
    @Test func mlpLearnsInOneEpoch() throws {
        let (trainSet, testSet) = try data()
        let b = GraphBuilder(name: "mlp", inputShape: [1, 28, 28], seed: 42)
        try b.flatten(name: "flatten")
        try b.linear(name: "fc1", out: 128)
        try b.relu(name: "relu")
        try b.linear(name: "fc2", out: 10)
        let g = try b.build()
        let report = try train(g, on: trainSet, epochs: 1, batchSize: 64, learningRate: 3e-3, optimizer: "adam", seed: 42)
        let acc = try accuracy(g, on: testSet)
        #expect(report.epochs[0].loss < 2.30)
        #expect(acc > 0.6, "test accuracy \(acc)")
    }
}
