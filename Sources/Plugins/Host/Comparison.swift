import Dispatch
import Runtime

/// A comparison: every method on every model over the same images, then every metric on
/// every map. This is what `explain(models, data, [methods])` and `metric([metrics], maps)`
/// do in the language with lists, and what a pipeline's explain/metric steps lower to.
public struct ComparisonMaps: Sendable {
    public struct Entry: Sendable {
        public var model: String
        /// The method's label in tables and montages (its name unless the spec gives a label).
        public var method: String
        public var saliency: SaliencyMap
    }
    /// The explained images [N, C, H, W] (one batch shared by every model and method).
    public var images: Tensor
    public var labels: [Int]?
    public var groundTruth: GroundTruth
    public var entries: [Entry]
    public var seed: UInt64
    /// Models by name, so metrics can re-run them.
    public var models: [String: Graph]
    /// The dataset fitting methods were fitted on, so metrics that re-explain can refit.
    public var fitDataset: (any Dataset)? = nil
}

public struct MethodSpec: Sendable {
    public var name: String
    public var params: [String: ParamValue]
    /// How tables and montages name this entry; lets one method appear several times with
    /// different parameters (Noise Mask on six layers).
    public var label: String?
    public init(_ name: String, params: [String: ParamValue] = [:], label: String? = nil) {
        self.name = name; self.params = params; self.label = label
    }
    public var displayName: String { label ?? name }
}

/// One (model, method) block of maps over a comparison's images: everything its result depends on.
public struct MapsBlock {
    public let model: Graph
    public let explainer: any Explainer
    /// The parameters as given (`explain` resolves them against the explainer's schema).
    public let params: [String: ParamValue]
    /// All of the comparison's images; the block explains them batch by batch.
    public let images: Tensor
    public let target: Target
    public let score: ScoreKind
    /// The batches and their seeds: both shape the result (seeded methods draw per batch).
    public let batches: [(range: Range<Int>, seed: UInt64)]
    /// The fitted state's cache key, for methods with a fit phase (what they learned shapes the maps).
    public var fitKey: String? = nil
}

/// One (maps block, metric) block of scores.
public struct ScoresBlock {
    public let model: Graph
    public let images: Tensor
    public let saliency: SaliencyMap
    public let metric: any Metric
    /// The parameters as given (`evaluate` resolves them against the metric's schema).
    public let params: [String: ParamValue]
    public let groundTruth: GroundTruth
    public let seed: UInt64
    /// `identity()` of the dataset fitting methods were fitted on, when there is one: metrics
    /// that re-explain refit on it, so it shapes their result.
    public var fitDataset: String? = nil
}

/// Where a comparison finds blocks that an earlier (interrupted) run already finished, and
/// leaves the ones it computes. A block is the unit of resumption: one (model, method) pair's
/// maps, or one metric on one such pair. The cache either returns a stored result or calls
/// `compute` and keeps what it returns; an interruption inside `compute` stores nothing.
/// The pipeline runner supplies one (`--resume`); scripts run without.
public protocol ComparisonBlockCache: AnyObject {
    func maps(_ block: MapsBlock, compute: () throws -> SaliencyMap) throws -> SaliencyMap
    func scores(_ block: ScoresBlock, compute: () throws -> MetricResult) throws -> MetricResult
}

public enum Comparison {
    /// Explains `images` with every method on every model. Progress counts maps done.
    public static func explainAll(models: [(name: String, graph: Graph)], methods: [MethodSpec], images: Tensor, labels: [Int]? = nil,
                                  groundTruth: GroundTruth = GroundTruth(), target: Target = .predicted, score: ScoreKind = .logit,
                                  seed: UInt64 = 0, registry: Registry = .shared, batchSize: Int = 16,
                                  cancellation: CancellationToken = .never, cache: (any ComparisonBlockCache)? = nil,
                                  progress: (@Sendable (String, Int, Int) -> Void)? = nil,
                                  fitter: ((Graph, any Explainer, MethodSpec) throws -> FitState)? = nil,
                                  fitDataset: (any Dataset)? = nil) throws -> ComparisonMaps {
        let explainers = try methods.map { try registry.explainer($0.name) }
        let n = images.shape[0]
        guard n > 0 else { throw PluginError.invalid("there are no images to explain (a batch of 0)") }
        var entries: [ComparisonMaps.Entry] = []
        for m in models {
            for (k, spec) in methods.enumerated() {
                try cancellation.check()
                // Fitting methods are fitted (or their cached state loaded) once per model.
                let state = explainers[k].capabilities.contains(.fits) ? try fitter?(m.graph, explainers[k], spec) : nil
                // The same seed for a (model, method) pair whatever else runs, so results do
                // not depend on the order or the subset of methods in the comparison: derived
                // from the names, not from positions in the lists.
                let pairSeed = stableSeed("\(m.name)\u{0}\(spec.displayName)")
                let batches = stride(from: 0, to: n, by: max(batchSize, 1)).map { start in
                    (range: start..<min(start + batchSize, n), seed: seed &+ UInt64(start) &* 0x9E37_79B9 &+ pairSeed)
                }
                let compute = { () throws -> SaliencyMap in
                    var parts: [SaliencyMap] = []
                    for b in batches {
                        parts.append(try explain(explainers[k], model: m.graph, images: images.slice(axis: 0, b.range), target: target,
                                                 params: spec.params, score: score, seed: b.seed, cancellation: cancellation, fitted: state))
                        progress?("\(m.name) / \(spec.displayName)", b.range.upperBound, n)
                    }
                    return try merge(parts)
                }
                let saliency: SaliencyMap
                if let cache {
                    saliency = try cache.maps(MapsBlock(model: m.graph, explainer: explainers[k], params: spec.params, images: images,
                                                        target: target, score: score, batches: batches, fitKey: state?.key), compute: compute)
                    progress?("\(m.name) / \(spec.displayName)", n, n)
                } else {
                    saliency = try compute()
                }
                entries.append(.init(model: m.name, method: spec.displayName, saliency: saliency))
            }
        }
        return ComparisonMaps(images: images, labels: labels, groundTruth: groundTruth, entries: entries, seed: seed,
                              models: Dictionary(models.map { ($0.name, $0.graph) }, uniquingKeysWith: { a, _ in a }), fitDataset: fitDataset)
    }

    /// FNV-1a of a string: a seed that is the same in every process (Swift's `Hasher` is
    /// randomised per process, so `hashValue` would not do).
    static func stableSeed(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// Concatenates per-batch maps of one (model, method) pair.
    static func merge(_ parts: [SaliencyMap]) throws -> SaliencyMap {
        guard var first = parts.first else { throw PluginError.invalid("there are no maps to merge (no images)") }
        guard parts.count > 1 else { return first }
        first.map = Tensor.concat(parts.map(\.map), axis: 0)
        let attributions = parts.compactMap(\.attribution), names = parts.compactMap(\.targetNames)
        if attributions.count == parts.count { first.attribution = Tensor.concat(attributions, axis: 0) }
        first.targets = parts.flatMap(\.targets)
        first.targetNames = names.count == parts.count ? names.flatMap { $0 } : nil
        first.seconds = parts.map(\.seconds).reduce(0, +)
        var scalars: [String: [Double]] = [:], curves: [String: [[Double]]] = [:]
        for p in parts {
            for (k, v) in p.scalars { scalars[k, default: []] += v }
            for (k, v) in p.curves { curves[k, default: []] += v }
        }
        first.scalars = scalars
        first.curves = curves
        return first
    }

    /// One row per image x model x method x metric, then aggregate rows (mean, std, 95% CI)
    /// per model x method x metric. Curves are returned alongside for reports.
    public static func score(_ maps: ComparisonMaps, metrics: [MethodSpec], registry: Registry = .shared,
                             cancellation: CancellationToken = .never, cache: (any ComparisonBlockCache)? = nil,
                             progress: (@Sendable (String, Int, Int) -> Void)? = nil) throws -> ComparisonScores {
        let ms = try metrics.map { try registry.metric($0.name) }
        var rows: [ComparisonScores.Row] = []
        var curves: [ComparisonScores.CurveKey: [[(x: Double, y: Double)]]] = [:]
        let total = maps.entries.count * metrics.count
        var done = 0
        let fitIdentity = try maps.fitDataset.map { try $0.identity() }
        for e in maps.entries {
            guard let model = maps.models[e.model] else { continue }
            let explainer = try? registry.explainer(e.saliency.method)
            for (k, spec) in metrics.enumerated() {
                try cancellation.check()
                let compute = {
                    try evaluate(ms[k], model: model, images: maps.images, saliency: e.saliency, params: spec.params,
                                 groundTruth: maps.groundTruth, seed: maps.seed &+ UInt64(k), cancellation: cancellation,
                                 explainer: explainer, fitDataset: maps.fitDataset)
                }
                let r = try cache.map {
                    try $0.scores(ScoresBlock(model: model, images: maps.images, saliency: e.saliency, metric: ms[k], params: spec.params,
                                              groundTruth: maps.groundTruth, seed: maps.seed &+ UInt64(k), fitDataset: fitIdentity),
                                  compute: compute)
                } ?? compute()
                for (i, v) in r.values.enumerated() {
                    rows.append(.init(image: i, model: e.model, method: e.method, metric: spec.name, value: v))
                }
                if let c = r.curves { curves[.init(model: e.model, method: e.method, metric: spec.name)] = c }
                done += 1
                progress?("\(e.model) / \(e.method) / \(spec.name)", done, total)
            }
        }
        return ComparisonScores(rows: rows, curves: curves, seconds: Dictionary(maps.entries.map { ("\($0.model)/\($0.method)", $0.saliency.secondsPerMap) }, uniquingKeysWith: { a, _ in a }))
    }
}

public struct ComparisonScores: Sendable {
    public struct Row: Sendable, Equatable {
        public var image: Int, model: String, method: String, metric: String, value: Double
        public init(image: Int, model: String, method: String, metric: String, value: Double) {
            self.image = image; self.model = model; self.method = method; self.metric = metric; self.value = value
        }
    }
    public struct CurveKey: Hashable, Sendable {
        public var model: String, method: String, metric: String
        public init(model: String, method: String, metric: String) { self.model = model; self.method = method; self.metric = metric }
    }
    public var rows: [Row]
    public var curves: [CurveKey: [[(x: Double, y: Double)]]]
    /// Seconds per map by "model/method".
    public var seconds: [String: Double]

    public init(rows: [Row], curves: [CurveKey: [[(x: Double, y: Double)]]], seconds: [String: Double]) {
        self.rows = rows; self.curves = curves; self.seconds = seconds
    }

    /// Mean curve over images (curves are sampled at the same x for every image of a metric).
    public func meanCurve(_ key: CurveKey) -> [(x: Double, y: Double)]? {
        guard let cs = curves[key], let first = cs.first, cs.allSatisfy({ $0.count == first.count }) else { return nil }
        return first.indices.map { j in (first[j].x, cs.map { $0[j].y }.reduce(0, +) / Double(cs.count)) }
    }

}
