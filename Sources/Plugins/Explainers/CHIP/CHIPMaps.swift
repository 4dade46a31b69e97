import Runtime

/// CHIP's three visual interpretations from a fitted state (Sec. III-B, "CHIP
/// Interpretation" and "Refined CHIP Interpretation"):
///
/// - CHIP: Ã^c = Σ_k w_c^k A_k at `layer` (Eq. 10), signed, resized to the input;
/// - Refined CHIP: the pointwise product of the CHIP maps of the first and the last conv
///   layers (`refine_layer`, `layer`), each ReLU'd and resized to the input first;
/// - Guided CHIP: guided backprop's attribution [N, C, H, W] ⊙ ReLU(CHIP), map = channel
///   max of |·| (as Guided Grad-CAM, which the paper pairs it with).
struct CHIPMaps {
    /// The state's tensor key for a role's W [C, K].
    static func weightsKey(_ role: String) -> String { role == "layer" ? "weights" : "refine_weights" }

    let layer: String
    let refineLayer: String
    let weights: Tensor
    let refineWeights: Tensor
    let nearest: Bool

    /// Reads the layers and weights the fit stored (the layers as resolved value names in the
    /// notes, since a default layer is not among the given fit parameters); an explicit
    /// `layer`/`refine_layer` that names another layer than the fit's is an error (the
    /// weights belong to their layer).
    init(state: FitState, model: Graph, params: Params) throws {
        layer = try state.note("layer")
        refineLayer = try state.note("refine_layer")
        for (key, fitted) in [("layer", layer), ("refine_layer", refineLayer)] {
            guard let given = try params.string(key) else { continue }
            let value: String
            do { value = try model.resolveValue(given) } catch let e as GraphError { throw PluginError.invalid("'chip' \(key): \(e)") }
            guard value == fitted else {
                throw PluginError.invalid("chip was fitted with \(key): \"\(fitted)\"; this call says \"\(given)\": refit or drop the parameter")
            }
        }
        weights = try state.tensor(Self.weightsKey("layer"))
        refineWeights = try state.tensor(Self.weightsKey("refine_layer"))
        nearest = try params.string("upsample") == "nearest"
    }

    /// Captured activations of `layers` (no gradients), each checked against its weights.
    func activations(_ ctx: ExplainContext, _ layers: [(String, Tensor)]) throws -> [Tensor] {
        let names = layers.map(\.0)
        let r = try Autograd.noGrad { try ctx.model.forward(ctx.images, options: ForwardOptions(capture: names)) }
        return try layers.map { name, w in
            let a = try spatialCapture(r, layer: name, plugin: "chip")
            guard a.shape[1] == w.shape[1] else {
                throw PluginError.invalid("chip: '\(name)' has \(a.shape[1]) channels but the fitted weights have \(w.shape[1]); fit on this model")
            }
            return a
        }
    }

    /// Eq. 10 for each image's target class, [N, 1, h, w], resized to the input.
    func layerMap(_ a: Tensor, _ w: Tensor, _ ctx: ExplainContext) throws -> Tensor {
        let (n, k) = (a.shape[0], a.shape[1])
        if let bad = ctx.targets.first(where: { $0 < 0 || $0 >= w.shape[0] }) {
            throw PluginError.invalid("chip: target class \(bad) but the fitted weights cover \(w.shape[0]) classes")
        }
        let rows = Tensor.concat((0..<n).map { w.select(axis: 0, ctx.targets[$0 % ctx.targets.count]) }, axis: 0).reshaped([n, k, 1, 1])
        let m = Autograd.noGrad { (a * rows).sum(axis: 1, keepDims: true) }
        let (h, wd) = (ctx.images.shape[2], ctx.images.shape[3])
        if m.shape[2] == h && m.shape[3] == wd { return m }
        return nearest ? m.upsampleNearest(size: [h, wd]) : upsampleToInput(m, ctx.images)
    }

    func chip(_ ctx: ExplainContext) throws -> Explanation {
        let a = try activations(ctx, [(layer, weights)])
        return Explanation(map: try layerMap(a[0], weights, ctx))
    }

    func refined(_ ctx: ExplainContext) throws -> Explanation {
        let a = try activations(ctx, [(refineLayer, refineWeights), (layer, weights)])
        let shallow = try layerMap(a[0], refineWeights, ctx), deep = try layerMap(a[1], weights, ctx)
        return Explanation(map: Autograd.noGrad { shallow.relu() * deep.relu() })
    }

    func guided(_ ctx: ExplainContext) throws -> Explanation {
        let a = try activations(ctx, [(layer, weights)])
        let cam = try layerMap(a[0], weights, ctx)
        try ctx.cancellation.check()
        let gbp = try inputGradient(ctx, ctx.images, targets: ctx.targets, rules: BackwardRule.allReLUs(.guided)).grad
        let attribution = Autograd.noGrad { gbp * cam.relu() }
        return Explanation(map: channelMaxAbs(attribution), attribution: attribution)
    }
}
