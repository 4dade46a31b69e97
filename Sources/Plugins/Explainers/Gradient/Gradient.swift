import Runtime

/// Vanilla gradient saliency (Simonyan, Vedaldi & Zisserman 2014, "Deep Inside Convolutional
/// Networks", sec. 3.1): the derivative of the class score with respect to the input pixels.
///
/// Attribution: the gradient itself, [N, C, H, W] (Captum's `Saliency(abs=False)`).
/// Map: max over channels of |gradient|, as the paper does for RGB images ("the maximum
/// magnitude of w across all colour channels").
public struct GradientExplainer: Explainer {
    public init() {}
    public var name: String { "gradient" }
    public var summary: String { "input gradient of the target score; map = channel max of |grad|" }
    public var reference: String {
        "Simonyan, Vedaldi, Zisserman, Deep Inside Convolutional Networks: Visualising Image Classification Models and Saliency Maps, ICLR Workshop 2014"
    }

    public func targetPass(params: Params, model: Graph) throws -> ForwardOptions? { ForwardOptions() }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let g = try inputGradient(ctx, ctx.images, targets: ctx.targets, recorded: ctx.recordedPass).grad
        ctx.progress?(1, 1)
        return Explanation(map: GradientBase.gradient.map(g), attribution: g)
    }
}
