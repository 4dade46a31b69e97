import ArgumentParser
import Foundation
import Runtime

extension SIMDKernels: ExpressibleByArgument {}

/// Times every distinct convolution of ResNet-18 under each lowering, forward and backward to
/// the input: the table `ConvGeometry.usesWinograd`'s choice is tuned from.
struct ConvBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "ResNet-18's convolutions, one by one, under each lowering (im2col + sgemm, Winograd F(2x2,3x3)).",
        discussion: """
        For each distinct convolution (input shape, weight shape, stride) of ResNet-18 at
        224x224: forward ms and forward + backward-to-input ms (frozen weights), median of
        --runs after a warm-up, for `automatic` (what the runtime picks) and each forced
        lowering that applies. Reading it: `automatic` should be the fastest column.
        With --simd generic --simd avx512, every cell is timed with each kernels of the
        Winograd tile transforms and stride-2 im2col in turn (A/B in one process; the im2col
        cells of stride-1 convolutions, which they do not touch, show the noise).
        """)

    @OptionGroup var common: CommonOptions
    @Option(help: "Batch size.") var batch = 1
    @Flag(help: "Weights that require gradients (as in training): no cached weight transforms.")
    var trainable = false
    @Option(help: "Kernels of the Winograd tile transforms and stride-2 im2col (generic, avx512); repeat to compare (default: the detected ones).")
    var simd: [SIMDKernels] = []

    func run() throws {
        Threads.tuneAllocator()
        if let t = common.threads { Threads.set(t) } else { Threads.set(Threads.count) }
        let g = try Architectures.resnet18(seed: 1)
        g.freeze()
        var rng = RandomGenerator(seed: 2)
        let example = Tensor.uniform([batch, 3, 224, 224], rng: &rng)
        let all = g.nodes.filter { $0.opType == "Conv" }.map { $0.inputs[0] }.filter { g.weight($0) == nil && $0 != g.inputs[0].name }
        let values = try Autograd.noGrad { try g.forward(example, options: ForwardOptions(capture: all)).captured }
        var seen = Set<String>()
        let kernels = simd.isEmpty ? [ConvTuning.simd] : simd
        for k in kernels where k == .avx512 && !SIMDKernels.avx512Supported {
            throw ValidationError("--simd avx512: this CPU (or its OS) does not support AVX-512")
        }
        defer { ConvTuning.simd = SIMDKernels.detected }
        print("saliency-bench conv: batch \(batch), \(Threads.count) thread(s), median of \(common.runs) runs, GEMM: \(BLASInfo.gemmKernel) (ms: forward / forward+backward-to-input)"
              + ", SIMD kernels: \(kernels.map(\.rawValue).joined(separator: " | "))")
        print([pad("node", 18), pad("input", 18), pad("weight", 18), pad("s", 2)].joined(separator: " ")
              + ConvAlgorithm.allCases.map { pad($0.rawValue, 16 * kernels.count + 3 * (kernels.count - 1)) }.joined(separator: " "))
        for node in g.nodes where node.opType == "Conv" {
            guard let x = node.inputs[0] == g.inputs[0].name ? example : values[node.inputs[0]],
                  var w = g.weight(node.inputs[1]) else { continue }
            if trainable { w = w.requiringGrad() }
            let stride = node.ints("strides") ?? [1, 1]
            let pads = node.ints("pads") ?? [0, 0, 0, 0]
            let key = "\(x.shape) \(w.shape) \(stride)"
            guard seen.insert(key).inserted else { continue }
            var cells: [String] = []
            for algorithm in ConvAlgorithm.allCases {
                ConvTuning.algorithm = algorithm
                defer { ConvTuning.algorithm = .automatic }
                if (algorithm == .winograd || algorithm == .winograd4) && !(w.shape[2] == 3 && w.shape[3] == 3 && stride == [1, 1]) {
                    cells.append(pad("-", 16 * kernels.count + 3 * (kernels.count - 1))); continue
                }
                var timed: [String] = []
                for k in kernels {
                    ConvTuning.simd = k
                    let fwd = medianMilliseconds(runs: common.runs) {
                        _ = Autograd.noGrad { x.conv2d(w, stride: stride, padding: pads) }
                    }
                    let both = medianMilliseconds(runs: common.runs) {
                        let xi = x.requiringGrad()
                        _ = gradient(of: xi.conv2d(w, stride: stride, padding: pads).sum(), wrt: xi)
                    }
                    timed.append(pad("\(fmt(fwd, 2)) / \(fmt(both, 2))", 16))
                }
                cells.append(timed.joined(separator: " | "))
            }
            print([pad(node.name, 18), pad("\(x.shape.dropFirst())", 18), pad("\(w.shape)", 18), pad("\(stride[0])", 2)].joined(separator: " ")
                  + cells.joined(separator: " "))
        }
    }
}
