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
    // F(x) and F(x') per image: the scores of the path's end points when a step lands on one
    // exactly (alpha 0 always gives x' bitwise; alpha 1 gives x unless rounding moves it), so
    // the completeness check needs no passes of its own in the usual case.
    var fxAt = [Float?](repeating: nil, count: m), fbAt = [Float?](repeating: nil, count: m)
    let ranges = chunks(steps * m, batchSize)
    // Chunks run concurrently (`Threads.rounds`); their gradients are summed in chunk order.
    try Threads.rounds(ranges.count, elementsPerItem: (ranges.first?.count ?? 0) * per, prepare: { _ in try ctx.cancellation.check() }, compute: { ci, _ in
        let r = ranges[ci]
        // Interpolated inputs of this chunk, built straight into one buffer.
        var endPoints: [(j: Int, image: Int, isInput: Bool)] = []
        let batch = x.withUnsafeBufferPointer { xp in
            baseline.withUnsafeBufferPointer { bp in
                Tensor(shape: [r.count] + Array(x.shape.dropFirst())) { out in
                    for (j, item) in r.enumerated() {
                        let (k, i) = (item / m, item % m)
                        let a = alphas[k]
                        let (src, base, dst) = (xp.baseAddress! + i * per, bp.baseAddress! + i * per, out.baseAddress! + j * per)
                        for e in 0..<per { dst[e] = base[e] + a * (src[e] - base[e]) }
                        if a == 0 || a == 1, memcmp(dst, a == 1 ? src : base, per * MemoryLayout<Float>.stride) == 0 {
                            endPoints.append((j, i, a == 1))
                        }
                    }
                }
            }
        }
        let (g, scores) = try inputGradient(ctx, batch, targets: r.map { targets[($0 % m) % targets.count] })
        return (g, scores, endPoints)
    }, finish: { ci, result in
        try ctx.cancellation.check()
        let r = ranges[ci]
        let (g, scores, endPoints) = result
        for e in endPoints {
            if e.isInput { fxAt[e.image] = scores[e.j] } else { fbAt[e.image] = scores[e.j] }
        }
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
    })
    let attribution = Autograd.noGrad { delta * Tensor(shape: x.shape, data: total) }
    let imageTargets = (0..<m).map { targets[$0 % targets.count] }
    let fx = try fxAt.allSatisfy({ $0 != nil }) ? fxAt.compactMap { $0 } : scoresNoGrad(ctx, x, targets: imageTargets)
    let fb = try fbAt.allSatisfy({ $0 != nil }) ? fbAt.compactMap { $0 } : scoresNoGrad(ctx, baseline, targets: imageTargets)
    return (attribution, fx, fb)
}

/// Integrated gradients (Sundararajan, Taly & Yan 2017): attribution = (x - x') * the path
/// integral of the gradient from the baseline x' to x, approximated with Captum's Riemann
/// rules (default `riemann_trapezoid`, Captum's weights exactly; see `RiemannRule`).
///
/// Baselines (`baselineBatch`): "zeros" (the paper's black image, in the model's input space),
/// "blur", "noise" (seeded), or "tensor" with `baseline_tensor`.
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
        baselineSpecs + [
            ParamSpec("steps", .int, default: .int(50), range: 2...100_000, doc: "points on the path (Captum's n_steps)"),
            ParamSpec("method", .choice([RiemannRule.trapezoid.rawValue, RiemannRule.middle.rawValue]),
                      default: .string(RiemannRule.trapezoid.rawValue), doc: "Riemann rule, with Captum's alphas and weights"),
            batchSizeSpec(),
        ]
    }
    public var capabilities: Capabilities { [.needsGradients, .batched, .stochastic] }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let base = try baselineBatch(&ctx, plugin: name)
        let rule = try RiemannRule(rawValue: ctx.params.string("method") ?? "") ?? .trapezoid
        let r = try pathIntegratedGradients(ctx, ctx.images, baseline: base, targets: ctx.targets, steps: ctx.params.int("steps"),
                                        rule: rule, batchSize: ctx.params.int("batch_size"))
        return Explanation(map: channelSumAbs(r.attribution), attribution: r.attribution,
                           scalars: completenessScalars(r.attribution, fx: r.fx, fb: r.fb))
    }
}
