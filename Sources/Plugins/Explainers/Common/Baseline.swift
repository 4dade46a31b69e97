import Foundation
import Runtime

// The reference input x' of the methods that explain a difference from a baseline
// (integrated gradients, DeepLIFT): one parameter pair and one construction, so the two
// methods take the same baselines spelt the same way.

/// The `baseline` choice and the `baseline_tensor` that goes with it. (Two parameters because a
/// parameter has one type: a choice, or a tensor.)
let baselineSpecs: [ParamSpec] = [
    ParamSpec("baseline", .choice(["zeros", "blur", "noise", "tensor"]), default: .string("zeros"),
              doc: "reference input x': zeros, a blurred copy, uniform noise, or baseline_tensor"),
    ParamSpec("baseline_tensor", .tensor, doc: "the baseline when baseline = \"tensor\": [C,H,W], [1,C,H,W] or [N,C,H,W]"),
]

/// The baseline batch for the context's images as `baseline` / `baseline_tensor` ask:
/// "zeros" (the black image, in the model's input space), "blur" (a Gaussian blur of the image
/// with sigma = 5% of the larger side, kernel 2*ceil(3 sigma)+1; Sturmfels et al. 2020's blurred
/// baseline), "noise" (uniform noise in each image's own [min, max], seeded), or "tensor"
/// (`baseline_tensor`, broadcast over the batch when it is one image).
func baselineBatch(_ ctx: inout ExplainContext, plugin: String) throws -> Tensor {
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

/// Per image, how far an attribution is from summing to F(x) - F(x') (the completeness of IG,
/// Sundararajan et al. Sec. 3; DeepLIFT's summation-to-delta, Shrikumar et al. Eq. 1):
/// `completeness_gap` = |sum(attr) - (F(x) - F(x'))| and `relative_completeness_gap` = the gap
/// divided by |F(x) - F(x')|.
func completenessScalars(_ attribution: Tensor, fx: [Float], fb: [Float]) -> [String: [Double]] {
    let sums = perImageSums(attribution)
    var gap: [Double] = [], rel: [Double] = []
    for i in 0..<sums.count {
        let d = Double(fx[i]) - Double(fb[i])
        let g = Swift.abs(sums[i] - d)
        gap.append(g)
        rel.append(g / Swift.max(Swift.abs(d), 1e-12))
    }
    return ["completeness_gap": gap, "relative_completeness_gap": rel]
}
