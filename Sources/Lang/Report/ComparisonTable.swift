import Plugins

extension Table {
    /// The comparison table: one row per image x model x method x metric (when `perImage`),
    /// then one aggregate row per model x method x metric with n, mean, std and the 95%
    /// confidence interval of the mean.
    public init(scores: ComparisonScores, perImage: Bool = true) {
        self.init(columns: ["image", "model", "method", "metric", "value", "n", "std", "ci95_low", "ci95_high"], rows: [])
        if perImage {
            for r in scores.rows {
                rows.append([.number(Double(r.image)), .string(r.model), .string(r.method), .string(r.metric), .number(r.value), .none, .none, .none, .none])
            }
        }
        for g in Table.groups(scores) {
            let a = aggregate(g.values, bounds: scores.bounds[g.metric])
            rows.append([.string("mean"), .string(g.model), .string(g.method), .string(g.metric), .number(a.mean), .number(Double(a.n)),
                         .number(a.std), .number(a.ci95Low), .number(a.ci95High)])
        }
    }

    /// The per-image rows alone (image, model, method, metric, value): what pandas and
    /// numpy read as one numeric table.
    public init(perImageScores scores: ComparisonScores) {
        self.init(columns: ["image", "model", "method", "metric", "value"], rows: scores.rows.map { r in
            [.number(Double(r.image)), .string(r.model), .string(r.method), .string(r.metric), .number(r.value)]
        })
    }

    /// One row per model x method x metric: n, mean, std and the 95% CI of the mean (clipped
    /// to the metric's range when it has one).
    public init(aggregatesOf scores: ComparisonScores) {
        self.init(columns: ["model", "method", "metric", "n", "mean", "std", "ci95_low", "ci95_high"], rows: Table.groups(scores).map { g in
            let a = aggregate(g.values, bounds: scores.bounds[g.metric])
            return [.string(g.model), .string(g.method), .string(g.metric), .number(Double(a.n)), .number(a.mean), .number(a.std),
                    .number(a.ci95Low), .number(a.ci95High)]
        })
    }

    /// Summary: one row per model x method, one column per metric (mean), plus ms per map.
    public init(summaryOf scores: ComparisonScores) {
        let groups = Table.groups(scores)
        var metrics: [String] = []
        for g in groups where !metrics.contains(g.metric) { metrics.append(g.metric) }
        self.init(columns: ["model", "method"] + metrics + ["ms/map"], rows: [])
        var pairs: [(String, String)] = []
        for g in groups where !pairs.contains(where: { $0 == (g.model, g.method) }) { pairs.append((g.model, g.method)) }
        for (model, method) in pairs {
            var row: [Value] = [.string(model), .string(method)]
            for m in metrics {
                let values = groups.first { $0.model == model && $0.method == method && $0.metric == m }?.values
                row.append(values.map { .number(aggregate($0).mean) } ?? .none)
            }
            row.append(scores.seconds["\(model)/\(method)"].map { .number(($0 * 1000 * 100).rounded() / 100) } ?? .none)
            rows.append(row)
        }
    }

    /// Rows grouped by model x method x metric, in first-appearance order.
    static func groups(_ scores: ComparisonScores) -> [(model: String, method: String, metric: String, values: [Double])] {
        var order: [String] = [], byKey: [String: (String, String, String, [Double])] = [:]
        for r in scores.rows {
            let key = "\(r.model)\u{1}\(r.method)\u{1}\(r.metric)"
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: (r.model, r.method, r.metric, [])].3.append(r.value)
        }
        return order.compactMap { byKey[$0] }.map { ($0.0, $0.1, $0.2, $0.3) }
    }
}

/// The aggregate of values in `bounds`: a t-interval can reach past the range (an AUC's
/// interval above 1), so its ends are clipped to it.
func aggregate(_ values: [Double], bounds: ClosedRange<Double>?) -> Aggregate {
    var a = aggregate(values)
    if let b = bounds {
        if a.ci95Low.isFinite { a.ci95Low = Swift.min(Swift.max(a.ci95Low, b.lowerBound), b.upperBound) }
        if a.ci95High.isFinite { a.ci95High = Swift.min(Swift.max(a.ci95High, b.lowerBound), b.upperBound) }
    }
    return a
}
