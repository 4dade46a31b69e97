import Runtime

/// Deconvnet (Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional Networks")
/// as a gradient with a modified ReLU backward: the signal passing back through a ReLU is
/// rectified by its own sign (relu of the incoming gradient), ignoring the forward input;
/// max-pooling routes through the forward switches. This is Springenberg et al.'s and
/// Captum's `Deconvolution` formulation; every `Relu` node of the graph uses the rule.
///
/// Attribution: the reconstructed signal at the input, [N, C, H, W].
/// Map: channel max of |attribution| (the same reduction as the gradient map, so the three
/// backprop variants are directly comparable).
public struct DeconvnetExplainer: Explainer {
    public init() {}
    public var name: String { "deconvnet" }
    public var summary: String { "backprop with deconvnet ReLUs (relu of the gradient); map = channel max of |attr|" }
    public var reference: String { "Zeiler, Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014" }

    public func targetPass(params: Params, model: Graph) throws -> ForwardOptions? {
        ForwardOptions(backwardRules: BackwardRule.allReLUs(.deconvnet))
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let a = try inputGradient(ctx, ctx.images, targets: ctx.targets, rules: BackwardRule.allReLUs(.deconvnet), recorded: ctx.recordedPass).grad
        ctx.progress?(1, 1)
        return Explanation(map: channelMaxAbs(a), attribution: a)
    }
}
