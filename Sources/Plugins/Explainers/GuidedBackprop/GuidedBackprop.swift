import Runtime

/// Guided backpropagation (Springenberg et al. 2015, "Striving for Simplicity", sec. 3.4):
/// at each ReLU the gradient passes only where both the forward input and the incoming
/// gradient are positive. Every `Relu` node of the graph uses the rule (Captum's
/// `GuidedBackprop` likewise overrides every ReLU module).
///
/// Attribution: the guided gradient at the input, [N, C, H, W].
/// Map: channel max of |attribution|.
public struct GuidedBackpropExplainer: Explainer {
    public init() {}
    public var name: String { "guided_backprop" }
    public var summary: String { "backprop with guided ReLUs; map = channel max of |attr|" }
    public var reference: String {
        "Springenberg, Dosovitskiy, Brox, Riedmiller, Striving for Simplicity: The All Convolutional Net, ICLR Workshop 2015"
    }

    public func targetPass(params: Params, model: Graph) throws -> ForwardOptions? {
        ForwardOptions(backwardRules: BackwardRule.allReLUs(.guided))
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let a = try inputGradient(ctx, ctx.images, targets: ctx.targets, rules: BackwardRule.allReLUs(.guided), recorded: ctx.recordedPass).grad
        ctx.progress?(1, 1)
        return Explanation(map: GradientBase.guidedBackprop.map(a), attribution: a)
    }
}
