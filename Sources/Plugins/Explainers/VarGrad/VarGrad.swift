import Runtime

/// VarGrad (Adebayo et al. 2018): the variance of a gradient-based attribution over noisy
/// copies of the image, E[a^2] - E[a]^2 per element (Captum's NoiseTunnel "vargrad"; noise
/// and batching as in `NoiseTunnel`). Map: the base method's reduction of the variance
/// (non-negative, so |.| changes nothing).
public struct VarGradExplainer: Explainer {
    public init() {}
    public var name: String { "vargrad" }
    public var summary: String { "variance of a gradient attribution over noisy copies of the input" }
    public var reference: String {
        "Adebayo, Gilmer, Goodfellow, Kim, Local Explanation Methods for Deep Neural Networks Lack Sensitivity to Parameter Values, ICLR Workshop 2018"
    }
    public var parameters: [ParamSpec] { NoiseTunnel.parameters(defaultSamples: 50) }
    public var capabilities: Capabilities { [.needsGradients, .batched, .stochastic] }
    public func explain(_ ctx: inout ExplainContext) throws -> Explanation { try NoiseTunnel.run(&ctx, variance: true) }
}
