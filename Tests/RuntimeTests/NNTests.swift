import Foundation
import Testing
@testable import Runtime

/// Softmax cross-entropy, mean over the batch (local to these tests until Ops/Loss.swift lands).
private func crossEntropy(_ logits: Tensor, _ labels: [Int]) -> Tensor {
    let classes = logits.shape[1]
    var onehot = [Float](repeating: 0, count: labels.count * classes)
    for (i, y) in labels.enumerated() { onehot[i * classes + y] = 1 }
    let t = Tensor(shape: logits.shape, data: onehot)
    return -(logits.logSoftmax(axis: 1) * t).sum() / Float(labels.count)
}

/// A layer with a buffer, standing in for BatchNorm's running statistics.
private final class Scale: Layer {
    let gain = Parameter(name: "gain", value: Tensor(shape: [2], data: [1, 2]))
    let runningMean = Buffer(name: "running_mean", value: Tensor(shape: [2], data: [0.5, -0.5]))
    var isTraining = true
    var ownParameters: [Parameter] { [gain] }
    var ownBuffers: [Buffer] { [runningMean] }
    func callAsFunction(_ x: Tensor) -> Tensor { x * gain.value }
}

private func expectClose(_ t: Tensor, _ expected: [Double], tol: Double = 1e-5,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(t.count == expected.count, sourceLocation: sourceLocation)
    for (a, b) in zip(t.scalars, expected) {
        #expect(Swift.abs(Double(a) - b) <= tol * Swift.max(1, Swift.abs(b)), "\(t.scalars) vs \(expected)",
                sourceLocation: sourceLocation)
    }
}

private func temporaryURL(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("nntests-\(UUID().uuidString)-\(name)")
}

@Suite("Modules and optimizers")
struct NNTests {
    /// Two optimizer steps on loss = sum(p * p) (gradient 2p) from p = [1, -2].
    private func twoSteps(_ make: ([Parameter]) -> any Optimizer,
                          loss: (Tensor) -> Tensor = { ($0 * $0).sum() }) -> [Tensor] {
        let p = Parameter(name: "p", value: Tensor(shape: [2], data: [1, -2]))
        let opt = make([p])
        var values: [Tensor] = []
        for _ in 0..<2 {
            opt.zeroGrad()
            loss(p.value).backward()
            opt.step()
            values.append(p.value.detached())
        }
        return values
    }

    @Test func sgdWithMomentum() {
        // buf1 = g1 = [2, -4]; p1 = [0.8, -1.6]; g2 = [1.6, -3.2];
        // buf2 = 0.9 buf1 + g2 = [3.4, -6.8]; p2 = p1 - 0.1 buf2 = [0.46, -0.92].
        let v = twoSteps { SGD(parameters: $0, lr: 0.1, momentum: 0.9) }
        expectClose(v[0], [0.8, -1.6])
        expectClose(v[1], [0.46, -0.92])
    }

    @Test func sgdPlainAndWeightDecay() {
        // g = 2p + 0.5p = 2.5p; p <- p - 0.1 * 2.5p = 0.75p.
        let v = twoSteps { SGD(parameters: $0, lr: 0.1, weightDecay: 0.5) }
        expectClose(v[0], [0.75, -1.5])
        expectClose(v[1], [0.5625, -1.125])
    }

    @Test func sgdNesterovWithWeightDecay() {
        // g1 = 2.1 p0 = [2.1, -4.2]; buf1 = g1; d1 = g1 + 0.9 buf1 = [3.99, -7.98];
        // p1 = p0 - 0.1 d1 = [0.601, -1.202]; g2 = 2.1 p1 = [1.2621, -2.5242];
        // buf2 = 0.9 buf1 + g2 = [3.1521, -6.3042]; d2 = g2 + 0.9 buf2 = [4.09899, -8.19798];
        // p2 = p1 - 0.1 d2 = [0.191101, -0.382202].
        let v = twoSteps { SGD(parameters: $0, lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1) }
        expectClose(v[0], [0.601, -1.202])
        expectClose(v[1], [0.191101, -0.382202])
    }

    @Test func adamSteps() {
        // Step 1: m = 0.1 g, v = 0.001 g^2, bias-corrected m/sqrt(v) = sign(g): p moves by lr.
        // Step 2: g = [1.8, -3.8]; m = [0.36, -0.74]; v = [0.007236, 0.030424];
        // p2 = p1 - (0.1 / 0.19) * m / (sqrt(v) / sqrt(0.001999) + 1e-8).
        let v = twoSteps { Adam(parameters: $0, lr: 0.1) }
        expectClose(v[0], [0.9, -1.9])
        let step: (Double, Double) -> Double = { m, vv in (0.1 / 0.19) * m / (vv.squareRoot() / 0.001999.squareRoot() + 1e-8) }
        let expected = [0.9 - step(0.36, 0.007236), -1.9 - step(-0.74, 0.030424)]
        expectClose(v[1], expected)
        expectClose(v[1], [0.8004122286917927, -1.800166486115701])
    }

    @Test func adamWithWeightDecay() {
        // loss = 3 p0 - p1 (constant gradient c = [3, -1]); g = c + 0.5 p.
        // Step 1: g = [3.5, -2]; p1 = p0 - 0.1 sign(g) = [0.9, -1.9].
        // Step 2: g = [3.45, -1.95]; m = [0.9*0.35 + 0.345, 0.9*(-0.2) - 0.195];
        // v = [0.999*0.01225 + 0.001*3.45^2, 0.999*0.004 + 0.001*1.95^2].
        let c = Tensor(shape: [2], data: [3, -1])
        let v = twoSteps({ Adam(parameters: $0, lr: 0.1, weightDecay: 0.5) }, loss: { ($0 * c).sum() })
        expectClose(v[0], [0.9, -1.9])
        let m: [Double] = [0.9 * 0.35 + 0.345, 0.9 * -0.2 - 0.195]
        let vv: [Double] = [0.999 * 0.01225 + 0.001 * 3.45 * 3.45, 0.999 * 0.004 + 0.001 * 1.95 * 1.95]
        let p1: [Double] = [0.9, -1.9]
        let stepSize: Double = 0.1 / 0.19, bc2Sqrt: Double = 0.001999.squareRoot()
        let expected: [Double] = (0..<2).map { i in p1[i] - stepSize * m[i] / (vv[i].squareRoot() / bc2Sqrt + 1e-8) }
        expectClose(v[1], expected)
        expectClose(v[1], [0.8000400920660877, -1.8000739958343985])
    }

    @Test func optimizersSkipFrozenAndGradlessParameters() {
        let a = Parameter(name: "a", value: Tensor(shape: [2], data: [1, 1]))
        let b = Parameter(name: "b", value: Tensor(shape: [2], data: [1, 1]))
        let frozen = Parameter(name: "f", value: Tensor(shape: [2], data: [1, 1]), frozen: true)
        for opt in [SGD(parameters: [a, b, frozen], lr: 0.5, momentum: 0.9, weightDecay: 0.1) as any Optimizer,
                    Adam(parameters: [a, b, frozen], lr: 0.5, weightDecay: 0.1)] {
            opt.zeroGrad()
            (a.value * frozen.value).sum().backward()   // b gets no gradient, frozen none
            #expect(b.grad == nil && frozen.grad == nil)
            opt.step()
            #expect(a.value.scalars != [1, 1])
            #expect(b.value.scalars == [1, 1])
            #expect(frozen.value.scalars == [1, 1])
        }
        // The updated parameter is still the same autograd leaf.
        let node = a.value.node
        (a.value.sum()).backward()
        #expect(node != nil && a.value.node === node && a.grad != nil)
    }

    @Test func learningRateSetting() {
        let p = Parameter(name: "p", value: Tensor(shape: [1], data: [1]))
        let opt = SGD(parameters: [p], lr: 0.1)
        StepLR(base: 1, stepSize: 2, gamma: 0.5).apply(to: opt, epoch: 5)
        #expect(opt.learningRate == 0.25)
        opt.zeroGrad(); (p.value * 4).sum().backward(); opt.step()
        #expect(p.value.scalars == [0])
    }

    @Test func schedules() {
        let step = StepLR(base: 0.1, stepSize: 3, gamma: 0.5)
        #expect([0, 2, 3, 5, 6, 9].map { step.learningRate(epoch: $0) } == [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125])
        let cosine = CosineLR(base: 0.1, totalEpochs: 10, minLR: 0.01)
        #expect(Swift.abs(cosine.learningRate(epoch: 0) - 0.1) < 1e-7)
        #expect(Swift.abs(cosine.learningRate(epoch: 5) - 0.055) < 1e-7)
        #expect(Swift.abs(cosine.learningRate(epoch: 10) - 0.01) < 1e-7)
        #expect(Swift.abs(cosine.learningRate(epoch: 3) - 0.08145033635316129) < 1e-6)
        let plain = CosineLR(base: 1, totalEpochs: 4)
        #expect(Swift.abs(plain.learningRate(epoch: 1) - Float((1 + cos(Double.pi / 4)) / 2)) < 1e-6)
        #expect(Swift.abs(plain.learningRate(epoch: 4)) < 1e-7)
    }

    @Test func linearInitAndForward() {
        var rng = RandomGenerator(seed: 1)
        let fc = Linear(inFeatures: 16, outFeatures: 4, rng: &rng)
        #expect(fc.weight.shape == [4, 16] && fc.bias?.shape == [4])
        let bound: Float = 0.25
        #expect(fc.weight.value.scalars.allSatisfy { Swift.abs($0) <= bound })
        #expect(fc.bias!.value.scalars.allSatisfy { Swift.abs($0) <= bound })
        #expect(fc.weight.value.scalars.max()! > 0.15 && fc.weight.value.scalars.min()! < -0.15)

        let l = Linear(weight: Tensor(shape: [2, 3], data: [1, 0, -1, 2, 1, 0]), bias: Tensor(shape: [2], data: [0.5, -1]))
        let y = l(Tensor(shape: [1, 3], data: [1, 2, 3]))
        #expect(y.shape == [1, 2] && y.scalars == [-1.5, 3])
        let y3 = l(Tensor(shape: [2, 1, 3], data: [1, 2, 3, 0, 0, 0]))
        #expect(y3.shape == [2, 1, 2] && y3.scalars == [-1.5, 3, 0.5, -1])
        #expect(Linear(inFeatures: 3, outFeatures: 2, bias: false, rng: &rng).ownParameters.count == 1)
    }

    @Test func namesModesAndZeroGrad() {
        var rng = RandomGenerator(seed: 2)
        let inner = Sequential([Linear(inFeatures: 3, outFeatures: 3, rng: &rng), ReLU()])
        let model = Sequential([Flatten(), inner, Linear(inFeatures: 3, outFeatures: 2, bias: false, rng: &rng), Scale()])
        #expect(model.namedParameters.map { $0.0 } == ["1.0.weight", "1.0.bias", "2.weight", "3.gain"])
        #expect(model.namedBuffers.map { $0.0 } == ["3.running_mean"])
        #expect(model.parameterCount == 9 + 3 + 6 + 2)
        model.eval()
        #expect(!model.isTraining && !inner.isTraining && !inner[1].isTraining)
        model.train()
        #expect(model.isTraining && inner[0].isTraining)

        let y = model(Tensor.ones([4, 3, 1]))
        #expect(y.shape == [4, 2])
        y.sum().backward()
        #expect(model.parameters.allSatisfy { $0.grad != nil })
        model.zeroGrad()
        #expect(model.parameters.allSatisfy { $0.grad == nil })
    }

    @Test func freezeAndUnfreeze() {
        var rng = RandomGenerator(seed: 3)
        let first = Linear(inFeatures: 4, outFeatures: 3, rng: &rng)
        let model = Sequential([first, ReLU(), Linear(inFeatures: 3, outFeatures: 2, rng: &rng)])
        first.freeze()
        #expect(first.parameters.allSatisfy { $0.isFrozen && !$0.value.requiresGrad })
        #expect(model.trainableParameters.count == 2)
        let x = Tensor.ones([2, 4]).requiringGrad()
        model(x).sum().backward()
        #expect(first.weight.grad == nil && first.bias?.grad == nil)
        #expect(model.parameters[2].grad != nil)
        #expect(x.grad != nil)   // gradients still flow through frozen layers to the input

        let before = first.weight.value.scalars
        first.unfreeze()
        #expect(first.weight.value.requiresGrad && first.weight.grad == nil)
        #expect(first.weight.value.scalars == before)
        model(x).sum().backward()
        #expect(first.weight.grad != nil)
        model.freeze()
        #expect(model.trainableParameters.isEmpty)
        #expect(!model(x).sum().requiresGrad || x.requiresGrad)
    }

    @Test func saveLoadRoundTrip() throws {
        var rng = RandomGenerator(seed: 4)
        func makeModel() -> Sequential {
            Sequential([Linear(inFeatures: 5, outFeatures: 4, rng: &rng), ReLU(), Linear(inFeatures: 4, outFeatures: 2, rng: &rng), Scale()])
        }
        let a = makeModel(), b = makeModel()
        (a[3] as! Scale).runningMean.value = Tensor(shape: [2], data: [7, 8])
        let url = temporaryURL("roundtrip.params")
        defer { try? FileManager.default.removeItem(at: url) }
        try saveParameters(a, to: url)
        // Only the final file is left behind (the temporary was renamed).
        let siblings = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
        #expect(!siblings.contains { $0.contains(url.lastPathComponent + ".tmp") })

        let leaf = b.parameters[0].value.node
        let opt = Adam(parameters: b.parameters)
        try loadParameters(into: b, from: url)
        for ((na, pa), (nb, pb)) in zip(a.namedParameters, b.namedParameters) {
            #expect(na == nb && pa.value.scalars == pb.value.scalars)
        }
        #expect((b[3] as! Scale).runningMean.value.scalars == [7, 8])
        #expect(b.parameters[0].value.node === leaf)
        let x = Tensor.ones([1, 5])
        #expect(a(x).scalars == b(x).scalars)
        // The loaded model still trains with an optimizer created before loading.
        opt.zeroGrad(); b(x).sum().backward(); opt.step()
        #expect(b(x).scalars != a(x).scalars)

        let tensors = try loadTensors(from: url)
        #expect(tensors.map { $0.0 } == ["0.weight", "0.bias", "2.weight", "2.bias", "3.gain", "3.running_mean"])
        #expect(tensors[0].1.shape == [4, 5])
    }

    @Test func mismatchedLoadThrows() throws {
        var rng = RandomGenerator(seed: 5)
        let small = Sequential([Linear(inFeatures: 5, outFeatures: 4, rng: &rng)])
        let url = temporaryURL("mismatch.params")
        defer { try? FileManager.default.removeItem(at: url) }
        try saveParameters(small, to: url)

        let wrongShape = Sequential([Linear(inFeatures: 6, outFeatures: 4, rng: &rng)])
        let before = wrongShape.parameters.map { $0.value.scalars }
        let e1 = #expect(throws: IOError.self) { try loadParameters(into: wrongShape, from: url) }
        #expect(e1?.path == url.path)
        #expect(e1?.message.contains("'0.weight' has shape [4, 5] in the file, [4, 6] in the model") == true)
        #expect(wrongShape.parameters.map { $0.value.scalars } == before)   // nothing half-loaded

        let extra = Sequential([Linear(inFeatures: 5, outFeatures: 4, rng: &rng), Scale()])
        let e2 = #expect(throws: IOError.self) { try loadParameters(into: extra, from: url) }
        #expect(e2?.message.contains("missing '1.gain' [2]") == true)
        #expect(e2?.message.contains("missing '1.running_mean' [2]") == true)
        #expect(e2?.description.hasPrefix(url.path + ": ") == true)

        let noBias = Sequential([Linear(inFeatures: 5, outFeatures: 4, bias: false, rng: &rng)])
        let e3 = #expect(throws: IOError.self) { try loadParameters(into: noBias, from: url) }
        #expect(e3?.message.contains("unexpected '0.bias' [4]") == true)

        // Truncated and foreign files.
        let bytes = try Data(contentsOf: url)
        let cut = temporaryURL("cut.params")
        defer { try? FileManager.default.removeItem(at: cut) }
        for n in [0, 5, 12, 20, 40, bytes.count - 1] {
            try bytes.prefix(n).write(to: cut)
            #expect(throws: IOError.self) { try loadParameters(into: small, from: cut) }
        }
        try (bytes + [0]).write(to: cut)
        #expect(throws: IOError.self) { try loadParameters(into: small, from: cut) }
        #expect(throws: IOError.self) { try loadParameters(into: small, from: temporaryURL("absent.params")) }
    }

    @Test func mlpLearnsFashionMNIST() throws {
        let (trainX, trainY) = try loadFashionMNIST(train: true, limit: 2000)
        let (testX, testY) = try loadFashionMNIST(train: false, limit: 1000)
        var rng = RandomGenerator(seed: 42)
        let model = Sequential([Flatten(), Linear(inFeatures: 784, outFeatures: 128, rng: &rng), ReLU(),
                                Linear(inFeatures: 128, outFeatures: 10, rng: &rng)])
        let opt = Adam(parameters: model.parameters, lr: 3e-3)
        var order = Array(0..<2000)
        order.shuffle(using: &rng)
        let flatX = trainX.reshaped([2000, 784])
        model.train()
        var firstLoss: Float = 0, lastLoss: Float = 0
        for (b, start) in stride(from: 0, to: 2000, by: 64).enumerated() {
            let idx = Array(order[start..<Swift.min(start + 64, 2000)])
            let batch = Tensor(shape: [idx.count, 784]) { dst in
                flatX.withUnsafeBufferPointer { src in
                    for (r, i) in idx.enumerated() {
                        for j in 0..<784 { dst[r * 784 + j] = src[i * 784 + j] }
                    }
                }
            }
            opt.zeroGrad()
            let loss = crossEntropy(model(batch), idx.map { trainY[$0] })
            loss.backward()
            opt.step()
            if b == 0 { firstLoss = loss.item }
            lastLoss = loss.item
        }
        model.eval()
        let predictions = Autograd.noGrad { model(testX) }.argmax(axis: 1)
        let accuracy = Double(zip(predictions, testY).filter { $0 == $1 }.count) / Double(testY.count)
        #expect(lastLoss < firstLoss)
        #expect(accuracy > 0.6, "test accuracy \(accuracy)")
    }
}
