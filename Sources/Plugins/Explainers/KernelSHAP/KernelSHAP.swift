import Foundation
import Runtime

/// Kernel SHAP (Lundberg & Lee 2017, Theorem 2): the linear surrogate on superpixels whose
/// weighted least-squares fit under the Shapley kernel pi(z) = (M - 1) / (C(M, |z|) |z| (M - |z|))
/// estimates the Shapley values of the superpixels (M of them) for the target's score.
///
/// The same machinery as `lime` (SLIC superpixels, 'off' fill, batched scoring; see
/// `SurrogateModel`) with Captum's `KernelShap` sampling, so that the kernel is applied by the
/// sampling rather than by the weights: the first mask is all ones, the second all zeros,
/// each further one has k ones with probability proportional to (M - 1) / (k (M - k)),
/// k = 1..M-1, placed uniformly at random (which makes each mask's probability proportional
/// to pi(z)); the weights are then 1, and 1e6 for the two end masks, which pins the fit to
/// f(x) = b + sum(beta) and f(x') = b (the efficiency constraint, approximately; pi is
/// infinite there). Fit: weighted least squares with an intercept, no penalty (Captum's
/// `SkLearnLinearRegression`). The 'off' fill defaults to zeros (Captum's default baseline).
/// Map: each superpixel painted with its Shapley estimate.
public struct KernelSHAPExplainer: Explainer {
    public init() {}
    public var name: String { "kernel_shap" }
    public var summary: String { "Shapley values of SLIC superpixels by the Shapley-kernel regression; map = superpixel values" }
    public var reference: String {
        "Lundberg, Lee, A Unified Approach to Interpreting Model Predictions, NeurIPS 2017"
    }
    public var parameters: [ParamSpec] { surrogateSpecs(samples: 1000, baseline: "zeros") }
    public var capabilities: Capabilities { [.batched, .stochastic] }

    /// Captum's weight for the all-ones and all-zeros masks.
    static let endWeight = 1e6

    struct Sampler: SurrogateSampler {
        var ridge: Double { 0 }

        func draw(samples: Int, features m: Int, rng: inout RandomGenerator) -> (masks: [Float], weights: [Double]) {
            var masks = [Float](repeating: 0, count: samples * m)
            var weights = [Double](repeating: 1, count: samples)
            // Cumulative distribution of k over 1..M-1.
            let p = m > 1 ? (1..<m).map { Double(m - 1) / (Double($0) * Double(m - $0)) } : []
            let total = p.reduce(0, +)
            var order = Array(0..<m)
            for s in 0..<samples {
                let row = s * m
                if s == 0 || m < 2 {
                    // All ones first; with a single feature only the two end masks exist.
                    let ones = s == 0 || s % 2 == 0
                    if ones { for j in 0..<m { masks[row + j] = 1 } }
                    weights[s] = KernelSHAPExplainer.endWeight
                    continue
                }
                if s == 1 { weights[s] = KernelSHAPExplainer.endWeight; continue }
                var u = Double(rng.nextUniform()) * total, k = 1
                while k < m - 1 && u >= p[k - 1] { u -= p[k - 1]; k += 1 }
                // k distinct features: a partial Fisher-Yates shuffle.
                for j in 0..<k {
                    let r = j + Int(rng.next() % UInt64(m - j))
                    order.swapAt(j, r)
                    masks[row + order[j]] = 1
                }
            }
            return (masks, weights)
        }
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        SurrogateModel.explanation(try SurrogateModel.fit(&ctx, sampler: Sampler(), plugin: name), images: ctx.images)
    }
}
