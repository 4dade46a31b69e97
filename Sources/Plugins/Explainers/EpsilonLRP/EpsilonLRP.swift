import Runtime

/// Epsilon-LRP (Bach, Binder, Montavon, Klauschen, Müller & Samek 2015, Eq. 58): the target's
/// logit is redistributed layer by layer, R_i = x_i sum_j w_ij R_j / (z_j + eps sign z_j), down
/// to the pixels. One backward pass through the graph under `BackwardRule.lrp`.
///
/// Which layers get which rule (`rule`):
/// - "epsilon" (default; Captum's `LRP` with its default `EpsilonRule` on every layer it
///   supports): the epsilon rule on Conv, ConvTranspose, Gemm, MatMul, BatchNormalization,
///   MaxPool, AveragePool, GlobalAveragePool and Add (a residual sum splits relevance between
///   its branches in proportion to their contributions, Captum's `Addition_Module`); relevance
///   passes unchanged through ReLU, LeakyReLU, Sigmoid, Tanh and Clip; Flatten, Reshape and
///   the like re-index it. Biases absorb their share (z includes the bias).
/// - "z_plus": Captum's `Alpha1_Beta0_Rule` (LRP-alpha1beta0, the z+ rule) on Conv, Gemm,
///   MatMul (positive weights, bias kept, as Captum), epsilon on the rest.
/// - "gamma": Captum's `GammaRule` (weights w + gamma w+) on Conv, Gemm, MatMul, epsilon on the rest.
/// - "epsilon_deepexplain": DeepExplain's eLRP (the toolkit the Noise Mask thesis used): the
///   gradient with every activation's derivative replaced by y / (x + eps sign x), times the
///   input. On ReLU networks it equals the epsilon rule as eps -> 0; eps enters only at the
///   activations, and max pooling keeps the gradient (winner takes all).
/// `batchnorm: "identity"` passes relevance through batch norm unchanged (Captum's
/// `IdentityRule`) instead of the epsilon rule.
///
/// The pass starts from R = f_c(x) at the target logit (Captum multiplies its normalised
/// relevances by the output; DeepExplain seeds the gradient with 1, which its rule makes the
/// same). It explains the logit: `score: prob|logprob` does not change it. Captum's default
/// epsilon is 1e-9, DeepExplain's 1e-4 (ours).
///
/// Attribution [N, C, H, W] = the relevance of each input value; map: the SIGNED channel sum.
/// Scalars per image: `relevance_sum` (the total that reached the pixels) and `logit` f_c(x):
/// their difference is what biases and eps absorbed.
public struct EpsilonLRPExplainer: Explainer {
    public init() {}
    public var name: String { "epsilon_lrp" }
    public var summary: String { "layer-wise relevance propagation (epsilon, z+, gamma or DeepExplain's eLRP); map = signed channel sum" }
    public var reference: String {
        "Bach, Binder, Montavon, Klauschen, Müller, Samek, On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation, PLOS ONE 2015"
    }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("rule", .choice(LRPRule.allCases.map(\.rawValue)), default: .string(LRPRule.epsilon.rawValue),
                      doc: "rule of the weighted layers: epsilon (Captum), z_plus, gamma, or DeepExplain's epsilon_deepexplain"),
            ParamSpec("epsilon", .float, default: .float(1e-4), range: 1e-12...1e6,
                      doc: "stabiliser eps in z + eps sign(z) (Captum's default 1e-9, DeepExplain's 1e-4; positive, or a dead unit gives 0/0)"),
            ParamSpec("gamma", .float, default: .float(0.25), range: 0...1e6, doc: "gamma of the gamma rule (Captum's default 0.25)"),
            ParamSpec("batchnorm", .choice(["epsilon", "identity"]), default: .string("epsilon"),
                      doc: "batch norm's rule: epsilon (Captum's default) or identity (relevance passes unchanged)"),
        ]
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let rule = try LRPRule(rawValue: ctx.params.string("rule") ?? "") ?? .epsilon
        let rules = try BackwardRule.lrp(rule, epsilon: Float(ctx.params.float("epsilon")), gamma: Float(ctx.params.float("gamma")),
                                     batchNormIdentity: ctx.params.string("batchnorm") == "identity")
        let xi = ctx.images.requiringGrad()
        let logits = try logitsChecked(ctx.model.forward(xi, options: ForwardOptions(backwardRules: rules)).output, model: ctx.model)
        let (n, classes) = (logits.shape[0], logits.shape[1])
        let values = logits.detached()
        var seed = [Float](repeating: 0, count: n * classes), logit = [Double]()
        for i in 0..<n {
            let c = ctx.targets[i % ctx.targets.count], f = values[flat: i * classes + c]
            seed[i * classes + c] = rule == .deepexplain ? 1 : f
            logit.append(Double(f))
        }
        let signal = gradient(of: logits, wrt: xi, seed: Tensor(shape: [n, classes], data: seed))
        // The Captum-style rules multiply by each layer's input, the image included; DeepExplain's
        // eLRP is a modified gradient, multiplied by the input here.
        let relevance = rule == .deepexplain ? Autograd.noGrad { signal * ctx.images } : signal
        ctx.progress?(1, 1)
        return Explanation(map: channelSum(relevance), attribution: relevance,
                           scalars: ["relevance_sum": perImageSums(relevance), "logit": logit])
    }
}
