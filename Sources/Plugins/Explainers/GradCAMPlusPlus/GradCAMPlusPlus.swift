import Runtime

/// Grad-CAM++ (Chattopadhay, Sarkar, Howlader & Balasubramanian 2018): Grad-CAM with the
/// channel weights w_k = sum_ij alpha_ij^k relu(g_ij^k), g = dS/dA at the layer, and
/// alpha = g^2 / (2 g^2 + sum_ab A_ab^k g^3) (Eq. 19 under the paper's exponential-score
/// assumption, which turns the second and third derivatives into powers of the first);
/// map = ReLU(sum_k w_k A_k), upsampled bilinearly to the input (as our `gradcam`).
///
/// Choices, all as pytorch-grad-cam's `GradCAMPlusPlus` (the reference we check against):
/// g is the gradient of the target's logit (the score of the context; the paper's exp is
/// absorbed by Eq. 19); eps = 1e-6 in the denominator; alpha = 0 where g = 0 (the paper's
/// ReLU of Eq. 7 for dead units). Unlike pytorch-grad-cam we do not min-max normalise each
/// map to [0, 1] (kept raw, as our Grad-CAM; normalise downstream for display). The default
/// layer is the last conv block's output (`defaultConvBlockLayer`), Grad-CAM's default.
public struct GradCAMPlusPlusExplainer: Explainer {
    public init() {}
    public var name: String { "gradcam_pp" }
    public var summary: String { "Grad-CAM++: ReLU(sum_k w_k A_k), w_k = sum alpha relu(dS/dA); upsampled" }
    public var reference: String {
        "Chattopadhay, Sarkar, Howlader, Balasubramanian, Grad-CAM++: Generalized Gradient-Based Visual Explanations for Deep Convolutional Networks, WACV 2018"
    }
    public var parameters: [ParamSpec] { [layerSpec] }
    public var capabilities: Capabilities { [.needsGradients, .layerChoice, .batched] }

    /// pytorch-grad-cam's stabiliser in alpha's denominator.
    static let eps: Float = 1e-6

    /// The channel weights [N, K] from activations and gradients [N, K, h, w].
    static func weights(activations a: Tensor, gradients g: Tensor) -> Tensor {
        let (n, k) = (a.shape[0], a.shape[1])
        let plane = a.shape[2] * a.shape[3]
        return Tensor(shape: [n, k, 1, 1]) { w in
            a.withUnsafeBufferPointer { ap in g.withUnsafeBufferPointer { gp in
                for c in 0..<(n * k) {
                    let base = c * plane
                    var sumA: Float = 0
                    for i in 0..<plane { sumA += ap[base + i] }
                    var total: Float = 0
                    for i in 0..<plane {
                        let gi = gp[base + i]
                        guard gi != 0 else { continue }
                        let g2 = gi * gi
                        let alpha = g2 / (2 * g2 + sumA * (g2 * gi) + eps)
                        total += Swift.max(gi, 0) * alpha
                    }
                    w[c] = total
                }
            } }
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
        let (a, g) = try layerActivationsAndGradients(ctx, layer: layer, plugin: name, recorded: ctx.recordedPass)
        let cam = Autograd.noGrad { (a * Self.weights(activations: a, gradients: g)).sum(axis: 1, keepDims: true).relu() }
        ctx.progress?(1, 1)
        return Explanation(map: upsampleToInput(cam, ctx.images))
    }
}
