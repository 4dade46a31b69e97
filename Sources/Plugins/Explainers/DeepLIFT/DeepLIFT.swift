import Runtime

/// DeepLIFT (Shrikumar, Greenside & Kundaje 2017) with the rescale rule, as Captum's `DeepLift`
/// computes it: multipliers m = d(y - y_ref) / d(x - x_ref) are propagated like gradients
/// (the chain rule for multipliers, Sec. 3.3), and the attribution is (x - x_ref) * m at the
/// input, which sums to F(x) - F(x_ref) (summation-to-delta, Eq. 1).
///
/// Rules (`BackwardRule.deepLIFT`, one backward pass through the graph's own nodes):
/// - rescale on every elementwise nonlinearity (ReLU, LeakyReLU, Sigmoid, Tanh, Clip, Exp,
///   Log, Sqrt, Abs): m = (y - y_ref) / (x - x_ref), the derivative where |x - x_ref| < 1e-10
///   (Captum's threshold). Captum registers it on ReLU, ELU, LeakyReLU, Sigmoid, Tanh and
///   Softplus modules; the others keep their gradient there.
/// - max pooling (`maxpool`): "split" (default) is the rule Captum's DeepLift defines for
///   MaxPool: the output difference is split at m = max(y, y_ref), y_ref -> m going back
///   through the input's switches and m -> y (non-positive) through the reference's, the sum
///   divided by x - x_ref; summation-to-delta stays exact. "gradient" gives max pooling its
///   gradient, the default of the authors' `deeplift` package, and what Captum 0.9 computes in
///   effect wherever a ReLU module feeds a MaxPool module (the ReLU's hook records the pool's
///   output gradient before the pool's hook rewrites it, so the split is dropped); with it
///   the completeness gap is no longer zero where the input's and the reference's winners differ.
/// - the linear rule (= the gradient) on Conv, Gemm, MatMul, inference BatchNormalization,
///   Add (residual sums), average pooling and reshapes.
/// The reference values every rule reads come from one no-grad pass on the baseline
/// (`Graph.referenceValues`). The RevealCancel rule is not implemented (Captum has none either).
/// Ops with no DeepLIFT rule (Softmax inside the graph, Mul or Div of two activations) keep
/// their gradient, and summation-to-delta then holds only approximately.
///
/// Baselines as integrated gradients takes them (`baseline`, `baseline_tensor`; zeros by
/// default, Captum's default too). The score is the context's: with `prob` or `logprob` the
/// softmax is outside the graph and is linearised by its gradient, so the completeness gap
/// is exact only for `logit` (the default).
///
/// Attribution [N, C, H, W]; map: the SIGNED channel sum (a contribution, as input x gradient's).
/// Scalars per image: `completeness_gap` = |sum(attr) - (F(x) - F(x'))| and
/// `relative_completeness_gap`, which a correct implementation keeps at float rounding.
public struct DeepLIFTExplainer: Explainer {
    public init() {}
    public var name: String { "deeplift" }
    public var summary: String { "(x - x') * DeepLIFT multipliers (rescale rule); map = signed channel sum" }
    public var reference: String {
        "Shrikumar, Greenside, Kundaje, Learning Important Features Through Propagating Activation Differences, ICML 2017"
    }
    public var parameters: [ParamSpec] {
        baselineSpecs + [
            ParamSpec("maxpool", .choice(DeepLIFTMaxPool.allCases.map(\.rawValue)), default: .string(DeepLIFTMaxPool.split.rawValue),
                      doc: "max pooling: split (Captum's rule, exact completeness) or gradient (the deeplift package; Captum 0.9 in effect after a ReLU)"),
        ]
    }
    public var capabilities: Capabilities { [.needsGradients, .batched, .stochastic] }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let base = try baselineBatch(&ctx, plugin: name)
        let rules = try BackwardRule.deepLIFT(maxPool: DeepLIFTMaxPool(rawValue: ctx.params.string("maxpool") ?? "") ?? .split)
        let reference = try ctx.model.referenceValues([base], options: ForwardOptions(backwardRules: rules))
        let r = try inputGradient(ctx, ctx.images, targets: ctx.targets, rules: rules, reference: reference)
        let attribution = Autograd.noGrad { (ctx.images - base) * r.grad }
        let fb = try scoresNoGrad(ctx, base, targets: ctx.targets)
        ctx.progress?(1, 1)
        return Explanation(map: channelSum(attribution), attribution: attribution,
                           scalars: completenessScalars(attribution, fx: r.scores, fb: fb))
    }
}
