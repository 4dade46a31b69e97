import Foundation
import Testing
@testable import Runtime

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

@Suite("Optimizers, schedules and weight files")
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
        // MultiStepLR: x0.5 once the epoch reaches each milestone (unsorted input, 5 twice).
        let multi = MultiStepLR(base: 0.8, milestones: [5, 2, 5], gamma: 0.5)
        #expect([0, 1, 2, 4, 5, 9].map { multi.learningRate(epoch: $0) } == [0.8, 0.8, 0.4, 0.4, 0.1, 0.1])
        let plain = CosineLR(base: 1, totalEpochs: 4)
        #expect(Swift.abs(plain.learningRate(epoch: 1) - Float((1 + cos(Double.pi / 4)) / 2)) < 1e-6)
        #expect(Swift.abs(plain.learningRate(epoch: 4)) < 1e-7)
    }

    /// Optimizer state round trip: a second optimizer restored from the first's state
    /// continues with the same bytes (what training checkpoints rely on).
    @Test(arguments: ["sgd", "adam"]) func optimizerStateContinuesExactly(_ kind: String) throws {
        func make(_ p: [Parameter]) -> any Optimizer {
            kind == "sgd" ? SGD(parameters: p, lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01) : Adam(parameters: p, lr: 0.1, weightDecay: 0.01)
        }
        func steps(_ opt: any Optimizer, _ ps: [Parameter], _ n: Int) {
            for _ in 0..<n {
                opt.zeroGrad()
                (ps[0].value * ps[0].value * 3).sum().backward()   // ps[1] gets no gradient: no state
                opt.step()
            }
        }
        let a = [Parameter(name: "a", value: Tensor(shape: [3], data: [1, -2, 0.5])), Parameter(name: "b", value: Tensor(shape: [2], data: [1, 1]))]
        let optA = make(a)
        steps(optA, a, 2)
        let saved = optA.state
        #expect(saved.tensors.keys.allSatisfy { $0.hasPrefix("0.") })
        let b = [Parameter(name: "a", value: a[0].value.detached()), Parameter(name: "b", value: a[1].value.detached())]
        let optB = make(b)
        try optB.restore(saved)
        #expect(optB.state == saved)
        steps(optA, a, 3)
        steps(optB, b, 3)
        // Same code, same inputs, one process: the bytes agree by construction.
        #expect(a[0].value.scalars == b[0].value.scalars)
        // A state that does not fit is refused and changes nothing.
        let small = [Parameter(name: "a", value: Tensor(shape: [2], data: [1, 1]))]
        let optC = make(small)
        #expect(throws: OptimizerStateError.self) { try optC.restore(saved) }
        #expect(optC.state == OptimizerState())
        var foreign = saved
        foreign.tensors["0.velocity"] = Tensor.zeros([3])
        #expect(throws: OptimizerStateError.self) { try optB.restore(foreign) }
    }

    /// A graph with a batch-norm layer between two fully connected layers: [N, 3, 1, 1] ->
    /// flatten -> fc1 (4) -> relu -> fc2 (2, no bias), and bn before the flatten.
    private func smallGraph(seed: UInt64, inFeatures: Int = 3, fc2Bias: Bool = false) throws -> Graph {
        let b = GraphBuilder(name: "small", inputShape: [inFeatures, 1, 1], seed: seed)
        try b.batchNorm(name: "bn")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc1", out: 4)
        try b.relu(name: "relu")
        try b.linear(name: "fc2", out: 2, bias: fc2Bias)
        return try b.build()
    }

    @Test func linearInitAndForward() throws {
        let b = GraphBuilder(name: "fc", inputShape: [400], seed: 1)
        try b.linear(name: "fc", out: 300)
        let g = try b.build()
        #expect(g.weight("fc.weight")!.shape == [300, 400] && g.weight("fc.bias")!.scalars == [Float](repeating: 0, count: 300))
        // He-normal: std sqrt(2 / fan_in) = 0.0707; 120,000 draws put the sample std within 1%.
        let w = g.weight("fc.weight")!.scalars.map(Double.init)
        let mean = w.reduce(0, +) / Double(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(w.count)).squareRoot()
        #expect(Swift.abs(mean) < 1e-3 && Swift.abs(std / (2.0 / 400).squareRoot() - 1) < 0.01, "mean \(mean), std \(std)")

        let small = GraphBuilder(name: "fc", inputShape: [3])
        try small.linear(name: "fc", out: 2)
        let l = try small.build()
        try l.setWeight("fc.weight", Tensor(shape: [2, 3], data: [1, 0, -1, 2, 1, 0]))
        try l.setWeight("fc.bias", Tensor(shape: [2], data: [0.5, -1]))
        // Small integers and halves: every product and sum is exact in float32.
        let y = try l(Tensor(shape: [2, 3], data: [1, 2, 3, 0, 0, 0]))
        #expect(y.shape == [2, 2] && y.scalars == [-1.5, 3, 0.5, -1])
        let noBias = GraphBuilder(name: "fc", inputShape: [3])
        try noBias.linear(name: "fc", out: 2, bias: false)
        #expect(try noBias.build().weights.keys.sorted() == ["fc.weight"])
    }

    @Test func namesModesAndZeroGrad() throws {
        let g = try smallGraph(seed: 2)
        #expect(g.weights.keys.sorted() == ["bn.bias", "bn.running_mean", "bn.running_var", "bn.weight", "fc1.bias", "fc1.weight", "fc2.weight"])
        // The builder marks learnable weights trainable, never the running statistics.
        #expect(g.trainable == ["bn.bias", "bn.weight", "fc1.bias", "fc1.weight", "fc2.weight"])
        let count: Int = g.weights.values.reduce(0) { $0 + $1.count }
        #expect(count == 12 + 16 + 8)   // bn: 4 x 3, fc1: 12 + 4, fc2: 8
        let x = randomTensor([4, 3, 1, 1], seed: 3)
        // Inference normalises with the running statistics (0 and 1): bn is the identity at
        // initialisation; training mode uses batch statistics and reports new running ones.
        let inference = try g.forward(x, options: ForwardOptions(capture: ["bn"]))
        expectClose(inference.captured["bn"]!, x, tol: 1e-4)
        #expect(inference.updatedBuffers.isEmpty)
        let training = try g.forward(x, options: ForwardOptions(capture: ["bn"], training: true))
        #expect(Set(training.updatedBuffers.keys) == ["bn.running_mean", "bn.running_var"])
        let normalised = training.captured["bn"]!.detached()
        expectClose(normalised.mean(axes: [0, 2, 3]), Tensor.zeros([3]), tol: 1e-5)

        training.output.sum().backward()
        #expect(g.trainableParameters.allSatisfy { $0.grad != nil })
        for p in g.trainableParameters { p.zeroGrad() }
        #expect(g.trainableParameters.allSatisfy { $0.grad == nil })
    }

    @Test func freezeAndUnfreeze() throws {
        let g = try smallGraph(seed: 3)
        g.setTrainable(["fc2.weight"])
        #expect(g.parameters["fc1.weight"]!.isFrozen && !g.weight("fc1.weight")!.requiresGrad)
        #expect(g.trainableParameters.map(\.name) == ["fc2.weight"])
        let x = Tensor.ones([2, 3, 1, 1]).requiringGrad()
        try g(x).sum().backward()
        #expect(g.parameters["fc1.weight"]!.grad == nil && g.parameters["fc2.weight"]!.grad != nil)
        #expect(x.grad != nil)   // gradients still flow through frozen weights to the input

        let before = g.weight("fc1.weight")!.scalars
        g.setTrainable(["fc1.weight", "fc2.weight"])
        #expect(g.weight("fc1.weight")!.requiresGrad && g.parameters["fc1.weight"]!.grad == nil)
        #expect(g.weight("fc1.weight")!.scalars == before)
        try g(x).sum().backward()
        #expect(g.parameters["fc1.weight"]!.grad != nil)
        g.freeze()
        #expect(g.trainableParameters.isEmpty)
    }

    @Test func saveLoadRoundTrip() throws {
        let a = try smallGraph(seed: 4), b = try smallGraph(seed: 5)
        try a.setWeight("bn.running_mean", Tensor(shape: [3], data: [7, 8, 9]))
        let url = temporaryURL("roundtrip.params")
        defer { try? FileManager.default.removeItem(at: url) }
        try a.saveWeights(to: url)
        // Only the final file is left behind (the temporary was renamed).
        let siblings = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
        #expect(!siblings.contains { $0.contains(url.lastPathComponent + ".tmp") })

        let leaf = b.weight("fc1.weight")!.node
        let opt = Adam(parameters: b.trainableParameters)
        try b.loadWeights(from: url)
        for (name, w) in a.weights { #expect(b.weight(name)!.scalars == w.scalars, "\(name)") }
        #expect(b.weight("fc1.weight")!.node === leaf)
        let x = randomTensor([1, 3, 1, 1], seed: 6)
        #expect(try a(x).scalars == b(x).scalars)
        // The loaded graph still trains with an optimizer created before loading.
        opt.zeroGrad(); try b(x).sum().backward(); opt.step()
        #expect(try b(x).scalars != a(x).scalars)

        let tensors = try loadTensors(from: url)
        #expect(tensors.map { $0.0 } == a.weights.keys.sorted())
        #expect(tensors.first { $0.0 == "fc1.weight" }?.1.shape == [4, 3])
    }

    @Test func mismatchedLoadThrows() throws {
        let small = try smallGraph(seed: 5)
        let url = temporaryURL("mismatch.params")
        defer { try? FileManager.default.removeItem(at: url) }
        try small.saveWeights(to: url)

        let wrongShape = try smallGraph(seed: 6, inFeatures: 5)
        let before = wrongShape.weights
        let e1 = #expect(throws: IOError.self) { try wrongShape.loadWeights(from: url) }
        #expect(e1?.path == url.path)
        #expect(e1?.message.contains("'fc1.weight' has shape [4, 3] in the file, [4, 5] in the model") == true)
        #expect(wrongShape.weights.allSatisfy { before[$0.key]!.scalars == $0.value.scalars })   // nothing half-loaded

        let extra = try smallGraph(seed: 7, fc2Bias: true)
        let e2 = #expect(throws: IOError.self) { try extra.loadWeights(from: url) }
        #expect(e2?.message.contains("missing 'fc2.bias' [2]") == true)
        #expect(e2?.description.hasPrefix(url.path + ": ") == true)

        let b = GraphBuilder(name: "other", inputShape: [3, 1, 1])
        try b.batchNorm(name: "bn")
        let fewer = try b.build()
        let e3 = #expect(throws: IOError.self) { try fewer.loadWeights(from: url) }
        #expect(e3?.message.contains("unexpected 'fc1.bias' [4]") == true)

        // Truncated and foreign files.
        let bytes = try Data(contentsOf: url)
        let cut = temporaryURL("cut.params")
        defer { try? FileManager.default.removeItem(at: cut) }
        for n in [0, 5, 12, 20, 40, bytes.count - 1] {
            try bytes.prefix(n).write(to: cut)
            #expect(throws: IOError.self) { try small.loadWeights(from: cut) }
        }
        try (bytes + [0]).write(to: cut)
        #expect(throws: IOError.self) { try small.loadWeights(from: cut) }
        #expect(throws: IOError.self) { try small.loadWeights(from: temporaryURL("absent.params")) }
    }
}
