import Foundation
import Plugins
import Runtime

extension Builtins {
    static func isComparison(_ v: Value) -> Bool {
        if case .comparison = v { return true }
        if case let .list(items) = v { return !items.isEmpty && items.allSatisfy { if case .comparison = $0 { return true }; return false } }
        return false
    }

    /// The HTML report of one or more comparisons: the pipeline (text, parameters, seed) when
    /// run from one, each comparison's summary table (metric means and ms per map), montage,
    /// mean metric curves and full table, then the environment.
    static func comparisonReport(_ v: Value, interpreter: Interpreter) throws -> HTMLReport {
        let comparisons: [ComparisonValue]
        switch v {
        case let .comparison(c): comparisons = [c]
        case let .list(items): comparisons = items.compactMap { if case let .comparison(c) = $0 { return c }; return nil }
        default: comparisons = []
        }
        var r = HTMLReport(title: interpreter.pipeline.map { "saliency-repl: \($0.name)" } ?? "saliency-repl report")
        if let p = interpreter.pipeline {
            r.heading("Pipeline")
            var kv: [(String, String)] = [("file", p.file), ("seed", String(p.seed))]
            for (k, v) in p.params.sorted(by: { $0.key < $1.key }) { if case let .scalar(s, _, _) = v { kv.append(("params.\(k)", s)) } }
            r.keyValues(kv)
            r.code(p.source)
        } else {
            r.keyValues([("seed", String(interpreter.seed))])
        }
        for c in comparisons {
            r.heading(c.name)
            r.paragraph(c.summary)
            r.table(c.summaryTable)
            try r.image(c.montageImage(), caption: "rows: images (target class); columns: input, then each method's map over it (jet)")
            if let diagnostics = c.diagnosticsTable {
                r.paragraph("What the methods report about themselves (mean over images):")
                r.table(diagnostics)
            }
            // Per-iteration curves methods record (Noise Mask's preservation and loss terms).
            let curveNames = Set(c.maps.entries.flatMap { $0.saliency.curves.keys }).sorted()
            for name in curveNames {
                let series = c.maps.entries.compactMap { e -> (name: String, points: [(x: Double, y: Double)])? in
                    guard let per = e.saliency.curves[name], let first = per.first, per.allSatisfy({ $0.count == first.count }) else { return nil }
                    return (e.method, first.indices.map { j in (Double(j + 1), per.map { $0[j] }.reduce(0, +) / Double(per.count)) })
                }
                if !series.isEmpty { r.curves("\(name) per iteration (mean over images)", series: series, xLabel: "iteration", yLabel: name) }
            }
            if let sc = c.scores {
                let keys = Array(sc.curves.keys)
                for metric in Set(keys.map(\.metric)).sorted() {
                    let series = keys.filter { $0.metric == metric }.sorted { ($0.model, $0.method) < ($1.model, $1.method) }
                        .compactMap { k in sc.meanCurve(k).map { (name: Set(keys.map(\.model)).count > 1 ? "\(k.model)/\(k.method)" : k.method, points: $0) } }
                    if !series.isEmpty { r.curves("\(metric): mean curve over images", series: series, xLabel: "x", yLabel: metric) }
                }
                r.heading("\(c.name): every image")
                r.table(c.table)
            }
        }
        r.heading("Environment")
        r.keyValues(HTMLReport.environment(threads: Threads.count))
        return r
    }
}
