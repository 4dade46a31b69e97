import Runtime

/// Guided Grad-CAM (Selvaraju et al. 2017, sec. 3.1): the guided-backprop attribution
/// multiplied elementwise by the upsampled Grad-CAM map.
///
/// Choices: as the paper ("fuse ... via element-wise multiplication") and Captum's
/// `GuidedGradCam`, the product is per channel: attribution [N, C, H, W] = guided backprop
/// [N, C, H, W] * Grad-CAM [N, 1, H, W]. The Grad-CAM factor is upsampled bilinearly as in
/// the paper (Captum's default `interpolate_mode` is "nearest"; pass through our gradcam if
/// you need that exact variant). Map: channel max of |attribution|, the guided-backprop map
/// reduction, so guided_gradcam = guided_backprop map weighted by Grad-CAM.
public struct GuidedGradCAMExplainer: Explainer {
    public init() {}
    public var name: String { "guided_gradcam" }
    public var summary: String { "guided backprop * upsampled Grad-CAM; map = channel max of |attr|" }
    public var reference: String {
        "Selvaraju, Cogswell, Das, Vedantam, Parikh, Batra, Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization, ICCV 2017"
    }
    public var parameters: [ParamSpec] { [layerSpec] }
    public var capabilities: Capabilities { [.needsGradients, .layerChoice, .batched] }

    /// One recorded pass serves both halves when no ReLU lies between the layer and the
    /// logits (ResNets: average pool and the fully connected layer): guided ReLU rules
    /// recorded on it change only the backward below the layer, so the gradient at the layer
    /// (Grad-CAM's) is the plain one and the gradient at the input is guided backprop's. With
    /// ReLUs above the layer (VGG's classifier) the pass captures the layer without rules and
    /// guided backprop runs its own forward pass.
    public func targetPass(params: Params, model: Graph) throws -> ForwardOptions? {
        var options = try layerCapturePass(params: params, model: model, plugin: name)
        if let layer = options.capture.first, !Self.reluAbove(layer, in: model) {
            options.backwardRules = BackwardRule.allReLUs(.guided)
        }
        return options
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let layer = try resolveLayer(&ctx, plugin: name)
        let cam = try upsampleToInput(GradCAMExplainer.lowResolution(ctx, layer: layer, plugin: name), ctx.images)
        try ctx.cancellation.check()
        // The host's pass carries the guided rules exactly when `targetPass` put them there.
        let shared = Self.reluAbove(layer, in: ctx.model) ? nil : ctx.recordedPass
        let gbp = try inputGradient(ctx, ctx.images, targets: ctx.targets, rules: BackwardRule.allReLUs(.guided),
                                    recorded: shared).grad
        let a = Autograd.noGrad { gbp * cam }
        ctx.progress?(1, 1)
        return Explanation(map: channelMaxAbs(a), attribution: a)
    }

    /// Whether a ReLU node computes from `layer`'s value, directly or through other nodes.
    static func reluAbove(_ layer: String, in g: Graph) -> Bool {
        var reached: Set<String> = [layer]
        for node in g.nodes where node.inputs.contains(where: reached.contains) {
            if node.opType == "Relu" { return true }
            reached.formUnion(node.outputs)
        }
        return false
    }
}
