import ArgumentParser
import Foundation
import Runtime

struct RuntimeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime",
        abstract: "Forward and forward+backward-to-input timings of ResNet-18 and LeNet.",
        discussion: """
        Networks have seeded random weights (speed does not depend on the values).
        Reported: forward ms, forward+backward-to-input ms, achieved GFLOP/s (2 x
        multiply-accumulates of conv and fc layers / forward time), the fraction of
        this machine's measured sgemm peak, and the peak resident memory of the
        process after each row.
        """)

    @OptionGroup var common: CommonOptions
    @Flag(help: "Also print where ResNet-18's batch-1 forward time goes, per op type.")
    var profile = false

    func run() throws {
        Threads.tuneAllocator()
        if let t = common.threads { Threads.set(t) } else { Threads.set(Threads.count) }
        let runs = max(common.runs, 5)
        let peak = sgemmPeak(runs: runs)
        print("saliency-bench runtime: \(Threads.count) thread(s), median of \(runs) runs after warm-up, GEMM: \(BLASInfo.gemmKernel)")
        print("sgemm peak (1024^3): \(fmt(peak)) GFLOP/s\n")
        let header = [pad("model", 22), pad("batch", 6), pad("fwd ms", 9), pad("fwd+bwd ms", 11), pad("bwd/fwd", 8),
                      pad("GFLOP/s", 8), pad("% peak", 7), "peak RSS MiB"].joined(separator: " ")
        print(header)
        print(String(repeating: "-", count: header.count))

        let resnet = try Architectures.resnet18(seed: 1)
        let lenet = try Architectures.lenet5Caffe(seed: 1)
        let cases: [(String, Graph, [Int])] = [
            ("resnet18 224x224", resnet, [1, 3, 224, 224]),
            ("lenet5-caffe 28x28", lenet, [64, 1, 28, 28]),
            ("resnet18 224x224", resnet, [16, 3, 224, 224]),
        ]
        if profile { try printProfile(resnet, shape: [1, 3, 224, 224], runs: runs) }
        for (name, g, shape) in cases {
            g.freeze()
            var rng = RandomGenerator(seed: 2)
            let x = Tensor.uniform(shape, rng: &rng)
            let macs = try Architectures.macs(g, example: x)
            let fwd = try medianMilliseconds(runs: runs) { _ = try Autograd.noGrad { try g(x) } }
            let both = try forwardBackwardMilliseconds(g, x, runs: runs)
            let gflops = 2 * Double(macs) / (fwd / 1e3) / 1e9
            print([pad(name, 22), pad(String(shape[0]), 6), pad(fmt(fwd), 9), pad(fmt(both), 11), pad(fmt(both / fwd, 2), 8),
                   pad(fmt(gflops), 8), pad(fmt(100 * gflops / peak) + "%", 7), fmt(peakResidentMiB(), 0)].joined(separator: " "))
        }
    }
}

/// Median ms of one forward pass plus the backward pass to the input (the summed max logit),
/// with frozen weights: the unit `saliency-bench explain` compares Noise Mask's iterations to.
func forwardBackwardMilliseconds(_ g: Graph, _ x: Tensor, runs: Int) throws -> Double {
    try medianMilliseconds(runs: runs) {
        let xi = x.requiringGrad()
        let logits = try g(xi)
        _ = gradient(of: logits.max(axis: 1).sum(), wrt: xi)
    }
}

final class OpTimes: @unchecked Sendable {
    var ms: [String: Double] = [:]
    var byNode: [String: Double] = [:]
    var order: [String] = []
    func add(_ node: GraphNode, _ t: Double) {
        ms[node.opType, default: 0] += t
        let key = "\(node.opType) \(node.name)"
        if byNode[key] == nil { order.append(key) }
        byNode[key, default: 0] += t
    }
}

func printProfile(_ g: Graph, shape: [Int], runs: Int) throws {
    g.freeze()
    var rng = RandomGenerator(seed: 2)
    let x = Tensor.uniform(shape, rng: &rng)
    let times = OpTimes()
    var options = ForwardOptions()
    _ = try Autograd.noGrad { try g.forward(x, options: options) }
    options.nodeTimer = { node, t in times.add(node, t) }
    for _ in 0..<runs { _ = try Autograd.noGrad { try g.forward(x, options: options) } }
    let total = times.ms.values.reduce(0, +)
    print("forward time by op type (mean of \(runs) runs, batch \(shape[0])):")
    for (op, t) in times.ms.sorted(by: { $0.value > $1.value }) {
        print("  \(pad(op, 20)) \(pad(fmt(t / Double(runs), 2), 7)) ms  \(fmt(100 * t / total))%")
    }
    print("\nthe slowest nodes:")
    // unreachable from input: every key of times.order was given a time in byNode with it.
    for key in times.order.sorted(by: { times.byNode[$0]! > times.byNode[$1]! }).prefix(24) {
        print("  \(pad(key, 40)) \(pad(fmt(times.byNode[key]! / Double(runs), 2), 7)) ms")
    }
    print("")
}
