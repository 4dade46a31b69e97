import Foundation
import Runtime

/// Riemann rules for the path integral, with Captum's exact alphas and weights.
enum RiemannRule: String {
    /// Captum's `riemann_trapezoid`: alphas = linspace(0, 1, n), weights 1/n with the two end
    /// weights halved. NOTE: those weights sum to (n-1)/n, not 1 (Captum's own quirk, kept so
    /// numbers agree with Captum): on a linear model IG gives (n-1)/n of x*w and the
    /// completeness gap is |F(x) - F(x')| / n, shrinking as steps grow.
    case trapezoid = "riemann_trapezoid"
    /// Captum's `riemann_middle`: alphas (k + 1/2)/n, weights 1/n (exact on linear models).
    case middle = "riemann_middle"

    func alphasAndWeights(_ n: Int) -> (alphas: [Float], weights: [Float]) {
        switch self {
        case .trapezoid:
            let a = (0..<n).map { n == 1 ? Float(0) : Float($0) / Float(n - 1) }
            var w = [Float](repeating: 1 / Float(n), count: n)
            w[0] /= 2; w[n - 1] /= 2
            return (a, w)
        case .middle:
            return ((0..<n).map { (Float($0) + 0.5) / Float(n) }, [Float](repeating: 1 / Float(n), count: n))
        }
    }
}

/// Integrated gradients of `x` [M, C, H, W] against `baseline` (same shape): (x - x') times
/// the weighted sum of gradients at x' + alpha (x - x'). The steps x M interpolated inputs are
/// evaluated `batchSize` at a time, step-major (item m = step m / M, image m % M), never all
/// in memory at once. Also returns F(x) and F(x') per image for the completeness check.
func pathIntegratedGradients(_ ctx: ExplainContext, _ x: Tensor, baseline: Tensor, targets: [Int], steps: Int,
                         rule: RiemannRule, batchSize: Int) throws -> (attribution: Tensor, fx: [Float], fb: [Float]) {
    let m = x.shape[0]
    let (alphas, weights) = rule.alphasAndWeights(steps)
    let delta = Autograd.noGrad { x - baseline }
    let per = x.count / Swift.max(m, 1)
    var total = [Float](repeating: 0, count: x.count)
    let ranges = chunks(steps * m, batchSize)
    for (ci, r) in ranges.enumerated() {
        try ctx.cancellation.check()
        // Interpolated inputs of this chunk, built straight into one buffer.
        let batch = x.withUnsafeBufferPointer { xp in
            baseline.withUnsafeBufferPointer { bp in
                Tensor(shape: [r.count] + Array(x.shape.dropFirst())) { out in
                    for (j, item) in r.enumerated() {
                        let (k, i) = (item / m, item % m)
                        let a = alphas[k]
                        let (src, base, dst) = (xp.baseAddress! + i * per, bp.baseAddress! + i * per, out.baseAddress! + j * per)
                        for e in 0..<per { dst[e] = base[e] + a * (src[e] - base[e]) }
                    }
                }
            }
        }
        let g = try inputGradient(ctx, batch, targets: r.map { targets[($0 % m) % targets.count] }).grad
        g.withUnsafeBufferPointer { gp in
            total.withUnsafeMutableBufferPointer { tp in
                for (j, item) in r.enumerated() {
                    let (k, i) = (item / m, item % m)
                    let w = weights[k]
                    let (src, dst) = (gp.baseAddress! + j * per, tp.baseAddress! + i * per)
                    for e in 0..<per { dst[e] += w * src[e] }
                }
            }
        }
        ctx.progress?(ci + 1, ranges.count)
    }
    let attribution = Autograd.noGrad { delta * Tensor(shape: x.shape, data: total) }
    let fx = try scoresNoGrad(ctx, x, targets: (0..<m).map { targets[$0 % targets.count] })
    let fb = try scoresNoGrad(ctx, baseline, targets: (0..<m).map { targets[$0 % targets.count] })
    return (attribution, fx, fb)
}

/// Integrated gradients (Sundararajan, Taly & Yan 2017): attribution = (x - x') * the path
/// integral of the gradient from the baseline x' to x, approximated with Captum's Riemann
/// rules (default `riemann_trapezoid`, Captum's weights exactly; see `RiemannRule`).
///
/// Baselines: "zeros" (the paper's black image, in the model's input space), "blur" (a
/// Gaussian blur of the image with sigma = 5% of the larger side, kernel 2*ceil(3 sigma)+1;
/// Sturmfels et al. 2020's blurred baseline), "noise" (uniform noise in each image's own
/// [min, max], seeded), or "tensor" with `baseline_tensor` ([C,H,W], [1,C,H,W] or [N,C,H,W]).
/// (Two parameters because a parameter has one type: a choice, or a tensor.)
///
/// Map: channel sum of |attribution| (magnitude; signed channel sums can cancel).
/// Scalars per image: `completeness_gap` = |sum(attr) - (F(x) - F(x'))| (axiom of
/// completeness, sec. 3; it shrinks as `steps` grows) and `relative_completeness_gap` = the
/// gap divided by |F(x) - F(x')|.
public struct IntegratedGradientsExplainer: Explainer {
    public init() {}
    public var name: String { "integrated_gradients" }
    public var summary: String { "(x - x') * average gradient along the straight path; map = channel sum of |attr|" }
    public var reference: String { "Sundararajan, Taly, Yan, Axiomatic Attribution for Deep Networks, ICML 2017" }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("baseline", .choice(["zeros", "blur", "noise", "tensor"]), default: .string("zeros"),
                      doc: "reference input x': zeros, a blurred copy, uniform noise, or baseline_tensor"),
            ParamSpec("baseline_tensor", .tensor, doc: "the baseline when baseline = \"tensor\": [C,H,W], [1,C,H,W] or [N,C,H,W]"),
            ParamSpec("steps", .int, default: .int(50), range: 2...100_000, doc: "points on the path (Captum's n_steps)"),
            ParamSpec("method", .choice([RiemannRule.trapezoid.rawValue, RiemannRule.middle.rawValue]),
                      default: .string(RiemannRule.trapezoid.rawValue), doc: "Riemann rule, with Captum's alphas and weights"),
            batchSizeSpec(),
        ]
    }
    public var capabilities: Capabilities { [.needsGradients, .batched, .stochastic] }

    /// The baseline batch for `images` as the parameters ask.
    static func baseline(_ ctx: inout ExplainContext, plugin: String) throws -> Tensor {
        let x = ctx.images
        switch try ctx.params.string("baseline") ?? "zeros" {
        case "blur":
            let sigma = 0.05 * Float(Swift.max(x.shape[2], x.shape[3]))
            let k = 2 * Int(Foundation.ceil(3 * sigma)) + 1
            return Autograd.noGrad { x.gaussianBlur(kernelSize: k, sigma: sigma) }
        case "noise":
            let ranges = perImageRange(x)
            let per = x.count / x.shape[0]
            return Tensor(shape: x.shape) { b in
                for i in 0..<x.shape[0] {
                    let (lo, hi) = ranges[i]
                    for e in 0..<per { b[i * per + e] = lo + (hi - lo) * ctx.rng.nextUniform() }
                }
            }
        case "tensor":
            guard let t = try ctx.params.tensor("baseline_tensor") else {
                throw PluginError.invalid("'\(plugin)': baseline \"tensor\" needs baseline_tensor")
            }
            let s = Array(x.shape.dropFirst())
            if t.shape == x.shape { return t.detached() }
            if t.shape == s || t.shape == [1] + s { return repeatCopies(t.reshaped([1] + s).detached(), x.shape[0]) }
            throw PluginError.invalid("'\(plugin)': baseline_tensor has shape \(t.shape); expected \(s), [1, \(s.map(String.init).joined(separator: ", "))] or \(x.shape)")
        default:
            return Tensor.zeros(x.shape)
        }
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let base = try Self.baseline(&ctx, plugin: name)
        let rule = try RiemannRule(rawValue: ctx.params.string("method") ?? "") ?? .trapezoid
        let r = try pathIntegratedGradients(ctx, ctx.images, baseline: base, targets: ctx.targets, steps: ctx.params.int("steps"),
                                        rule: rule, batchSize: ctx.params.int("batch_size"))
        let sums = perImageSums(r.attribution)
        var gap: [Double] = [], rel: [Double] = []
        for i in 0..<sums.count {
            let d = Double(r.fx[i]) - Double(r.fb[i])
            let g = Swift.abs(sums[i] - d)
            gap.append(g)
            rel.append(g / Swift.max(Swift.abs(d), 1e-12))
        }
        return Explanation(map: channelSumAbs(r.attribution), attribution: r.attribution,
                           scalars: ["completeness_gap": gap, "relative_completeness_gap": rel])
    }
}
