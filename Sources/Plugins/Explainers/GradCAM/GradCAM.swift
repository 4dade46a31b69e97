import Runtime

/// Grad-CAM (Selvaraju et al. 2017, eqs. 1-2): channel weights alpha_k = spatial mean of
/// d score / d A_k at a conv layer A, map = ReLU(sum_k alpha_k A_k), upsampled bilinearly
/// (align_corners=False, PyTorch's `F.interpolate` and Captum's `LayerAttribution.interpolate`)
/// to the input.
///
/// Choices: the default layer is the OUTPUT OF THE LAST CONV BLOCK, post-ReLU (for ResNet
/// `layer4.1.relu2`, i.e. the output of `layer4[-1]`, which is what pytorch-grad-cam hooks for
/// `target_layers=[model.layer4[-1]]`); see `defaultConvBlockLayer`. No min-max
/// normalisation (pytorch-grad-cam rescales every map to [0, 1] for display; we keep the raw
/// scale, as Captum's `LayerGradCam(relu_attributions=True)` does, so maps stay comparable
/// across images and methods). The score is the context's (`logit` by default, as the
/// paper's y^c "before the softmax").
public struct GradCAMExplainer: Explainer {
    public init() {}
    public var name: String { "gradcam" }
    public var summary: String { "ReLU(sum_k mean(dS/dA_k) A_k) at a conv layer, bilinearly upsampled" }
    public var reference: String {
        "Selvaraju, Cogswell, Das, Vedantam, Parikh, Batra, Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization, ICCV 2017"
    }
    public var parameters: [ParamSpec] { [layerSpec] }
    public var capabilities: Capabilities { [.needsGradients, .layerChoice, .batched] }

    /// Low-resolution Grad-CAM [N, 1, h, w] at `layer` (before upsampling).
    static func lowResolution(_ ctx: ExplainContext, layer: String, plugin: String) throws -> Tensor {
        let (a, g) = try layerActivationsAndGradients(ctx, layer: layer, plugin: plugin, recorded: ctx.recordedPass)
        return Autograd.noGrad {
            let alpha = g.mean(axes: [2, 3], keepDims: true)
            return (a.detached() * alpha).sum(axis: 1, keepDims: true).relu()
        }
    }

    public func targetPass(params: Params, model: Graph) throws -> ForwardOptions? {
        try layerCapturePass(params: params, model: model, plugin: name)
    }
    /// Gradients at the layer only: the pass runs as inference below it.
    public var targetPassNeedsInputGradients: Bool { false }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let layer = try resolveLayer(&ctx, plugin: name)
        let cam = try Self.lowResolution(ctx, layer: layer, plugin: name)
        ctx.progress?(1, 1)
        return Explanation(map: upsampleToInput(cam, ctx.images))
    }
}
