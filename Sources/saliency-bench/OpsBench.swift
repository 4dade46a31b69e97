import ArgumentParser
import Foundation
import Runtime

/// The ops around the convolutions, one at a time at ResNet-18's batch-1 shapes: what
/// `runtime --profile` attributes to them inside a forward, measured alone (no GEMM next to
/// them), forward and backward.
struct OpsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "Times ResNet-18's non-convolution ops (pooling, ReLU, Add, batch norm) and their backward alone.",
        discussion: """
        Each row is the median of --runs calls after a warm-up, on seeded uniform inputs of
        ResNet-18's shapes at --batch. Backward rows time the op's vector-Jacobian product
        (autograd's backward of that op alone, from a ones seed to its input).
        """)

    @OptionGroup var common: CommonOptions
    @Option(help: "Batch size of the shapes.")
    var batch: Int = 1
    @Option(help: "Also profile a gradient pass (forward recording + backward to the input) of this ONNX model, per op type.")
    var model: String?

    func run() throws {
        Threads.tuneAllocator()
        if let t = common.threads { Threads.set(t) } else { Threads.set(Threads.count) }
        let runs = max(common.runs, 5)
        print("saliency-bench ops: \(Threads.count) thread(s), batch \(batch), median of \(runs) runs after warm-up")
        var rng = RandomGenerator(seed: 3)
        let stem = Tensor.uniform([batch, 64, 112, 112], low: -1, high: 1, rng: &rng)
        let l1 = Tensor.uniform([batch, 64, 56, 56], low: -1, high: 1, rng: &rng)
        let l1b = Tensor.uniform([batch, 64, 56, 56], low: -1, high: 1, rng: &rng)
        let l4 = Tensor.uniform([batch, 512, 7, 7], low: -1, high: 1, rng: &rng)
        let bnParams = (0..<4).map { i in Tensor.uniform([64], low: i == 1 ? 0.5 : -1, high: 1, rng: &rng) }
        func row(_ name: String, _ body: () throws -> Void) rethrows {
            print("  \(pad(name, 44)) \(fmt(try medianMilliseconds(runs: runs, body), 3)) ms")
        }
        func backwardRow(_ name: String, _ x: Tensor, _ op: (Tensor) -> Tensor) {
            let xi = x.requiringGrad()
            let y = op(xi)
            let seed = Tensor.ones(y.shape)
            row(name) { _ = gradient(of: y, wrt: xi, seed: seed) }
        }
        try Autograd.noGrad {
            row("maxPool 3x3/2 pad 1 \(stem.shape)") { _ = stem.maxPool2d(kernel: [3, 3], stride: [2, 2], padding: [1, 1]) }
            row("maxPool with switches \(stem.shape)") { _ = stem.maxPool2dWithSwitches(kernel: [3, 3], stride: [2, 2], padding: [1, 1]) }
            row("relu \(stem.shape)") { _ = stem.relu() }
            row("relu \(l1.shape)") { _ = l1.relu() }
            row("add \(l1.shape)") { _ = l1 + l1b }
            row("mul (generic zipRaw loop) \(l1.shape)") { _ = l1 * l1b }
            row("mul (generic zipRaw loop) \(stem.shape)") { _ = stem * stem }
            row("exp (generic mapRaw loop) \(stem.shape)") { _ = stem.exp() }
            row("batchNorm \(stem.shape)") {
                _ = stem.batchNorm(mean: bnParams[0], variance: bnParams[1], scale: bnParams[2], bias: bnParams[3])
            }
            row("globalAvgPool \(l4.shape)") { _ = l4.globalAvgPool2d() }
            row("mean(axes: 2, 3) \(l4.shape)") { _ = l4.mean(axes: [2, 3], keepDims: true) }
            let g = try maxPoolGraph()
            try row("graph with one MaxPool node \(stem.shape)") { _ = try g.forward(stem) }
            // Starting a parallel loop after a short serial stretch, as between a forward's ops
            // (a ResNet-18 forward starts ~100 loops): 20 us of serial work, then a loop of
            // one trivial chunk per thread. Minus 20 us, what each loop start costs.
            let sink = UnsafeMutablePointer<Int>.allocate(capacity: 64 * max(Threads.count, 1))
            defer { sink.deallocate() }
            nonisolated(unsafe) let out = sink
            row("20 us serial + parallelFor(\(Threads.count)) start") {
                let until = DispatchTime.now().uptimeNanoseconds + 20_000
                while DispatchTime.now().uptimeNanoseconds < until { out[0] &+= 1 }
                Threads.parallelFor(Threads.count) { r in for i in r { out[64 * i] &+= 1 } }
            }
        }
        backwardRow("maxPool backward \(stem.shape)", stem) { $0.maxPool2d(kernel: [3, 3], stride: [2, 2], padding: [1, 1]) }
        backwardRow("relu backward \(stem.shape)", stem) { $0.relu() }
        backwardRow("relu[guided] backward \(stem.shape)", stem) { $0.relu(rule: .guided) }
        backwardRow("add backward \(l1.shape)", l1) { $0 + l1b }
        backwardRow("globalAvgPool backward \(l4.shape)", l4) { $0.globalAvgPool2d() }
        if let model { try profileGradient(try loadONNX(path: model), runs: runs) }
    }

    /// Where a gradient pass's time goes: the recording forward by node op type, the backward
    /// by tape op, and the backward's bookkeeping (its wall time minus the ops' own).
    func profileGradient(_ g: Graph, runs: Int) throws {
        g.freeze()
        guard let shape = g.inputs.first?.shape, shape.count == 4 else { throw ValidationError("the model needs one [N, C, H, W] input") }
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.uniform([batch] + shape.dropFirst(), rng: &rng)
        let forward = OpTimes(), backward = OpTimes()
        var options = ForwardOptions()
        options.nodeTimer = { node, t in forward.add(node, t) }
        var backwardWall = 0.0
        for run in 0...runs {
            if run == 1 { forward.ms = [:]; backward.ms = [:]; backwardWall = 0 }  // the first run warms up
            let xi = x.requiringGrad()
            let logits = try g.forward(xi, options: options).output
            let score = logits.max(axis: 1).sum()
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = Autograd.withBackwardTimer({ op, t in backward.ms[op, default: 0] += t }) { gradient(of: score, wrt: xi) }
            backwardWall += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        }
        for (title, times) in [("recording forward", forward.ms), ("backward", backward.ms)] {
            print("\n\(title) by op (mean of \(runs) runs, batch \(batch)): \(fmt(times.values.reduce(0, +) / Double(runs), 2)) ms")
            for (op, t) in times.sorted(by: { $0.value > $1.value }) { print("  \(pad(op, 24)) \(fmt(t / Double(runs), 2)) ms") }
        }
        let ops = backward.ms.values.reduce(0, +)
        print("backward wall \(fmt(backwardWall / Double(runs), 2)) ms, of which bookkeeping \(fmt((backwardWall - ops) / Double(runs), 2)) ms")
    }

    /// A one-node graph: ResNet's stem max pooling as the ONNX importer builds it.
    func maxPoolGraph() throws -> Graph {
        let b = GraphBuilder(name: "maxpool", inputShape: [64, 112, 112])
        _ = try b.maxPool(name: "maxpool", kernel: 3, stride: 2, padding: 1)
        return try b.build()
    }
}
