import Foundation
import Runtime

/// Samek et al.'s region perturbation (MoRF / LeRF) in the variant of the Noise Mask thesis
/// (section 4.2.3): pixels are replaced, not patches; each iteration replaces the next k
/// pixels (all channels) with uniformly random colours; the perturbation is cumulative.
///
/// Defaults, scaled to the image size. The thesis replaces 100 pixels per iteration for 800
/// iterations "so around 90% of pixels are replaced" — which holds for its evaluation images,
/// 299x299 (Inception V3: 80 000 / 89 401 = 89.5%), not for 224x224 (80 000 > 50 176). We keep
/// both fractions: k = max(1, round(100 · H·W / 89 401)) pixels per iteration and
/// round(0.895 · H·W / k) iterations (capped so no more than H·W pixels are replaced). At
/// 299x299 that is 100 x 800; at 224x224, 56 x 802; at 28x28, 1 x 702.
///
/// Score: the target logit by default. The thesis' Noise Mask loss reads "the last output just
/// before the softmax layer", and its Table 3 ABPC values (up to 5 244 over 800 iterations) are
/// far beyond what probabilities could give, so it evidently recorded logits. `score: "prob"`
/// records the softmax probability instead.
///
/// Noise: one uniform [noise_low, noise_high] colour per pixel and channel, drawn once per
/// image from the metric's seeded generator (the thesis' uniform(0, 255), here in the model's
/// input range, [0, 1] by our datasets' convention). MoRF and LeRF of the same image use the
/// same noise image, so their difference measures the order, not the noise draw.
///
/// Summaries (Samek et al. 2017's AOPC): value_k = f(x⁽⁰⁾) − f(x⁽ᵏ⁾) averaged over k = 0...L
/// (L iterations, L + 1 points, the k = 0 term is 0 as in Samek's sum). MoRF's AOPC is higher
/// for a better map, LeRF's lower. ABPC = AOPC_MoRF − AOPC_LeRF = mean_k (LeRF_k − MoRF_k), the
/// area between the curves per iteration; the thesis' Table 3 numbers look like sums over its
/// 800 iterations (multiply our mean by L + 1 to compare).
enum PixelFlipping {
    static let parameters: [ParamSpec] = [
        ParamSpec("pixels_per_step", .int, range: 1...1e9,
                  doc: "pixels replaced per iteration; default 100 per 299x299 pixels (the thesis), scaled to H·W"),
        ParamSpec("iterations", .int, range: 1...1e9,
                  doc: "iterations; default replaces 89.5% of the pixels (the thesis' 800 x 100 of 299x299)"),
        ParamSpec("score", .choice(["logit", "prob"]), default: .string("logit"), doc: "recorded target score: the logit (the thesis) or the softmax probability"),
        ParamSpec("noise_low", .float, default: .float(0), doc: "lower bound of the uniform replacement colours"),
        ParamSpec("noise_high", .float, default: .float(1), doc: "upper bound of the uniform replacement colours"),
        ParamSpec("batch_size", .int, default: .int(32), range: 1...4096, doc: "perturbed images per forward pass"),
    ]

    struct Curves {
        var xs: [Double]
        var morf: [[Double]]?
        var lerf: [[Double]]?
    }

    /// Runs MoRF and/or LeRF on the batch.
    static func run(_ ctx: inout MetricContext, metric: String, morf: Bool, lerf: Bool) throws -> Curves {
        let (n, c, h, w) = try MetricSupport.checkShapes(ctx, metric: metric)
        try MetricSupport.checkTargets(ctx, n: n, metric: metric)
        let hw = h * w
        let k = try ctx.params["pixels_per_step"] == nil ? Swift.max(1, Int((100 * Double(hw) / 89_401).rounded())) : ctx.params.int("pixels_per_step")
        let maxIterations = (hw + k - 1) / k
        let iterations = try ctx.params["iterations"] == nil
            ? Swift.min(maxIterations, Swift.max(1, Int((80_000 / 89_401 * Double(hw) / Double(k)).rounded())))
            : ctx.params.int("iterations")
        guard iterations <= maxIterations else {
            throw PluginError.invalid("metric '\(metric)': \(iterations) iterations of \(k) pixels exceed the \(hw) pixels of a \(h)x\(w) image; use at most \(maxIterations)")
        }
        let lo = try Float(ctx.params.float("noise_low")), hi = try Float(ctx.params.float("noise_high"))
        guard hi >= lo else { throw PluginError.invalid("metric '\(metric)': noise_high (\(hi)) is below noise_low (\(lo))") }
        let noise = Tensor.uniform([n, c, h, w], low: lo, high: hi, rng: &ctx.rng)
        let engine = try PerturbationCurve(model: ctx.model, metric: metric, batchSize: ctx.params.int("batch_size"),
                                       probability: ctx.params.string("score") == "prob", cancellation: ctx.cancellation)
        let planes = (0..<n).map { MetricSupport.mapPlane(ctx.saliency.map, $0) }
        func curves(descending: Bool) throws -> [[Double]] {
            try engine.scores(start: ctx.images, source: noise, orders: planes.map { MetricSupport.pixelOrder($0, descending: descending) },
                              perStep: k, steps: iterations, targets: ctx.saliency.targets)
        }
        return Curves(xs: perturbationFractions(perStep: k, steps: iterations, pixels: hw),
                      morf: morf ? try curves(descending: true) : nil, lerf: lerf ? try curves(descending: false) : nil)
    }

    /// Samek's AOPC of one curve: mean over the points of (first score − score).
    static func aopc(_ s: [Double]) -> Double { s.reduce(0) { $0 + (s[0] - $1) } / Double(s.count) }

    /// Curve points (fraction of pixels replaced, value).
    static func points(_ xs: [Double], _ ys: [Double]) -> [(x: Double, y: Double)] { zip(xs, ys).map { (x: $0, y: $1) } }
}
