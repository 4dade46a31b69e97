import ArgumentParser
import Foundation
import Plugins
import Runtime

struct ExplainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Milliseconds per saliency map for every registered explainer on LeNet5-Caffe and ResNet-18.",
        discussion: """
        Seeded random weights and images (speed does not depend on the values); target = the
        predicted class; time = the explainer's own call (SaliencyMap.seconds) divided by the
        batch size, median of the timed runs. Methods whose cost grows with a work parameter
        (rise: masks, smoothgrad/vargrad: samples, integrated_gradients: steps, occlusion: number
        of windows) are first probed with 1/10-1/20 of the work; when the probe predicts more
        than --budget seconds for one call, the cell shows the probe time scaled linearly to the
        default work, marked '*' (cost is linear in the number of forward/backward items).
        --quick reports the probe settings unscaled, marked 'q'.
        """)

    @OptionGroup var common: CommonOptions
    @Flag(help: "Measure with reduced masks/samples/steps/windows and report those times unscaled.")
    var quick = false
    @Option(help: "Comma-separated explainer names (default: all registered).")
    var methods: String?
    @Option(help: "Comma-separated models: lenet, resnet18 (default: both).")
    var models: String = "lenet,resnet18"
    @Option(help: "Comma-separated batch sizes.")
    var batches: String = "1,16"
    @Option(help: "Seconds per call above which a cell is estimated from the reduced probe.")
    var budget: Double = 60

    /// Reduced-work parameters for a method and the factor by which full work exceeds them.
    static func probe(_ method: String, height: Int, width: Int) -> (params: [String: ParamValue], factor: Double)? {
        switch method {
        case "rise": return (["masks": .int(200)], 20)
        case "smoothgrad", "vargrad": return (["samples": .int(5)], 10)
        case "integrated_gradients": return (["steps": .int(5)], 10)
        case "occlusion":
            let w = OcclusionExplainer.defaultWindow(height: height, width: width)
            let full = OcclusionExplainer.starts(height, window: w, stride: w).count * OcclusionExplainer.starts(width, window: w, stride: w).count
            let s = 4 * w
            let reduced = OcclusionExplainer.starts(height, window: w, stride: s).count * OcclusionExplainer.starts(width, window: w, stride: s).count
            return (["window": .int(w), "stride": .int(s)], Double(full) / Double(reduced))
        default: return nil
        }
    }

    func run() throws {
        Threads.tuneAllocator()
        if let t = common.threads { Threads.set(t) } else { Threads.set(Threads.count) }
        let registry = Registry.shared
        let names = methods.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            ?? registry.explainers.map(\.name)
        let explainers = try names.map { try registry.explainer($0) }
        let batchSizes = batches.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        var nets: [(String, Graph, [Int])] = []
        for m in models.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            switch m {
            case "lenet": nets.append(("lenet5-caffe 28", try Architectures.lenet5Caffe(seed: 1), [1, 28, 28]))
            case "resnet18": nets.append(("resnet18 224", try Architectures.resnet18(seed: 1), [3, 224, 224]))
            default: throw ValidationError("unknown model '\(m)' (lenet, resnet18)")
            }
        }
        print("saliency-bench explain: \(Threads.count) thread(s), ms per map, median of up to \(common.runs) runs" + (quick ? " (quick: reduced work)" : ""))
        var columns: [String] = []
        var cells: [String: [String]] = [:]
        for (label, g, shape) in nets {
            g.freeze()
            for b in batchSizes {
                let column = "\(label) b\(b)"
                columns.append(column)
                var rng = RandomGenerator(seed: 2)
                let x = Tensor.uniform([b] + shape, rng: &rng)
                for e in explainers {
                    // A method that does not apply to a model (cam without a GAP head) shows n/a.
                    let cell: String
                    do { cell = try measure(e, g, x, shape: shape) } catch let err as PluginError {
                        cell = "n/a"
                        FileHandle.standardError.write("  \(e.name) on \(label): \(err)\n".data(using: .utf8)!)
                    }
                    cells[e.name, default: []].append(cell)
                    FileHandle.standardError.write("  \(pad(e.name, 22)) \(pad(column, 20)) \(cell) ms/map\n".data(using: .utf8)!)
                }
            }
        }
        let header = [pad("method", 22)] + columns.map { pad($0, 20) }
        print(header.joined(separator: " "))
        print(String(repeating: "-", count: header.joined(separator: " ").count))
        for e in explainers { print(([pad(e.name, 22)] + cells[e.name]!.map { pad($0, 20) }).joined(separator: " ")) }
        print("\nn/a: the method does not apply to the model (cam needs a GAP + linear head)")
        print("* estimated: probe with reduced work scaled linearly to the defaults (see --help); q: reduced work, unscaled")
        print("peak RSS: \(fmt(peakResidentMiB(), 0)) MiB")
    }

    /// One cell: ms per map as text.
    func measure(_ e: any Explainer, _ g: Graph, _ x: Tensor, shape: [Int]) throws -> String {
        let n = Double(x.shape[0])
        func once(_ p: [String: ParamValue]) throws -> Double {
            try explain(e, model: g, images: x, target: .predicted, params: p, seed: 1).seconds
        }
        func median(_ p: [String: ParamValue], runs: Int) throws -> Double {
            var t = try (0..<Swift.max(runs, 1)).map { _ in try once(p) }
            t.sort()
            return t[t.count / 2]
        }
        func runsFor(_ seconds: Double) -> Int { seconds < 1 ? Swift.max(common.runs, 1) : (seconds < 10 ? Swift.min(3, common.runs) : 1) }
        if let (reduced, factor) = Self.probe(e.name, height: shape[1], width: shape[2]) {
            let t = try once(reduced)  // also the warm-up
            if quick { return fmt(1000 * (try median(reduced, runs: runsFor(t))) / n) + " q" }
            if t * factor > budget { return fmt(1000 * t * factor / n) + " *" }
            return fmt(1000 * (try median([:], runs: runsFor(t * factor))) / n)
        }
        let t = try once([:])  // warm-up
        return fmt(1000 * (try median([:], runs: runsFor(t))) / n)
    }
}
