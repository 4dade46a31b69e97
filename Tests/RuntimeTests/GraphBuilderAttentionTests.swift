import Foundation
import Testing
@testable import Runtime

/// The builder helpers for the papers' networks (Sources/Runtime/Graph/GraphBuilder+Attention.swift):
/// values on hand-set inputs, CBAM against its equations, gradients against finite
/// differences, and the ONNX export of a CBAM-bearing net against onnxruntime.
@Suite struct GraphBuilderAttentionTests {
    /// Distinct values 0.1 apart in a seeded order: no two elements of any max-pooled group
    /// come within the finite-difference step of each other, so max stays differentiable.
    func spreadOut(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        var values = (0..<shape.reduce(1, *)).map { Float($0) * 0.1 }
        values.shuffle(using: &rng)
        let mid = Float(values.count) * 0.05
        return Tensor(shape: shape, data: values.map { $0 - mid })
    }

    /// A graph run inside a non-throwing gradient-check closure: a failure is recorded.
    func recorded(_ body: () throws -> Tensor) -> Tensor {
        do { return try body() } catch { Issue.record("\(error)"); return Tensor.zeros([]) }
    }

    @Test func upsampleCopiesOrInterpolates() throws {
        let x = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        let b = GraphBuilder(name: "up", inputShape: [1, 2, 2])
        try b.upsample("input", name: "nearest", factor: 2)
        try b.upsample("input", name: "bilinear", factor: 2, mode: .bilinear)
        let g = try b.build(outputs: ["nearest", "bilinear"])
        #expect(!g.trainable.contains("nearest.scales"))
        let r = try g.forward(x)
        #expect(r.outputs[0].shape == [1, 1, 4, 4])
        // Copies are exact.
        #expect(r.outputs[0].scalars == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        // Half-pixel centres: sources at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to
        // 1), so out[i][j] = 1 + c_j + 2 r_i with c, r in {0, 1/4, 3/4, 1}; quarters are exact.
        let taps: [Float] = [0, 0.25, 0.75, 1]
        #expect(r.outputs[1].scalars == taps.flatMap { ri in taps.map { cj in 1 + cj + 2 * ri } })
    }

    @Test func resizeFollowsTheReferenceAtRunTime() throws {
        let b = GraphBuilder(name: "resize", inputShape: [1, 8, 8], seed: 1)
        try b.conv(name: "down", out: 2, kernel: 2, stride: 2)
        try b.resize("down", like: "input", name: "back")
        try b.upsample("down", name: "twice", factor: 2, mode: .bilinear)
        let g = try b.build(outputs: ["back", "twice"])
        g.inputs = [ValueInfo(name: "input", shape: [-1, 1, -1, -1])]
        for side in [8, 12] {
            let r = try g.forward(randomTensor([2, 1, side, side], seed: UInt64(side)))
            #expect(r.outputs[0].shape == [2, 2, side, side])
            // Resizing by exactly 2 is upsampling by 2: the same taps, so the same bytes.
            #expect(r.outputs[0].scalars == r.outputs[1].scalars)
        }
        #expect(throws: GraphError.self) { try b.resize("down", like: "nothing", name: "bad") }
    }

    @Test func concatChannelPoolingAndGates() throws {
        let b = GraphBuilder(name: "parts", inputShape: [3, 2, 2])
        let mean = try b.channelMean("input", name: "mean")
        let max = try b.channelMax("input", name: "max")
        try b.concat([mean, max], name: "pooled")
        try b.add("GlobalAveragePool", name: "gap", inputs: ["input"])
        try b.gate("input", by: "gap", name: "by_channel")
        try b.gate("input", by: "max", name: "by_position", attention: "position_map")
        #expect(throws: GraphError.self) { try b.gate("pooled", by: "input", name: "bad") }
        #expect(throws: GraphError.self) { try b.concat(["input", "gap"], name: "bad") }
        let g = try b.build(outputs: ["pooled", "by_channel", "by_position", "position_map"])
        let x = Tensor(shape: [1, 3, 2, 2], data: [1, -2, 3, 0, 5, 1, -1, 2, -3, 4, 0, 6])
        let r = try g.forward(x)
        // Per position: channels (1, 5, -3), (-2, 1, 4), (3, -1, 0), (0, 2, 6).
        expectClose(r.outputs[0], Tensor(shape: [1, 2, 2, 2], data: [1, 1, 2.0 / 3, 8.0 / 3, 5, 4, 3, 6]), tol: 1e-6)
        let gap = x.mean(axes: [2, 3], keepDims: true)
        expectClose(r.outputs[1], x * gap.sigmoid(), tol: 1e-6)
        expectClose(r.outputs[3], Tensor(shape: [1, 1, 2, 2], data: [5, 4, 3, 6]).sigmoid(), tol: 1e-6)
        expectClose(r.outputs[2], x * r.outputs[3], tol: 1e-6)
    }

    func cbamNet(seed: UInt64) throws -> Graph {
        let b = GraphBuilder(name: "cbam", inputShape: [4, 3, 3], seed: seed)
        try b.cbam(name: "att", reduction: 2, kernel: 3)
        return try b.build()
    }

    /// Woo et al.'s Eqs. 2-3 written out with tensor ops on the graph's own weights.
    @Test func cbamIsItsEquations() throws {
        let g = try cbamNet(seed: 3)
        #expect(g.weights.keys.sorted() == ["att.conv.bias", "att.conv.weight", "att.mlp.0.bias", "att.mlp.0.weight", "att.mlp.2.bias", "att.mlp.2.weight"])
        #expect(g.weight("att.mlp.0.weight")!.shape == [2, 4, 1, 1] && g.weight("att.conv.weight")!.shape == [1, 2, 3, 3])
        // Biases start at zero; give them values so that they are tested too.
        for (name, n) in [("att.mlp.0.bias", 2), ("att.mlp.2.bias", 4), ("att.conv.bias", 1)] {
            try g.setWeight(name, randomTensor([n], seed: UInt64(n)))
        }
        let x = randomTensor([2, 4, 3, 3], seed: 4)
        let r = try g.forward(x, options: ForwardOptions(capture: ["att.channel_attention", "att.spatial_attention"]))
        func w(_ n: String) -> Tensor { g.weight(n)! }
        func mlp(_ v: Tensor) -> Tensor {
            v.conv2d(w("att.mlp.0.weight"), bias: w("att.mlp.0.bias"), stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1).relu()
                .conv2d(w("att.mlp.2.weight"), bias: w("att.mlp.2.bias"), stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1)
        }
        let avg = x.mean(axes: [2, 3], keepDims: true), mx = x.max(axes: [2, 3], keepDims: true)
        let mc = (mlp(avg) + mlp(mx)).sigmoid()
        let refined = x * mc
        let pooled = Tensor.concat([refined.mean(axis: 1, keepDims: true), refined.max(axis: 1, keepDims: true)], axis: 1)
        let ms = pooled.conv2d(w("att.conv.weight"), bias: w("att.conv.bias"), stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1).sigmoid()
        // The graph runs the same kernels in the same order: float32 rounding of a few dozen
        // terms at most separates them.
        expectClose(r.captured["att.channel_attention"]!, mc, tol: 1e-6)
        expectClose(r.captured["att.spatial_attention"]!, ms, tol: 1e-6)
        expectClose(r.output, refined * ms, tol: 1e-6)
    }

    // MARK: gradients

    @Test func reduceMaxGradients() throws {
        let x = spreadOut([2, 3, 4], seed: 1)
        for (axes, keep) in [([1], true), ([0, 2], false), ([-1], false)] as [([Int], Bool)] {
            GradCheck().check([x]) { $0[0].max(axes: axes.map { $0 < 0 ? $0 + 3 : $0 }, keepDims: keep) }
        }
        // The kernel, as an imported node with opset 18's axes input.
        let node = GraphNode(name: "rmax", opType: "ReduceMax", inputs: ["x", "axes"], outputs: ["y"], attributes: ["keepdims": .int(0)])
        let g = try Graph(name: "rmax", inputs: [ValueInfo(name: "x", shape: [-1, 3, 4])], outputs: ["y"], nodes: [node],
                          weights: ["axes": Tensor(shape: [1], data: [-1])], opset: 18)
        g.integerValues = ["axes"]
        #expect(try g(x).shape == [2, 3])
        GradCheck().check([x]) { xs in recorded { try g(xs[0]) } }
        #expect(throws: GraphError.self) { try g(Tensor.zeros([1, 3, 0])) }
    }

    @Test func gateAndResampleGradients() throws {
        let b = GraphBuilder(name: "gates", inputShape: [2, 3, 3])
        try b.channelMax("input", name: "max")
        try b.gate("input", by: "max", name: "gated")
        try b.upsample(name: "nearest", factor: 2)
        try b.resize("gated", like: "nearest", name: "bilinear")
        let g = try b.build(outputs: ["nearest", "bilinear"])
        let x = spreadOut([1, 2, 3, 3], seed: 2)
        GradCheck().check([x]) { xs in
            recorded { let r = try g.forward(xs[0]); return Tensor.concat([r.outputs[0], r.outputs[1]], axis: 1) }
        }
    }

    /// CBAM's gradient with respect to its input and to the shared MLP weights (each used by
    /// both pooled branches, so their gradients add up), by finite differences. The weights
    /// become graph inputs so the checker can perturb them.
    @Test func cbamGradients() throws {
        let built = try cbamNet(seed: 5)
        let shared = ["att.mlp.0.weight", "att.mlp.2.weight"]
        let g = try Graph(name: "cbam", inputs: [ValueInfo(name: "input", shape: [])] + shared.map { ValueInfo(name: $0, shape: []) },
                          outputs: built.outputs, nodes: built.nodes, weights: built.weights.filter { !shared.contains($0.key) })
        let x = spreadOut([1, 4, 3, 3], seed: 6)
        GradCheck().check([x] + shared.map { built.weight($0)! }) { xs in recorded { try g.forward(xs).output } }
    }

    // MARK: ONNX

    /// A decoder-like net with every helper: conv, CBAM, downsampling, bilinear upsampling,
    /// resizing to a captured size, concatenation, channel pooling and a head.
    func attentionNet() throws -> Graph {
        let b = GraphBuilder(name: "attention-net", inputShape: [3, 16, 16], seed: 7)
        try b.conv(name: "stem", out: 8, kernel: 3, padding: 1)
        try b.relu(name: "stem_relu")
        let att = try b.cbam(name: "cbam", reduction: 4)
        try b.conv(name: "down", out: 8, kernel: 3, stride: 2, padding: 1)
        let up = try b.upsample(name: "up", factor: 2, mode: .bilinear)
        let near = try b.resize("down", like: "stem", name: "near", mode: .nearest)
        let mean = try b.channelMean(att, name: "att_mean")
        try b.concat([att, up, near, mean], name: "merged")
        try b.conv(name: "head", out: 4, kernel: 1)
        try b.globalAvgPool(name: "gap")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: 3)
        return try b.build()
    }

    @Test func attentionNetExportsAndRunsInOnnxruntime() throws {
        let g = try attentionNet()
        for (name, t) in g.weights where name.hasSuffix(".bias") { try g.setWeight(name, randomTensor(t.shape, seed: 9)) }
        let x = randomTensor([2, 3, 16, 16], seed: 8)
        let ours = try g(x)
        // Another runtime sums in another order: float32 rounding over a few hundred terms.
        expectClose(try onnxRuntimeOutput(model: g, input: x), ours, tol: 1e-4)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attention-\(UUID().uuidString).onnx")
        defer { try? FileManager.default.removeItem(at: url) }
        try g.saveONNX(path: url.path)
        // Our own import of our own export runs the same kernels on the same weights.
        #expect(try loadONNX(path: url.path)(x).scalars == ours.scalars)
    }
}
