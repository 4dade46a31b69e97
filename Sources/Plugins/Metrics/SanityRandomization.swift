import Foundation
import Runtime

/// Adebayo et al. 2018's cascading model-parameter randomisation test: randomise the weighted
/// layers from the top (logits) down, one more layer each time, re-explain with the same
/// method and parameters, and measure how similar the new map is to the original. A method
/// whose maps do not change when the model is destroyed does not explain the model.
///
/// - Weighted layers: Conv, ConvTranspose, Gemm and MatMul nodes whose second input is a
///   weight of the graph, in reverse topological order (batch norms are not counted). Their
///   weight tensors are replaced by normals with mean 0 and the original tensor's standard
///   deviation, drawn from the metric's seeded generator, layer by layer as the cascade reaches
///   them. Biases are kept (a choice: Adebayo et al. re-initialise whole layers; with random
///   weights a layer's output no longer carries what training put there either way).
/// - The original weights are copied first and written back in a `defer`, so the model is
///   restored on success, error and cancellation alike.
/// - Similarity: Spearman rank correlation between the original map (the one evaluated) and
///   the re-explained map, of absolute values by default (Adebayo's "absolute value" variant:
///   gradients change sign under randomisation without losing their structure).
/// - The explainer is re-run with the map's own parameters and targets, the `score` given
///   here, and a generator seeded with `explain_seed` for every layer (stochastic methods see
///   the same noise each time).
/// - A method with a fit phase (expected gradients, CHIP, VEbI, ...) is fitted again on every
///   randomised model, from the dataset it was fitted on (`fitDataset`: `metric(...,
///   fit: data)`, or the comparison's `fit:`), with the map's parameters and `explain_seed` as
///   the fit seed: what it learned belongs to the weights, so the original state would test
///   the original model. Without that dataset the metric refuses (a fitted state alone cannot
///   be refitted), and says so.
///
/// Value: the correlation with all `layers` randomised (lower means the method depends on the
/// weights more). Curve: number of randomised layers (1...layers) against the correlation.
public struct SanityRandomizationMetric: Metric {
    public init() {}
    public var name: String { "sanity_randomization" }
    public var summary: String { "rank correlation of the map with the maps of a cascade of randomised models (lower is better)" }
    public var reference: String { "Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim, Sanity Checks for Saliency Maps, NeurIPS 2018" }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("layers", .int, range: 1...100_000, doc: "how many weighted layers to randomise, top down; default all"),
            ParamSpec("absolute", .bool, default: .bool(true), doc: "correlate absolute values of the maps (Adebayo's default figures)"),
            ParamSpec("score", .choice(ScoreKind.allCases.map(\.rawValue)), default: .string("logit"), doc: "score the explainer explains when re-run"),
            ParamSpec("explain_seed", .int, default: .int(0), range: 0...9.0e18, doc: "seed of the explainer's generator on every re-run"),
        ]
    }
    public var direction: MetricDirection { .lowerIsBetter }

    static let weightedOps: Set<String> = ["Conv", "ConvTranspose", "Gemm", "MatMul"]

    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let (n, _, h, w) = try MetricSupport.checkShapes(ctx, metric: name)
        try MetricSupport.checkTargets(ctx, n: n, metric: name)
        guard let explainer = ctx.explainer else {
            throw PluginError.invalid("metric '\(name)' re-runs the explanation method, but none was given")
        }
        guard explainer.name == ctx.saliency.method else {
            throw PluginError.invalid("metric '\(name)': the map was made by '\(ctx.saliency.method)', but the explainer given is '\(explainer.name)'")
        }
        let refits = explainer.capabilities.contains(.fits)
        if refits && ctx.fitDataset == nil {
            throw PluginError.invalid("metric '\(name)': '\(explainer.name)' learns from a dataset, so every randomised model needs a fit of "
                + "its own (the state fitted on the original weights would test the original model); pass the dataset it was fitted on: "
                + "metric(..., fit: data), or compare(..., fit: data)")
        }
        let g = ctx.model
        let weighted: [String] = g.nodes.reversed().compactMap { node in
            guard SanityRandomizationMetric.weightedOps.contains(node.opType), node.inputs.count > 1, g.weight(node.inputs[1]) != nil else { return nil }
            return node.inputs[1]
        }
        // A weight shared by several nodes is randomised once, at its topmost use.
        var seen = Set<String>()
        let layers = weighted.filter { seen.insert($0).inserted }
        guard !layers.isEmpty else { throw PluginError.invalid("metric '\(name)': the model has no weighted layer (Conv, Gemm, MatMul) to randomise") }
        let count = try ctx.params["layers"] == nil ? layers.count : ctx.params.int("layers")
        guard count <= layers.count else {
            throw PluginError.invalid("metric '\(name)': layers is \(count), but the model has \(layers.count) weighted layers")
        }
        let absolute = try ctx.params.bool("absolute")
        let score = try ScoreKind(rawValue: ctx.params.string("score") ?? "logit") ?? .logit
        let seed = try UInt64(ctx.params.int("explain_seed"))
        func planes(_ m: Tensor) -> [[Float]] {
            (0..<n).map { i in let p = MetricSupport.mapPlane(m, i); return absolute ? p.map { Swift.abs($0) } : p }
        }
        let original = planes(ctx.saliency.map)

        var saved: [(String, Tensor)] = []
        defer { for (k, t) in saved.reversed() { try? g.setWeight(k, t) } }
        var curves = [[(x: Double, y: Double)]](repeating: [], count: n)
        for (k, weightName) in layers.prefix(count).enumerated() {
            try ctx.cancellation.check()
            // unreachable from input: the names in `layers` were kept only when g.weight(name) exists
            let wt = g.weight(weightName)!
            saved.append((weightName, Tensor(shape: wt.shape, data: wt.scalars)))
            let v = wt.scalars
            let mean = v.reduce(0.0) { $0 + Double($1) } / Double(max(v.count, 1))
            let std = (v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(max(v.count, 1))).squareRoot()
            try g.setWeight(weightName, Tensor.normal(wt.shape, mean: 0, std: Float(std), rng: &ctx.rng))
            let state = try ctx.fitDataset.flatMap { data in
                refits ? try fit(explainer, model: g, dataset: data, params: ctx.saliency.params.values, seed: seed, cancellation: ctx.cancellation) : nil
            }
            var ectx = ExplainContext(model: g, images: ctx.images, targets: ctx.saliency.targets, params: ctx.saliency.params,
                                      score: score, rng: RandomGenerator(seed: seed), cancellation: ctx.cancellation, fitted: state)
            let out = try explainer.explain(&ectx)
            guard out.map.shape == [n, 1, h, w] else {
                throw PluginError.invalid("metric '\(name)': method '\(explainer.name)' returned a map of shape \(out.map.shape); expected [\(n), 1, \(h), \(w)]")
            }
            let re = planes(out.map.detached())
            for i in 0..<n { curves[i].append((x: Double(k + 1), y: MetricSupport.spearman(original[i], re[i]))) }
        }
        // unreachable from input: every curve has `count` >= 1 points (layers ranges from 1, and the model has a weighted layer)
        return MetricResult(values: curves.map { $0.last!.y }, curves: curves)
    }
}
