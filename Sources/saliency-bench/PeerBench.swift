import ArgumentParser
import Foundation
import Plugins
import Runtime

/// Our half of `scripts/bench-peer`: the same ONNX file and the same input (.npy) that the
/// script times with onnxruntime, PyTorch and Captum, timed here as a user calls us.
struct PeerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer",
        abstract: "Times forward and explainers on an ONNX model and a saved input; prints one JSON object per line.",
        discussion: """
        Driven by scripts/bench-peer, which runs the peers (onnxruntime, PyTorch, Captum)
        on the same files in the same run and prints the ratios. A cell is the wall time
        of the whole call a user makes: `forward` is one inference pass without
        gradients; an explainer is `explain(...)` with target = the predicted class,
        including finding that class. Median and minimum of --runs calls after one
        warm-up call.
          saliency-bench peer --model resnet18.onnx --input x.npy --methods forward,gradient \\
            --param integrated_gradients.steps=32
        """)

    @OptionGroup var common: CommonOptions
    @Option(help: "ONNX model file.")
    var model: String
    @Option(help: "Input batch [N, C, H, W] as .npy (float32).")
    var input: String
    @Option(help: "Comma-separated: forward and/or explainer names.")
    var methods: String = "forward"
    @Option(help: "Explainer parameter as method.name=value (repeatable).")
    var param: [String] = []
    @Option(help: "Also write the model's output for the input to this .npy file (the script checks it against onnxruntime's).")
    var saveOutput: String?

    func run() throws {
        Threads.tuneAllocator()
        if let t = common.threads { Threads.set(t) } else { Threads.set(Threads.count) }
        let g = try loadONNX(path: model)
        g.freeze()
        let x = try readNPY(path: input)
        let params = try parsedParams()
        if let saveOutput { try writeNPY(try Autograd.noGrad { try g(x) }, path: saveOutput) }
        for m in methods.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let times: [Double]
            if m == "forward" {
                times = try wallTimes(runs: common.runs) { _ = try Autograd.noGrad { try g(x) } }
            } else {
                let e = try Registry.shared.explainer(m)
                let p = params[m] ?? [:]
                times = try wallTimes(runs: common.runs) {
                    _ = try explain(e, model: g, images: x, target: .predicted, params: p, seed: 1)
                }
            }
            let sorted = times.sorted()
            let row: [String: Any] = [
                "method": m, "batch": x.shape[0], "ms": sorted[sorted.count / 2], "min_ms": sorted[0], "runs": times.count,
                "threads": Threads.count, "blas_core": BLASInfo.gemmKernel, "peak_rss_mib": peakResidentMiB(),
            ]
            let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        }
    }

    /// `method.name=value` options grouped by method; numbers become ints or floats.
    func parsedParams() throws -> [String: [String: ParamValue]] {
        var out: [String: [String: ParamValue]] = [:]
        for p in param {
            guard let eq = p.firstIndex(of: "="), let dot = p[..<eq].firstIndex(of: ".") else {
                throw ValidationError("--param '\(p)': expected method.name=value")
            }
            let method = String(p[..<dot]), name = String(p[p.index(after: dot)..<eq]), raw = String(p[p.index(after: eq)...])
            let value: ParamValue = Int(raw).map { .int($0) } ?? Double(raw).map { .float($0) } ?? .string(raw)
            out[method, default: [:]][name] = value
        }
        return out
    }
}

/// Wall times in ms of `runs` calls (at least 1) after one warm-up call.
func wallTimes(runs: Int, _ body: () throws -> Void) rethrows -> [Double] {
    try body()
    return try (0..<max(runs, 1)).map { _ in
        let t0 = benchClockNanoseconds()
        try body()
        return Double(benchClockNanoseconds() - t0) / 1e6
    }
}

/// What the benchmarks time: wall time, or with `SALIENCY_BENCH_CPU_TIME=1` the CPU time of
/// the whole process (all threads). On a machine shared with other work, single-threaded CPU
/// time compares two code paths without counting the time slices other processes took.
func benchClockNanoseconds() -> UInt64 {
    if benchUsesCPUTime {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
    return DispatchTime.now().uptimeNanoseconds
}

let benchUsesCPUTime = ProcessInfo.processInfo.environment["SALIENCY_BENCH_CPU_TIME"] == "1"

