import ArgumentParser
import Foundation
import Runtime

@main
struct SaliencyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saliency-bench",
        abstract: "Measures saliency-repl's speed and memory on this machine.",
        discussion: """
        Every figure is the median of several runs after a warm-up. Build in release
        mode:
          swift run -c release saliency-bench runtime
          swift run -c release saliency-bench runtime --threads 1 --runs 9
        """,
        subcommands: [RuntimeBench.self, ConvBench.self, GemmBench.self, OpsBench.self, ExplainBench.self, PeerBench.self, TrainBench.self, SuffixBench.self, SolverBench.self, CHIPBench.self])
}

struct CommonOptions: ParsableArguments {
    @Option(help: "Threads for GEMM and parallel loops (default: all cores).")
    var threads: Int?
    @Option(help: "Timed runs per measurement (median reported; at least 5).")
    var runs: Int = 5
}

/// Median wall time in milliseconds of `runs` calls after one warm-up call.
func medianMilliseconds(runs: Int, _ body: () throws -> Void) rethrows -> Double {
    let times = try wallTimes(runs: runs, body).sorted()
    return times[times.count / 2]
}

/// Peak resident set size of this process so far, in MiB: Linux's VmHWM, which belongs to
/// this program's address space. (getrusage's ru_maxrss survives exec, so a process started
/// by a large parent, such as scripts/bench-peer with PyTorch loaded, would report the
/// parent's peak.) Falls back to ru_maxrss where /proc is absent.
func peakResidentMiB() -> Double {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kib = Double(line.split(separator: " ").dropFirst().first ?? "") {
        return kib / 1024
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024  // Linux reports KiB
}

/// sgemm GFLOP/s on square matrices of size n: this machine's reference peak.
func sgemmPeak(n: Int = 1024, runs: Int) -> Double {
    var rng = RandomGenerator(seed: 1)
    let a = Tensor.uniform([n, n], rng: &rng), b = Tensor.uniform([n, n], rng: &rng)
    var c = [Float](repeating: 0, count: n * n)
    let ms = medianMilliseconds(runs: max(runs, 5)) {
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            sgemm(m: n, n: n, k: n, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
        } } }
    }
    return 2 * Double(n * n * n) / (ms / 1e3) / 1e9
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func fmt(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }
