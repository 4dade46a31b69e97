import Foundation
import Runtime

/// LIME (Ribeiro, Singh & Guestrin 2016, Sec. 3): a weighted linear surrogate of the model on
/// an interpretable representation, here superpixels on/off, fitted to the target's score on
/// perturbed copies of the image (Eq. 1 with the squared loss of Eq. 2 and the exponential
/// kernel). Map: each superpixel painted with its coefficient.
///
/// As the authors' `lime` package explains images (`LimeImageExplainer`), except the segmenter:
/// - superpixels: our SLIC (`SLICSegmentation`, Achanta et al. 2012, in Lab; `segments`,
///   `compactness`) where the package defaults to quickshift;
/// - masks: the first is all ones (the image itself), the others keep each superpixel with
///   probability 1/2, `samples` in all (the package's 1000);
/// - an 'off' superpixel shows its mean colour (`baseline: "mean"`, the package's
///   `hide_color=None`), or zeros, a blur, noise or a given image (as integrated gradients);
/// - weights: pi(z) = sqrt(exp(-d^2 / width^2)) with d the cosine distance between z and the
///   all-ones mask (the package's kernel, `kernel_width` 0.25);
/// - fit: ridge regression with `alpha` = 1 and an unpenalised intercept, on all superpixels
///   (the package's `Ridge(alpha=1)`; its feature selection keeps all of them by default).
/// The score is the context's (`logit` by default; the package fits the classifier's
/// probability, `score: prob`). Scored `batch_size` perturbed images per forward pass.
/// Scalars per image: `superpixels` (the feature count) and the fit's `intercept`.
public struct LIMEExplainer: Explainer {
    public init() {}
    public var name: String { "lime" }
    public var summary: String { "weighted ridge surrogate on SLIC superpixels switched on/off; map = superpixel coefficients" }
    public var reference: String {
        "Ribeiro, Singh, Guestrin, \"Why Should I Trust You?\": Explaining the Predictions of Any Classifier, KDD 2016"
    }
    public var parameters: [ParamSpec] {
        surrogateSpecs(samples: 1000, baseline: "mean") + [
            ParamSpec("kernel_width", .float, default: .float(0.25), range: 1e-6...1e6,
                      doc: "width of the exponential kernel on the cosine distance to the unperturbed image (lime's 0.25)"),
            ParamSpec("alpha", .float, default: .float(1), range: 0...1e9, doc: "ridge penalty of the surrogate (lime's Ridge(alpha=1))"),
        ]
    }
    public var capabilities: Capabilities { [.batched, .stochastic] }

    /// LIME's masks and kernel weights.
    struct Sampler: SurrogateSampler {
        let kernelWidth: Double
        let ridge: Double

        func draw(samples: Int, features m: Int, rng: inout RandomGenerator) -> (masks: [Float], weights: [Double]) {
            var masks = [Float](repeating: 1, count: samples * m)
            for i in m..<(samples * m) { masks[i] = rng.nextUniform() < 0.5 ? 0 : 1 }
            let weights = (0..<samples).map { s in
                Self.kernel(on: Int(masks[(s * m)..<((s + 1) * m)].reduce(0, +)), of: m, width: kernelWidth)
            }
            return (masks, weights)
        }

        /// sqrt(exp(-d^2 / width^2)), d = 1 - k / sqrt(k m), the cosine distance between a mask
        /// with k ones and the all-ones mask (1 for the empty mask, as scikit-learn's).
        static func kernel(on k: Int, of m: Int, width: Double) -> Double {
            let d = k == 0 ? 1 : 1 - Double(k) / (Double(k) * Double(m)).squareRoot()
            return Foundation.exp(-d * d / (width * width)).squareRoot()
        }
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        let sampler = try Sampler(kernelWidth: ctx.params.float("kernel_width"), ridge: ctx.params.float("alpha"))
        return SurrogateModel.explanation(try SurrogateModel.fit(&ctx, sampler: sampler, plugin: name), images: ctx.images)
    }
}
