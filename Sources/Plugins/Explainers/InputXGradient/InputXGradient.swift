import Runtime

/// Input x gradient (Shrikumar et al. 2016; Captum's `InputXGradient`): the elementwise
/// product of the input and the gradient of the target score, a first-order Taylor
/// contribution of each input value.
///
/// Map: the SIGNED sum over channels. Why signed and summed: the product is a contribution
/// (it sums to the linear approximation of the score), so channels add up, and the sign says
/// whether a pixel speaks for or against the class. Take |map| downstream when only
/// magnitude matters.
public struct InputXGradientExplainer: Explainer {
    public init() {}
    public var name: String { "input_x_gradient" }
    public var summary: String { "input * gradient; map = signed channel sum" }
    public var reference: String {
        "Shrikumar, Greenside, Shcherbina, Kundaje, Not Just a Black Box: Learning Important Features Through Propagating Activation Differences, arXiv 2016"
    }

    public func targetPass(params: Params, model: Graph) throws -> ForwardOptions? { ForwardOptions() }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let a = try ctx.images * inputGradient(ctx, ctx.images, targets: ctx.targets, recorded: ctx.recordedPass).grad
        ctx.progress?(1, 1)
        return Explanation(map: GradientBase.inputXGradient.map(a), attribution: a)
    }
}
