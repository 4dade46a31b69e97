import Runtime

/// Visual Explanation by Interpretation (Oramas, Wang, Tuytelaars, ICLR 2019; paper 002).
///
/// Fit (§3.1, `VEbIFit.swift`): the image-wise response x_i over every internal value of the
/// network (`FeaturePool`: per-channel squared L2, L1-normalised per layer), the binary label
/// matrix L from the dataset's ground-truth labels, and Eq. 1,
///
///     W* = argmin_W ||X^T W - L^T||_F^2   subject to ||w_j||_1 <= mu for every class j,
///
/// solved by spectral projected gradient ([17, 25]; `LassoSPG`, SPGL1's LASSO(tau), one
/// problem per class sharing X). No intercept, as Eq. 1. Every non-zero W[f, j] is a relevant
/// (layer p, filter q) feature of class j.
///
/// Explain (§3.2, `VEbIExplain.swift`): for the explained class j (the predicted class by
/// default, ĵ = F(I)), r = w_j ∘ x_i; the positive entries ranked in decreasing order, the top
/// `top` kept (3, the paper's figures); each visualised by seeding its own activation at its
/// layer (other channels and layers zero) and going back to the image; per-feature heatmap =
/// L2 over colour channels of relu(signal), min-max to [0, 1]; the map = their pixel-wise
/// max. `feature_rank: k` returns the k-th feature's heatmap alone instead.
///
/// Visualisations (`FeatureVisualization.swift`), the three rows of Fig. 8:
/// - `resampled` (the paper's, §3.3): guided-backprop ReLUs, max-pools routed by their
///   switches (the deconvnet unpooling, which is the pool's ordinary backward), and at every
///   strided convolution the stride-1 resampling rule (`BackwardRule.strideOneResampling`:
///   nearest-neighbour resampling of the incoming signal to A + 2O - M + 1, then the
///   transposed convolution at stride 1). Following the authors' code the rule is applied to
///   strided convolutions only; `resample_pools: true` applies it to strided max-pools too
///   (the paper's §3.3 speaks of "operations with stride larger than one").
/// - `deconv_gb`: the same without the resampling rule (Deconvnet + guided backprop [24]).
///   On a network whose only strided layers are max-pools (our an8Flower VGGs) the two are
///   the same computation: the rule declines stride-1 convolutions, so both passes run the
///   same code path and give the same bits.
/// - `upsampled_activation`: the feature's own activation map, bilinearly upsampled to the
///   image (align_corners = false, as the `activation` explainer) and min-max normalised.
///   Not defined for features without a spatial map (fully connected units, global pooling
///   outputs; §4.2 "not applicable"): those are skipped and the ranking continues below them.
///
/// Choices and where they come from:
/// - r = w_ĵ ∘ x_i as the paper writes it. The authors' inference code also L2-normalises
///   x_i and divides w_ĵ by its sum; both are positive rescalings of one image's r (when
///   sum(w_ĵ) > 0), so the ranking and the selection r > 0 are the same.
/// - Seeding with the feature's own activation (not a one-hot): "we backpropagate the
///   activations from filter q at layer p" (§3.2, the visualisation method of [10]).
/// - Heatmap reduction ||relu(a)||_2 over RGB, min-max, pixel-wise max of the top 3: the
///   authors' code (`computePredictionJustificationHeatmaps.m`). A constant heatmap (a
///   feature whose signal never reaches the image) min-maxes to zeros.
/// - mu: default 10, the paper's value "for all datasets" (§4.1); the authors' released code
///   uses 5 on an8Flower, which our an8Flower pipelines pass explicitly. mu bounds each
///   class's L1 budget against descriptors whose layers each sum to 1, so how many features it
///   selects depends on the network (`docs/vebi.md` sweeps it).
/// - Solver: `LassoSPG` with its default tolerance (relative duality gap 1e-6) and up to
///   `max_iterations` = 10000 iterations per class. The pool holds near-duplicate features (a
///   filter's conv, batch-norm and ReLU outputs), which slows SPG: on the an8Flower VGGs a class
///   needs ~1200 iterations, and with SPGL1's usual 1000 one class stopped at a relative gap of
///   1.27. The scalars `solver_converged_classes` and `solver_max_relative_gap` report it.
/// - Fallback: when r has no positive entry (the class has no positive weight, e.g. no
///   training image of that class, or none of its positive features responds to the image),
///   the features are ranked by x_i alone (uniform relevance over the pool) and the image's
///   scalar `fallback` is 1. The map is then "what this image excites most", not a class
///   explanation; it is never an error.
/// - The explanation's scalars: `features_used` (how many heatmaps were combined),
///   `fallback` (0/1), and `feature_k` (k = 1...top: the index of the k-th feature in the
///   fitted pool, -1 when there was none), so a map can be traced to its (layer, channel).
public struct VEbIExplainer: Explainer {
    public init() {}
    public var name: String { "vebi" }
    public var summary: String {
        "relevant (layer, filter) features by mu-lasso per class (fit), their deconvnet+guided-backprop heatmaps with stride-1 resampling"
    }
    public var reference: String {
        "Oramas, Wang, Tuytelaars, Visual Explanation by Interpretation: Improving Visual Feedback Capabilities of Deep Neural Networks, ICLR 2019"
    }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("mu", .float, default: .float(10), range: 1e-6...1e6, phase: .fit,
                      doc: "L1 budget per class, ||w_j||_1 <= mu (Eq. 1; the paper's 10; the authors' code uses 5 on an8Flower)"),
            ParamSpec("features", .choice(FeaturePool.Selection.allCases.map(\.rawValue)), default: .string("all"), phase: .fit,
                      doc: "\"all\" internal values incl. fully connected, or \"conv\" (spatial maps only, the paper's OnlyConv)"),
            ParamSpec("response", .choice(FeaturePool.Response.allCases.map(\.rawValue)), default: .string("l2_squared"), phase: .fit,
                      doc: "per-channel response, squared L2 norm (the authors' code) or L2 norm (the paper's text)"),
            ParamSpec("max_iterations", .int, default: .int(10000), range: 1...1_000_000, phase: .fit,
                      doc: "iteration limit of the spectral projected gradient solver per class (the state's scalars say whether every class converged)"),
            ParamSpec("top", .int, default: .int(3), range: 1...1000, doc: "features visualised and max-combined (the paper's figures: 3)"),
            ParamSpec("visualization", .choice(Visualization.allCases.map(\.rawValue)), default: .string("resampled"),
                      doc: "how a feature becomes a heatmap: the paper's resampled deconvnet+GB, plain deconv_gb, or upsampled_activation"),
            ParamSpec("feature_rank", .int, default: .int(0), range: 0...1000,
                      doc: "0: the pixel-wise max of the top features; k >= 1: the heatmap of the k-th ranked feature alone"),
            ParamSpec("resample_pools", .bool, default: .bool(false),
                      doc: "also resample at strided max-pools (the authors' code resamples at strided convolutions only)"),
            batchSizeSpec(default: 16),
        ]
    }
    /// `batch_size` is an explain-phase parameter although the fit reads it too: it groups
    /// images per inference pass (speed and memory), the responses are per image.
    public var capabilities: Capabilities { [.needsGradients, .batched, .fits] }

    /// The heatmap of one feature (Fig. 8's rows).
    enum Visualization: String, CaseIterable {
        case resampled
        case deconvGB = "deconv_gb"
        case upsampledActivation = "upsampled_activation"
    }
}
