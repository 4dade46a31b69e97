import Testing
@testable import Runtime

/// The inference pass writes ReLU and Add results into inputs that die at them, and fuses a
/// residual Add with its only reader, a ReLU. These graphs use only Mul, Add and Relu, so the
/// in-place pass and the recording pass (which allocates every value) run the very same
/// float operations: their results are bitwise equal (structural, no GEMM involved).
@Suite("Graph: in-place inference")
struct InferenceInPlaceTests {
    /// x -> m = x * w -> r1 = relu(m) -> s = r1 + x -> r2 = relu(s) (fused with s)
    ///   -> t = r2 + r1 -> out = relu(t) (fused with t).
    func residualGraph() throws -> Graph {
        let b = GraphBuilder(name: "residual", inputShape: [2, 3, 3])
        try b.add("Mul", name: "m", inputs: ["input", "w"], weights: [("w", randomTensor([1, 2, 3, 3], seed: 7), false)])
        try b.relu("m", name: "r1")
        try b.sum("r1", "input", name: "s")
        try b.relu("s", name: "r2")
        try b.sum("r2", "r1", name: "t")
        try b.relu("t", name: "out")
        return try b.build()
    }

    @Test func planPairsEachResidualAddWithItsReLU() throws {
        let g = try residualGraph()
        let names = g.fullPlan.addReLUPairs.map { (g.nodes[g.fullPlan.nodes[$0.key]].name, g.nodes[g.fullPlan.nodes[$0.value]].name) }
        #expect(Set(names.map { "\($0.0)->\($0.1)" }) == ["s->r2", "t->out"])
        let resnet = try Architectures.resnet18(inputShape: [3, 32, 32], classes: 10, seed: 1)
        #expect(resnet.fullPlan.addReLUPairs.count == 8)  // one per basic block
    }

    @Test func inferenceEqualsTheRecordingPassAndLeavesTheInputAlone() throws {
        let g = try residualGraph()
        let x = randomTensor([4, 2, 3, 3], seed: 8)
        let before = x.scalars
        let inference = try Autograd.noGrad { try g.forward(x) }.output
        #expect(x.scalars == before)
        let recorded = try g.forward(x.requiringGrad()).output
        #expect(recorded.requiresGrad)
        #expect(inference.scalars == recorded.scalars)
    }

    @Test func capturedInterveneAndStopValuesKeepTheirOwnValues() throws {
        let g = try residualGraph()
        let x = randomTensor([2, 2, 3, 3], seed: 9)
        let reference = try g.forward(x.requiringGrad(), options: ForwardOptions(capture: ["s", "r1", "r2"]))
        // A captured Add output is not fused away, and a captured input of an Add is not overwritten.
        let r = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(capture: ["s", "r1", "r2"])) }
        for name in ["s", "r1", "r2"] { #expect(r.captured[name]?.scalars == reference.captured[name]?.scalars, "\(name)") }
        #expect(r.output.scalars == reference.output.scalars)
        // stopAt an Add that would be fused returns the sum itself.
        let stop = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(stopAt: "t")) }.output
        let t = try g.forward(x.requiringGrad(), options: ForwardOptions(stopAt: "t")).output
        #expect(stop.scalars == t.scalars)
        // A replacement dies at the Add that reads it: the caller's tensor stays as it was.
        let replacement = randomTensor([2, 2, 3, 3], seed: 10)
        let kept = replacement.scalars
        let o = ForwardOptions(interventions: ["r1": .replace(replacement)])
        let replaced = try Autograd.noGrad { try g.forward(x, options: o) }.output
        #expect(replacement.scalars == kept)
        #expect(replaced.scalars == (try g.forward(x.requiringGrad(), options: o)).output.scalars)
    }

    /// x -> m = x * w -> bn (random statistics) -> r = relu(bn) -> out = r + m.
    func batchNormGraph() throws -> Graph {
        let b = GraphBuilder(name: "bn", inputShape: [3, 4, 5])
        try b.add("Mul", name: "m", inputs: ["input", "w"], weights: [("w", randomTensor([1, 3, 4, 5], seed: 11), false)])
        let stats = ["scale", "bias", "mean", "var"].enumerated().map { k, n in
            ("bn.\(n)", n == "var" ? randomTensor([3], seed: 12, low: 0.5, high: 2) : randomTensor([3], seed: 13 + UInt64(k)), false)
        }
        try b.add("BatchNormalization", name: "bn", inputs: ["m"] + stats.map(\.0), attributes: ["epsilon": .float(1e-3)], weights: stats)
        try b.relu("bn", name: "r")
        try b.sum("r", "m", name: "out")
        return try b.build()
    }

    /// Batch norm then ReLU as one in-place pass computes x * a + b and max(., 0) exactly as
    /// the two kernels do (the same float operations in the same order): bitwise equal.
    @Test func batchNormAndItsReLURunInPlaceAsOnePass() throws {
        let g = try batchNormGraph()
        let pairs = g.fullPlan.batchNormReLUPairs.map { (g.nodes[g.fullPlan.nodes[$0.key]].name, g.nodes[g.fullPlan.nodes[$0.value]].name) }
        #expect(pairs.map { "\($0.0)->\($0.1)" } == ["bn->r"])
        let x = randomTensor([2, 3, 4, 5], seed: 20)
        let recorded = try g.forward(x.requiringGrad(), options: ForwardOptions(capture: ["bn", "r"]))
        #expect(try Autograd.noGrad { try g.forward(x) }.output.scalars == recorded.output.scalars)
        // A captured batch-norm output keeps its own value (the ReLU is not fused into it).
        let r = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(capture: ["bn"])) }
        #expect(r.captured["bn"]?.scalars == recorded.captured["bn"]?.scalars)
        #expect(r.captured["bn"]?.scalars.contains { $0 < 0 } == true)
        #expect(r.output.scalars == recorded.output.scalars)
        // stopAt the batch norm returns it before its ReLU.
        let stop = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(stopAt: "bn")) }.output
        #expect(stop.scalars == recorded.captured["bn"]?.scalars)
    }

    @Test func aValueReadTwiceByOneAddIsNotDonated() throws {
        let b = GraphBuilder(name: "double", inputShape: [4])
        try b.relu("input", name: "r")
        try b.sum("r", "r", name: "twice")
        try b.relu("twice", name: "out")
        let g = try b.build()
        let x = Tensor(shape: [1, 4], data: [-1, 0.5, 2, -3])
        #expect(try Autograd.noGrad { try g.forward(x) }.output.scalars == [0, 1, 4, 0])
    }
}
