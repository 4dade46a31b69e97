import Plugins

extension Table {
    /// One metric's values as a wide table: a row per image (its number in the dataset and
    /// target), a column per model/method, then rows with the mean, standard deviation and
    /// 95% confidence interval of the mean of each column. What a person reads image by
    /// image, where the long format (one row per image x method x metric) is for programs.
    public init(perImageOf scores: ComparisonScores, metric: String, targets: [Int: String] = [:]) {
        let rows = scores.rows.filter { $0.metric == metric }
        let multiModel = Set(rows.map(\.model)).count > 1
        var keys: [String] = [], images: [Int] = []
        var value: [String: [Int: Double]] = [:]
        for r in rows {
            let key = multiModel ? "\(r.model)/\(r.method)" : r.method
            if value[key] == nil { keys.append(key) }
            if !images.contains(r.image) { images.append(r.image) }
            value[key, default: [:]][r.image] = r.value
        }
        let withTargets = !targets.isEmpty
        self.init(columns: ["image"] + (withTargets ? ["target"] : []) + keys, rows: [])
        for i in images.sorted() {
            self.rows.append([.number(Double(i))] + (withTargets ? [targets[i].map(Value.string) ?? .none] : [])
                             + keys.map { k in value[k]?[i].map(Value.number) ?? .none })
        }
        let aggregates = keys.map { k in aggregate(images.compactMap { value[k]?[$0] }, bounds: scores.bounds[metric]) }
        let pad: [Value] = withTargets ? [.none] : []
        for (label, pick) in [("mean", \Aggregate.mean), ("std", \Aggregate.std), ("ci95 low", \Aggregate.ci95Low), ("ci95 high", \Aggregate.ci95High)] {
            self.rows.append([.string(label)] + pad + aggregates.map { a in a[keyPath: pick].isFinite ? .number(a[keyPath: pick]) : .none })
        }
    }
}
