import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// |x| raised to `power`, channel max: a map whose values are known exactly.
struct AbsExplainer: Explainer {
    let name = "test_abs"
    let summary = "channel max of |x|^power (test)"
    let reference = "test"
    var parameters: [ParamSpec] { [ParamSpec("power", .float, default: .float(1), range: 0...4, doc: "exponent")] }
    func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let p = Float(try ctx.params.float("power"))
        let a = ctx.images.abs()
        let powered = Tensor(shape: a.shape, data: a.scalars.map { Foundation.pow($0, p) })
        return Explanation(map: powered.max(axis: 1, keepDims: true))
    }
}

/// Spins until cancelled: what Ctrl-C must be able to stop.
struct SlowExplainer: Explainer {
    let name = "test_slow"
    let summary = "waits for cancellation (test)"
    let reference = "test"
    /// Signalled when a call starts, so a test cancels a running call (not one that has not begun).
    static let started = DispatchSemaphore(value: 0)
    func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        Self.started.signal()
        while true { try ctx.cancellation.check(); usleep(1000) }
    }
}

/// Mean of each image's map.
struct MeanMetric: Metric {
    let name = "test_mean"
    let summary = "mean map value (test)"
    let reference = "test"
    let direction = MetricDirection.neither
    func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let m = ctx.saliency.map
        let n = m.shape[0], per = m.count / n
        return MetricResult(values: (0..<n).map { i in Double(m.scalars[(i * per)..<((i + 1) * per)].reduce(0, +)) / Double(per) })
    }
}

/// Fraction of map mass inside the ground-truth mask.
struct MaskMetric: Metric {
    let name = "test_inside"
    let summary = "map mass inside the mask (test)"
    let reference = "test"
    let direction = MetricDirection.higherIsBetter
    let needsGroundTruth = true
    func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let m = ctx.saliency.map.scalars, k = ctx.groundTruth.masks!.scalars
        let n = ctx.saliency.count, per = m.count / n
        return MetricResult(values: (0..<n).map { i in
            let r = (i * per)..<((i + 1) * per)
            let total = m[r].reduce(0, +)
            return Double(zip(m[r], k[r]).map { $0 * $1 }.reduce(0, +) / total)
        })
    }
}

/// Images [1, 28, 28] that are 0 except a bright 4x4 square at (i, i); label i % 10.
struct SquaresDataset: Dataset {
    let name = "test_squares"
    let classNames = (0..<10).map { "c\($0)" }
    let count: Int
    func example(_ index: Int) throws -> Example {
        var v = [Float](repeating: 0, count: 28 * 28)
        for y in index..<(index + 4) { for x in index..<(index + 4) { v[y * 28 + x] = 1 } }
        let t = Tensor(shape: [1, 28, 28], data: v)
        return Example(image: t, label: index % 10, mask: t, box: [index, index, index + 4, index + 4])
    }
}

struct SquaresProvider: DatasetProvider {
    let name = "test_squares"
    let summary = "bright squares (test)"
    var parameters: [ParamSpec] { [ParamSpec("count", .int, default: .int(8), range: 1...20, doc: "examples")] }
    func open(split: String, params: Params) throws -> any Dataset {
        guard split == "test" else { throw PluginError.invalid("test_squares has only a test split, not '\(split)'") }
        return SquaresDataset(count: try params.int("count"))
    }
}

func langTestRegistry() -> Registry {
    let r = Registry(builtins: false)
    r.register(AbsExplainer())
    r.register(SlowExplainer())
    r.register(MeanMetric())
    r.register(MaskMetric())
    r.register(SquaresProvider())
    return r
}

/// Runs a script; returns the printed lines and the error, if any.
func run(_ text: String, file: String = "t.sal", registry: Registry = langTestRegistry(), interpreter: Interpreter? = nil) -> (lines: [String], error: ScriptError?) {
    var lines: [String] = []
    let interp = interpreter ?? Interpreter(registry: registry)
    interp.output = { item in
        switch item {
        case let .text(s): lines += s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        case let .table(t): lines += t.rendered().split(separator: "\n").map(String.init)
        case let .image(p, caption): lines.append("[image \(p.shape) \(caption)]")
        }
    }
    do { try interp.run(text, file: file); return (lines, nil) } catch let e as ScriptError { return (lines, e) } catch { Issue.record("unexpected \(error)"); return (lines, nil) }
}

/// The rendered error of a script that must fail.
func errorText(_ text: String, registry: Registry = langTestRegistry()) -> String {
    let r = run(text, registry: registry)
    #expect(r.error != nil, "expected an error")
    return r.error?.description ?? ""
}

var repositoryRoot: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
