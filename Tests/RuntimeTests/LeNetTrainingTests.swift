import Foundation
import Testing
@testable import Runtime

@Suite("LeNet learns Fashion-MNIST")
struct LeNetTrainingTests {
    /// LeNet-sized network built from Layer modules (conv-BN-ReLU-pool x2, fc-ReLU-fc), one
    /// epoch of SGD with Nesterov momentum on 2,000 training images, evaluated on 1,000 test
    /// images. Chance is 10%; one epoch on this little data reaches ~70-80%.
    @Test func oneEpochOn2000ImagesIsFarAboveChance() throws {
        let train = try loadFashionMNIST(train: true, limit: 2_000)
        let test = try loadFashionMNIST(train: false, limit: 1_000)
        var rng = RandomGenerator(seed: 7)
        let net = Sequential([
            Conv2d(inChannels: 1, outChannels: 8, kernel: 5, padding: 2, rng: &rng), BatchNorm2d(channels: 8), ReLU(), MaxPool2d(kernel: 2),
            Conv2d(inChannels: 8, outChannels: 16, kernel: 5, rng: &rng), BatchNorm2d(channels: 16), ReLU(), MaxPool2d(kernel: 2),
            Flatten(), Linear(inFeatures: 16 * 5 * 5, outFeatures: 64, rng: &rng), ReLU(), Linear(inFeatures: 64, outFeatures: 10, rng: &rng),
        ])
        let opt = SGD(parameters: net.parameters, lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4)
        let batch = 32
        var order = Array(0..<2_000)
        order.shuffle(using: &rng)
        net.train()
        var firstLoss: Float = 0, lastLoss: Float = 0
        for (step, start) in stride(from: 0, to: order.count, by: batch).enumerated() {
            let idx = Array(order[start..<min(start + batch, order.count)])
            let x = Tensor.concat(idx.map { train.images.select(axis: 0, $0) }, axis: 0)
            let loss = Tensor.crossEntropy(logits: net(x), labels: idx.map { train.labels[$0] })
            opt.zeroGrad()
            loss.backward()
            opt.step()
            if step == 0 { firstLoss = loss.item }
            lastLoss = loss.item
        }
        net.eval()
        let predictions = Autograd.noGrad { net(test.images) }.argmax(axis: 1)
        let accuracy = Double(zip(predictions, test.labels).filter { $0 == $1 }.count) / Double(test.labels.count)
        print("LeNet, one epoch on 2,000 Fashion-MNIST images: test accuracy \(accuracy) on 1,000 images, loss \(firstLoss) -> \(lastLoss)")
        #expect(lastLoss < firstLoss)
        #expect(accuracy > 0.6, "test accuracy \(accuracy)")
        // Running statistics moved away from their initial values during training.
        let bn = net[1] as! BatchNorm2d
        #expect(bn.runningMean.value.abs().sum().item > 0)
    }
}
