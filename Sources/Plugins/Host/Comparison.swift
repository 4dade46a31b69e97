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
        /// Explain time of each batch, seconds, in batch order: metrics score a batch's maps as
        /// one block, with the time that batch took (what "time per map" reads).
        public var batchSeconds: [Double]
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
    /// Index of `images[0]` in the whole dataset: nonzero in one shard of a sharded run.
    /// Batches, their random streams and the rows' image numbers follow the index in the
    /// whole dataset, so a shard computes exactly what an unsharded run computes for its images.
    public var firstIndex: Int
    /// Images per batch: the unit of explaining, scoring, resuming and sharding.
    public var batchSize: Int
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
    /// The batches (indices in the whole dataset) and their seeds: both shape the result
    /// (seeded methods draw per batch). A comparison makes one block per batch.
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
    /// The batch's images as indices in the whole dataset.
    public let range: Range<Int>
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
    /// Explains `images` with every method on every model, batch by batch (each batch is one
    /// cache block). `images` are the whole dataset's images `firstIndex..<firstIndex + n`
    /// (`firstIndex` a multiple of `batchSize`: a shard of a sharded run); a batch's seed
    /// comes from its index in the whole dataset, so sharding never changes a random stream.
    /// Progress counts maps (images x models x methods) done out of all of them, and ticks
    /// within a batch as the method reports its own steps (RISE's masks, IG's steps).
    public static func explainAll(models: [(name: String, graph: Graph)], methods: [MethodSpec], images: Tensor, labels: [Int]? = nil,
                                  groundTruth: GroundTruth = GroundTruth(), target: Target = .predicted, score: ScoreKind = .logit,
                                  seed: UInt64 = 0, registry: Registry = .shared, batchSize: Int = 16, firstIndex: Int = 0,
                                  cancellation: CancellationToken = .never, cache: (any ComparisonBlockCache)? = nil,
                                  progress: (@Sendable (String, Int, Int) -> Void)? = nil,
                                  fitter: ((Graph, any Explainer, MethodSpec) throws -> FitState)? = nil,
                                  fitDataset: (any Dataset)? = nil) throws -> ComparisonMaps {
        let explainers = try methods.map { try registry.explainer($0.name) }
        let n = images.shape[0], size = max(batchSize, 1)
        // A shard past the end of a small dataset has no images; anything else without images is a mistake.
        guard n > 0 || firstIndex > 0 else { throw PluginError.invalid("there are no images to explain (a batch of 0)") }
        let ranges = batchRanges(count: n, batchSize: size)
        var entries: [ComparisonMaps.Entry] = []
        let total = models.count * methods.count * n
        var finished = 0
        for m in models {
            for (k, spec) in methods.enumerated() {
                try cancellation.check()
                // Fitting methods are fitted (or their cached state loaded) once per model.
                let state = explainers[k].capabilities.contains(.fits) ? try fitter?(m.graph, explainers[k], spec) : nil
                // The same seed for a (model, method) pair whatever else runs, so results do
                // not depend on the order or the subset of methods in the comparison: derived
                // from the names, not from positions in the lists.
                let pairSeed = stableSeed("\(m.name)\u{0}\(spec.displayName)")
                var parts: [SaliencyMap] = []
                for r in ranges {
                    let start = firstIndex + r.lowerBound
                    let batchSeed = seed &+ UInt64(start) &* 0x9E37_79B9 &+ pairSeed
                    let x = r.count == n ? images : images.slice(axis: 0, r)
                    let label = "\(m.name) / \(spec.displayName)", before = finished, size = r.count
                    var ticks: (@Sendable (Int, Int) -> Void)? = nil
                    if let report = progress {
                        ticks = { (step: Int, steps: Int) -> Void in
                            report(label, before + size * Swift.min(step, steps) / Swift.max(steps, 1), total)
                        }
                    }
                    let compute = {
                        try explain(explainers[k], model: m.graph, images: x, target: target.slice(r), params: spec.params, score: score,
                                    seed: batchSeed, cancellation: cancellation, progress: ticks, fitted: state)
                    }
                    parts.append(try cache.map {
                        try $0.maps(MapsBlock(model: m.graph, explainer: explainers[k], params: spec.params, images: x, target: target.slice(r),
                                              score: score, batches: [(range: start..<(start + r.count), seed: batchSeed)],
                                              fitKey: state?.key), compute: compute)
                    } ?? compute())
                    finished += r.count
                    progress?(label, finished, total)
                }
                let saliency = try parts.isEmpty ? noMaps(explainers[k], spec, images) : merge(parts)
                entries.append(.init(model: m.name, method: spec.displayName, saliency: saliency, batchSeconds: parts.map(\.seconds)))
            }
        }
        return ComparisonMaps(images: images, labels: labels, groundTruth: groundTruth, entries: entries, seed: seed,
                              models: Dictionary(models.map { ($0.name, $0.graph) }, uniquingKeysWith: { a, _ in a }),
                              fitDataset: fitDataset, firstIndex: firstIndex, batchSize: size)
    }

    /// `0..<n` in consecutive batches of `batchSize` (the last one shorter).
    public static func batchRanges(count n: Int, batchSize: Int) -> [Range<Int>] {
        stride(from: 0, to: n, by: max(batchSize, 1)).map { $0..<min($0 + max(batchSize, 1), n) }
    }

    /// The maps of a comparison without images (a shard whose share of a small dataset is empty).
    static func noMaps(_ explainer: any Explainer, _ spec: MethodSpec, _ images: Tensor) throws -> SaliencyMap {
        SaliencyMap(map: Tensor(shape: [0, 1, images.shape[2], images.shape[3]], repeating: 0), method: explainer.name,
                    params: try Params.resolve(spec.params, schema: explainer.parameters, plugin: explainer.name), targets: [])
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
    /// per model x method x metric. Curves are returned alongside for reports. Each metric
    /// scores the maps batch by batch, in the batches they were explained in (one cache block
    /// each), with a seed from the batch's index in the whole dataset.
    public static func score(_ maps: ComparisonMaps, metrics: [MethodSpec], registry: Registry = .shared,
                             cancellation: CancellationToken = .never, cache: (any ComparisonBlockCache)? = nil,
                             progress: (@Sendable (String, Int, Int) -> Void)? = nil) throws -> ComparisonScores {
        let ms = try metrics.map { try registry.metric($0.name) }
        var rows: [ComparisonScores.Row] = []
        var curves: [ComparisonScores.CurveKey: [[(x: Double, y: Double)]]] = [:]
        let total = maps.entries.count * metrics.count
        let n = maps.images.shape[0]
        let ranges = batchRanges(count: n, batchSize: maps.batchSize)
        var done = 0
        let fitIdentity = try maps.fitDataset.map { try $0.identity() }
        for e in maps.entries {
            guard let model = maps.models[e.model] else { continue }
            let explainer = try? registry.explainer(e.saliency.method)
            for (k, spec) in metrics.enumerated() {
                var values: [Double] = [], entryCurves: [[(x: Double, y: Double)]]? = []
                for (b, r) in ranges.enumerated() {
                    try cancellation.check()
                    let start = maps.firstIndex + r.lowerBound
                    // Batch 0 keeps the seed unbatched scoring had, so one-batch comparisons are unchanged.
                    let seed = maps.seed &+ UInt64(k) &+ UInt64(start) &* 0x9E37_79B9
                    let whole = r.count == n
                    let x = whole ? maps.images : maps.images.slice(axis: 0, r)
                    let saliency = whole ? e.saliency : e.saliency.slice(r, seconds: e.batchSeconds[b])
                    let truth = whole ? maps.groundTruth : maps.groundTruth.slice(r, of: n)
                    let compute = {
                        try evaluate(ms[k], model: model, images: x, saliency: saliency, params: spec.params, groundTruth: truth,
                                     seed: seed, cancellation: cancellation, explainer: explainer, fitDataset: maps.fitDataset)
                    }
                    let result = try cache.map {
                        try $0.scores(ScoresBlock(model: model, images: x, saliency: saliency, metric: ms[k], params: spec.params,
                                                  groundTruth: truth, seed: seed, fitDataset: fitIdentity, range: start..<(start + r.count)),
                                      compute: compute)
                    } ?? compute()
                    values += result.values
                    if let c = result.curves { entryCurves? += c } else { entryCurves = nil }
                }
                for (i, v) in values.enumerated() {
                    rows.append(.init(image: maps.firstIndex + i, model: e.model, method: e.method, metric: spec.displayName, value: v))
                }
                if let c = entryCurves, !ranges.isEmpty { curves[.init(model: e.model, method: e.method, metric: spec.displayName)] = c }
                done += 1
                progress?("\(e.model) / \(e.method) / \(spec.displayName)", done, total)
            }
        }
        var bounds: [String: ClosedRange<Double>] = [:]
        for (m, spec) in zip(ms, metrics) { bounds[spec.displayName] = m.bounds }
        return ComparisonScores(rows: rows, curves: curves, seconds: Dictionary(maps.entries.map { ("\($0.model)/\($0.method)", $0.saliency.secondsPerMap) }, uniquingKeysWith: { a, _ in a }),
                                bounds: bounds)
    }
}

extension SaliencyMap {
    /// Images `r` of these maps, explained in `seconds`. Per-image lists (scalars, curves)
    /// are cut to `r`; a list of another length is not per image and is kept whole.
    func slice(_ r: Range<Int>, seconds: Double) -> SaliencyMap {
        let n = count
        return SaliencyMap(map: map.slice(axis: 0, r), attribution: attribution?.slice(axis: 0, r), method: method, params: params,
                           targets: Array(targets[r]), targetNames: targetNames.map { Array($0[r]) }, seconds: seconds,
                           scalars: scalars.mapValues { $0.count == n ? Array($0[r]) : $0 },
                           curves: curves.mapValues { $0.count == n ? Array($0[r]) : $0 })
    }
}

extension GroundTruth {
    /// The ground truth of images `r` of `n`.
    public func slice(_ r: Range<Int>, of n: Int) -> GroundTruth {
        GroundTruth(masks: masks.map { $0.shape.first == n ? $0.slice(axis: 0, r) : $0 },
                    boxes: boxes.map { $0.count == n ? Array($0[r]) : $0 }, labels: labels.map { $0.count == n ? Array($0[r]) : $0 })
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
    /// The value range of each bounded metric, by the metric's name in the rows (its label when it has one) (`Metric.bounds`).
    public var bounds: [String: ClosedRange<Double>]

    public init(rows: [Row], curves: [CurveKey: [[(x: Double, y: Double)]]], seconds: [String: Double], bounds: [String: ClosedRange<Double>] = [:]) {
        self.rows = rows; self.curves = curves; self.seconds = seconds; self.bounds = bounds
    }

    /// Mean curve over images (curves are sampled at the same x for every image of a metric).
    public func meanCurve(_ key: CurveKey) -> [(x: Double, y: Double)]? {
        guard let cs = curves[key], let first = cs.first, cs.allSatisfy({ $0.count == first.count }) else { return nil }
        return first.indices.map { j in (first[j].x, cs.map { $0[j].y }.reduce(0, +) / Double(cs.count)) }
    }

}
