import Foundation
import Plugins
import Runtime

extension Builtins {
    static func isComparison(_ v: Value) -> Bool {
        if case .comparison = v { return true }
        if case let .list(items) = v { return !items.isEmpty && items.allSatisfy { if case .comparison = $0 { return true }; return false } }
        return false
    }

    /// The HTML report of one or more comparisons, results first: per comparison its summary
    /// table (the best value of each metric in bold), the montage, the mean metric curves
    /// and what the methods report about themselves; then, folded, every image's values; at
    /// the end the pipeline (parameters and seed shown, its text folded) and the environment.
    static func comparisonReport(_ v: Value, interpreter: Interpreter) throws -> HTMLReport {
        let comparisons: [ComparisonValue]
        switch v {
        case let .comparison(c): comparisons = [c]
        case let .list(items): comparisons = items.compactMap { if case let .comparison(c) = $0 { return c }; return nil }
        default: comparisons = []
        }
        var r = HTMLReport(title: interpreter.pipeline.map { "saliency-repl: \($0.name)" } ?? "saliency-repl report")
        let metrics = Dictionary(interpreter.registry.metrics.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for c in comparisons {
            r.heading(c.name)
            r.paragraph(c.summary)
            let summary = c.summaryTable
            let best = bestCells(summary, metrics: metrics)
            r.table(summary) { best.contains([$0, $1]) }
            let directions = summary.columns.compactMap { m in metrics[m].flatMap { $0.direction == .neither ? nil : "\(m): \($0.direction.rawValue)" } }
            if !directions.isEmpty { r.paragraph("Bold: the best mean of each metric (" + directions.joined(separator: "; ") + ").") }
            try reportMontage(c, into: &r)
            curves(c, metrics: metrics, into: &r)
            if let diagnostics = c.diagnosticsTable {
                r.paragraph("What the methods report about themselves (mean over images):")
                r.table(diagnostics)
            }
            if let sc = c.scores {
                let names = sc.rows.reduce(into: [String]()) { if !$0.contains($1.metric) { $0.append($1.metric) } }
                var targets: [Int: String] = [:]
                for (i, t) in (c.montageTargets ?? []).enumerated() { targets[c.maps.firstIndex + i] = t }
                let images = Set(sc.rows.map(\.image)).count, methods = Set(sc.rows.map { "\($0.model)/\($0.method)" }).count
                r.folded("\(c.name): every image (\(images) image(s) x \(methods) method(s), one table per metric)") { inner in
                    for name in names {
                        inner.subheading(name)
                        inner.table(Table(perImageOf: sc, metric: name, targets: targets))
                    }
                }
            }
        }
        if let p = interpreter.pipeline {
            r.heading("Pipeline")
            var kv: [(String, String)] = [("file", p.file), ("seed", String(p.seed))]
            for (k, v) in p.params.sorted(by: { $0.key < $1.key }) { if case let .scalar(s, _, _) = v { kv.append(("params.\(k)", s)) } }
            r.keyValues(kv)
            let lines = p.source.split(separator: "\n", omittingEmptySubsequences: false).count
            r.folded("\((p.file as NSString).lastPathComponent) (\(lines) lines)") { $0.code(p.source) }
        } else {
            r.heading("Session")
            r.keyValues([("seed", String(interpreter.seed))])
        }
        r.heading("Environment")
        r.keyValues(HTMLReport.environment(threads: Threads.count))
        return r
    }

    /// [row, column] of the best finite value in each metric column with a direction.
    static func bestCells(_ t: Table, metrics: [String: any Metric]) -> Set<[Int]> {
        var cells: Set<[Int]> = []
        for (j, name) in t.columns.enumerated() {
            guard let direction = metrics[name]?.direction, direction != .neither else { continue }
            let values = t.rows.enumerated().compactMap { i, row -> (Int, Double)? in
                guard j < row.count, case let .number(v) = row[j], v.isFinite else { return nil }
                return (i, v)
            }
            let target = direction == .lowerIsBetter ? values.map(\.1).min() : values.map(\.1).max()
            for (i, v) in values where v == target && values.count > 1 { cells.insert([i, j]) }
        }
        return cells
    }

    /// The montage as an HTML grid: the column labels are page text, so they read at any zoom.
    static func reportMontage(_ c: ComparisonValue, into r: inout HTMLReport) throws {
        let total = c.maps.images.shape[0]
        let shown = try MontageRows.standard.resolve(total: total)
        let columns = c.montageColumns()
        let targets = c.montageTargets
        let rows = shown.map { i in
            (label: "#\(c.maps.firstIndex + i)" + (targets.map { i < $0.count ? " \($0[i])" : "" } ?? ""), cells: columns.map { $0.cell(i) })
        }
        let size = Swift.max(c.maps.images.shape[2], c.maps.images.shape[3])
        r.paragraph("Rows: images (target class); columns: the input, then each method's map over it (jet: blue low, red high).")
        try r.imageGrid(columns: columns.map(\.label), rows: rows, cellWidth: gridCellWidth(imageSize: size, columns: columns.count),
                        note: MontageRows.note(shown: shown, total: total).map { _ in
                            "\(shown.count) of \(total) images shown; every image is in the tables below, and a montage saved as .png takes rows: (a count or image indices)"
                        })
    }

    /// Display width of a montage cell: at most 128 px, and narrow enough that the grid fits
    /// the 1100 px page beside its row labels (15 columns of the demo: 63 px); small images
    /// by whole multiples, so their pixels stay square.
    static func gridCellWidth(imageSize size: Int, columns: Int) -> Int {
        let budget = Swift.min(128, 950 / Swift.max(columns, 1))
        guard size > 0, size < budget else { return Swift.max(budget, 48) }
        return size * (budget / size)
    }

    /// Per-iteration curves the methods record (Noise Mask's preservation and loss terms),
    /// then each metric's mean curve over images with its axes named by the metric.
    static func curves(_ c: ComparisonValue, metrics: [String: any Metric], into r: inout HTMLReport) {
        let curveNames = Set(c.maps.entries.flatMap { $0.saliency.curves.keys }).sorted()
        for name in curveNames {
            let series = c.maps.entries.compactMap { e -> (name: String, points: [(x: Double, y: Double)])? in
                guard let per = e.saliency.curves[name], let first = per.first, per.allSatisfy({ $0.count == first.count }) else { return nil }
                return (e.method, first.indices.map { j in (Double(j + 1), per.map { $0[j] }.reduce(0, +) / Double(per.count)) })
            }
            if !series.isEmpty { r.curves("\(name) per iteration (mean over images)", series: series, xLabel: "iteration", yLabel: name) }
        }
        guard let sc = c.scores else { return }
        let keys = Array(sc.curves.keys)
        let multiModel = Set(keys.map(\.model)).count > 1
        for metric in Set(keys.map(\.metric)).sorted() {
            // In the montage's and summary's order, so each method keeps its place (and style).
            let order = c.maps.entries.map { "\($0.model)/\($0.method)" }
            func rank(_ k: ComparisonScores.CurveKey) -> Int { order.firstIndex(of: "\(k.model)/\(k.method)") ?? order.count }
            let series = keys.filter { $0.metric == metric }.sorted { (rank($0), $0.model, $0.method) < (rank($1), $1.model, $1.method) }
                .compactMap { k in sc.meanCurve(k).map { (name: multiModel ? "\(k.model)/\(k.method)" : k.method, points: $0) } }
            let axes = metrics[metric]?.curveAxes ?? (x: "curve point", y: metric)
            if !series.isEmpty {
                r.curves("\(metric): mean curve over images", series: series, xLabel: axes.x, yLabel: axes.y, showArea: true)
            }
        }
    }
}
