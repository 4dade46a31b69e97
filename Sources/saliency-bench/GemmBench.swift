import ArgumentParser
import Foundation
import Runtime

/// Our AVX-512 GEMM against OpenBLAS on the products ResNet-18's convolutions make, in one
/// process, the two timed alternately so that both see the same machine load.
struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "sgemm GFLOP/s: ours (AVX-512) against OpenBLAS on ResNet-18's GEMM shapes.",
        discussion: """
        Rows: 1024^3, then the products of ResNet-18 at 224x224, batch 1: im2col forward
        (m = output channels, k = input channels x kernel area, n = output pixels), Winograd
        F(2x2, 3x3)'s per-position products (m = c_out, k = c_in, n = tiles) and the
        backward-to-input forms (W^T dY: transposed A, m = input channels x kernel area).
        Each cell is the median of --runs timings, ours and OpenBLAS alternating, each timing
        long enough to be ~20 ms. SALIENCY_BENCH_CPU_TIME=1 times CPU time instead of wall time.
        Without AVX-512 the "ours" column is OpenBLAS too (sgemm falls back).
        """)

    @OptionGroup var common: CommonOptions
    @Flag(help: "Instead: wall ms of products around sgemm's split threshold (2 M multiply-adds), on one thread and split over --threads.")
    var split = false

    struct Shape {
        let name: String, transA: Bool, m: Int, n: Int, k: Int
    }

    static let shapes: [Shape] = [
        Shape(name: "square 1024^3", transA: false, m: 1024, n: 1024, k: 1024),
        Shape(name: "conv1 im2col", transA: false, m: 64, n: 12544, k: 147),
        Shape(name: "layer1 3x3 im2col", transA: false, m: 64, n: 3136, k: 576),
        Shape(name: "layer3 s2 im2col", transA: false, m: 256, n: 196, k: 1152),
        Shape(name: "layer4 3x3 im2col", transA: false, m: 512, n: 49, k: 4608),
        Shape(name: "winograd 64", transA: false, m: 64, n: 784, k: 64),
        Shape(name: "winograd 128", transA: false, m: 128, n: 196, k: 128),
        Shape(name: "winograd 256", transA: false, m: 256, n: 49, k: 256),
        Shape(name: "winograd 512", transA: false, m: 512, n: 16, k: 512),
        Shape(name: "bwd conv1 W^T dY", transA: true, m: 147, n: 12544, k: 64),
        Shape(name: "bwd layer3 s2 W^T dY", transA: true, m: 1152, n: 196, k: 256),
        Shape(name: "bwd layer4 W^T dY", transA: true, m: 4608, n: 49, k: 512),
        Shape(name: "bwd layer4 1x1 W^T dY", transA: true, m: 256, n: 49, k: 512),
    ]

    func run() {
        if let t = common.threads { Threads.set(t) } else { Threads.set(Threads.count) }
        let runs = max(common.runs, 5)
        if split { return splitRows(runs: runs) }
        print("saliency-bench gemm: \(Threads.count) thread(s), median of \(runs) alternating runs, "
              + (benchUsesCPUTime ? "CPU time" : "wall time") + "; in use: \(BLASInfo.gemmKernel)")
        let header = [pad("shape", 22), pad("op", 3), pad("m x n x k", 18), pad("ours", 8), pad("OpenBLAS", 9), "ours/OpenBLAS"]
            .joined(separator: " ")
        print(header + "  (GFLOP/s)")
        print(String(repeating: "-", count: header.count))
        let ours: GEMMKernel = GEMMDispatch.avx512Available ? .avx512 : .openBLAS
        for s in Self.shapes {
            var rng = RandomGenerator(seed: 1)
            let a = Tensor.uniform([s.m * s.k], rng: &rng).scalars, b = Tensor.uniform([s.k * s.n], rng: &rng).scalars
            var c = [Float](repeating: 0, count: s.m * s.n)
            let flops = 2 * Double(s.m * s.n * s.k)
            let repeats = max(1, Int(4e9 / flops))  // ~20 ms at ~200 GFLOP/s
            let product = { (kernel: GEMMKernel) in
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                    for _ in 0..<repeats {
                        sgemm(transA: s.transA, m: s.m, n: s.n, k: s.k, a: pa.baseAddress!, b: pb.baseAddress!,
                              c: pc.baseAddress!, kernel: kernel)
                    }
                } } }
            }
            product(ours)
            product(.openBLAS)
            var mine: [Double] = [], theirs: [Double] = []
            let time = { (kernel: GEMMKernel) -> Double in
                let t0 = benchClockNanoseconds()
                product(kernel)
                return Double(benchClockNanoseconds() - t0) / 1e6
            }
            for _ in 0..<runs {
                mine.append(time(ours))
                theirs.append(time(.openBLAS))
            }
            let rate = { (times: [Double]) in flops * Double(repeats) / (times.sorted()[times.count / 2] / 1e3) / 1e9 }
            let (g1, g2) = (rate(mine), rate(theirs))
            print([pad(s.name, 22), pad(s.transA ? "TN" : "NN", 3), pad("\(s.m) x \(s.n) x \(s.k)", 18), pad(fmt(g1), 8),
                   pad(fmt(g2), 9), fmt(g1 / g2, 2)].joined(separator: " "))
        }
    }

    /// Where splitting a product over the workers starts to pay: wall time (the hand-off is
    /// what is measured), serial and split alternating, with the kernel in use.
    func splitRows(runs: Int) {
        print("saliency-bench gemm --split: \(Threads.count) thread(s), median of \(runs) alternating runs, wall time; in use: \(BLASInfo.gemmKernel)")
        print([pad("m x n x k", 18), pad("M MACs", 7), pad("serial us", 10), pad("split us", 9), "split/serial"].joined(separator: " "))
        let sizes = [(64, 256, 64), (128, 128, 128), (128, 196, 128), (128, 256, 128), (256, 128, 256), (256, 256, 256)]
        for (m, n, k) in sizes {
            var rng = RandomGenerator(seed: 1)
            let a = Tensor.uniform([m * k], rng: &rng).scalars, b = Tensor.uniform([k * n], rng: &rng).scalars
            var c = [Float](repeating: 0, count: m * n)
            let repeats = max(1, Int(2e9 / Double(2 * m * n * k)))  // ~10 ms at ~200 GFLOP/s
            let time = { (serial: Bool) -> Double in
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<repeats {
                        sgemm(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!, serial: serial)
                    }
                    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3 / Double(repeats)
                } } }
            }
            _ = (time(true), time(false))
            var serial: [Double] = [], parallel: [Double] = []
            for _ in 0..<runs {
                serial.append(time(true))
                parallel.append(time(false))
            }
            let (s1, s2) = (serial.sorted()[runs / 2], parallel.sorted()[runs / 2])
            print([pad("\(m) x \(n) x \(k)", 18), pad(fmt(Double(m * n * k) / 1e6, 2), 7), pad(fmt(s1), 10), pad(fmt(s2), 9), fmt(s2 / s1, 2)]
                .joined(separator: " "))
        }
    }
}
