import Runtime

/// Upsampled activation maps: a layer's activations averaged over channels and resized
/// bilinearly to the input. The class-agnostic baseline of the Visual Explanation by
/// Interpretation paper ("upsampled activation maps"): it shows where the layer responds,
/// whatever the target, so the `target` and `score` settings do not change it.
///
/// Choices: channel MEAN (not sum, so the scale does not grow with the width of the layer),
/// no ReLU (post-ReLU layers are non-negative anyway; the default layer is post-ReLU when the
/// network has one), bilinear with align_corners=False (PyTorch's `F.interpolate` default).
public struct ActivationExplainer: Explainer {
    public init() {}
    public var name: String { "activation" }
    public var summary: String { "channel-mean activations of a layer, bilinearly upsampled to the input" }
    public var reference: String {
        "Oramas, Wang, Tuytelaars, Visual Explanation by Interpretation: Improving Visual Feedback Capabilities of Deep Neural Networks, ICLR 2019 (baseline)"
    }
    public var parameters: [ParamSpec] { [layerSpec] }
    public var capabilities: Capabilities { [.layerChoice, .batched] }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let layer = try resolveLayer(&ctx, plugin: name)
        let a = try Autograd.noGrad { () throws -> Tensor in
            let r = try ctx.model.forward(ctx.images, options: ForwardOptions(capture: [layer], stopAt: layer))
            return try spatialCapture(r, layer: layer, plugin: name)
        }
        ctx.progress?(1, 1)
        return Explanation(map: upsampleToInput(a.mean(axis: 1, keepDims: true), ctx.images))
    }
}
