import Foundation
import Runtime

/// CHIP, channel-wise disentangled interpretation (Cui, Wang & Wang; shared/papers/001).
///
/// Fit (Sec. III-A/B, §IV-A3), per layer: every image of the fit dataset runs through
/// `gates` perturbed networks in which a random subset of the layer's K channels is switched
/// off (Eq. 1); the global average pool of the gated layer z (Eq. 2), the clean prediction f
/// (Eq. 4) and the perturbed one g (Eq. 3) form the perturbed dataset. The class-
/// discriminative channel importance W = [w_1 … w_C]ᵀ minimises
///
///     ½ Σ_n h(d_n) Σ_s ‖π(X_s) ⊙ (W z_{s,n} − g(X_s, d_n))‖² + λ‖W‖₁        (Eq. 5)
///
/// with π^c = √f^c (Eq. 7) and h(d) = exp(−‖d − 1‖²/σ²) (Eq. 8); it splits into one lasso
/// per class (Eq. 11), solved by scaled ADMM (Eqs. 12-20, Alg. 1; `LassoADMM`, whose
/// iteration is Eqs. 17, 19, 20 with q = −u). See `CHIPLayerFit` and `CHIPStatistics`.
/// Both `layer` and `refine_layer` are fitted into one state, so one fit serves every variant.
///
/// Explain (`variant`, see `CHIPMaps`): "chip" Ã^c = Σ_k w_c^k A_k at `layer` (Eq. 10);
/// "refined" the pointwise product of the CHIP maps of `refine_layer` (the first conv
/// layer) and `layer` (the last); "guided" guided backprop ⊙ the CHIP map.
///
/// What the paper leaves open, and what we chose:
/// - f and g are softmax probabilities (`fit_score: "prob"`): π = √f needs f >= 0, and the
///   paper calls them "predictions". `"logit"` regresses the logits instead (the loyalty
///   weight stays the probability, since a weight must be >= 0).
/// - Σ_n Σ_s read as pairs: fresh gates for every image (100 × images networks, as §IV-A3
///   counts them); the number of open gates uniform on 1…K (a d = 0 draw contributes
///   nothing), which channels uniform among subsets of that size.
/// - σ = `sigma` · √K, scaled by √K so one value suits layers of any width, and λ =
///   `lambda` · ‖b_c‖∞ per class (‖b_c‖∞ is the smallest λ with w_c = 0, so `lambda` is a
///   scale-free fraction, whatever the number of images and gates). Defaults `sigma` = 1.5,
///   `lambda` = 0.01, chosen on VALIDATION images among sigma ∈ {0.25, 0.75 (LIME's kernel
///   width, which CHIP builds on [14]), 1.5} x lambda ∈ {0.001, 0.01, 0.1}: the best mean
///   rank over five validation scores (shapes-loc top-1 localisation on resnet-shapes; IoU
///   at the best threshold and IoU AUC on both an8flower VGGs; examples/chip-*-validation.yaml,
///   docs/chip.md). With sigma = 1.5, h runs from 1 (all gates open) to exp(−1/2.25) ≈ 0.64
///   (all closed): a mild preference for networks near the original.
/// - ρ = `rho` · mean diag(G_c), `rho` = 1: puts the proximal term on the data term's scale
///   (the solver's default); it changes only the speed of ADMM, not its limit.
/// - Initialisation m⁰ = q⁰ = 0; stopping: Boyd's residuals with 1e-4 absolute and relative
///   tolerances, or 1000 iterations (the state's scalars count unconverged classes). No
///   intercept (Eq. 5 has none).
/// - Layers: `layer` defaults to the last conv block's post-ReLU output (as our Grad-CAM),
///   `refine_layer` to the first conv block's post-ReLU output. Pass the same value for both
///   to fit one layer only when Refined maps are not needed.
/// - Maps are raw and signed for "chip"; "refined" and "guided" take the ReLU of each CHIP
///   factor first (a product of two negative maps would otherwise light up regions that
///   both layers call irrelevant; Guided Grad-CAM likewise multiplies by a ReLU'd map).
///   Upsampling is bilinear (align_corners = false) unless `upsample: "nearest"`. The
///   guided factor is guided backprop's attribution [N, C, H, W]; the map is its channel
///   max of |·| as for guided_gradcam.
public struct CHIPExplainer: Explainer {
    public init() {}
    public var name: String { "chip" }
    public var summary: String { "channel importance per class by gated forward passes + ADMM lasso (fit); map sum_k w_ck A_k, refined, or guided" }
    public var reference: String {
        "Cui, Wang, Wang, CHIP: Channel-wise Disentangled Interpretation of Deep Convolutional Neural Networks, IEEE TNNLS 2020"
    }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("layer", .layer, phase: .fit, doc: "layer whose channels are gated and weighted; default: the last conv block's output"),
            ParamSpec("refine_layer", .layer, phase: .fit,
                      doc: "shallow layer for variant refined; default: the first conv block's output; the same as layer fits one layer only"),
            ParamSpec("gates", .int, default: .int(100), range: 1...100_000, phase: .fit, doc: "perturbed networks (gate vectors) per fit image (the paper's 100)"),
            ParamSpec("sigma", .float, default: .float(1.5), range: 0.01...1000, phase: .fit, doc: "width of the proximity kernel h(d) (Eq. 8) in units of sqrt(K)"),
            ParamSpec("lambda", .float, default: .float(0.01), range: 0...1, phase: .fit,
                      doc: "L1 penalty (Eq. 11) as a fraction of ||b_c||_inf, the penalty that zeroes every weight"),
            ParamSpec("rho", .float, default: .float(1), range: 1e-6...1e6, phase: .fit, doc: "ADMM penalty (Eq. 17) as a multiple of mean diag(G_c) (changes speed, not the solution)"),
            ParamSpec("fit_score", .choice(["prob", "logit"]), default: .string("prob"), phase: .fit,
                      doc: "what the perturbed predictions g regress: softmax probabilities (the paper) or logits"),
            ParamSpec("batch_size", .int, default: .int(128), range: 1...65_536, doc: "gated copies per forward pass in the fit (memory vs. speed)"),
            ParamSpec("variant", .choice(["chip", "refined", "guided"]), default: .string("chip"),
                      doc: "chip (Eq. 10), refined (first x last layer CHIP), or guided (guided backprop x CHIP)"),
            ParamSpec("upsample", .choice(["bilinear", "nearest"]), default: .string("bilinear"), doc: "how layer maps are resized to the input"),
        ]
    }
    public var capabilities: Capabilities { [.needsGradients, .layerChoice, .batched, .fits] }

    /// The fit settings in `params`.
    static func settings(_ params: Params) throws -> CHIPLayerFit.Settings {
        CHIPLayerFit.Settings(gates: try params.int("gates"), sigma: try params.float("sigma"), lambda: try params.float("lambda"),
                              rho: try params.float("rho"), logits: try params.string("fit_score") == "logit",
                              batchSize: try params.int("batch_size"))
    }

    /// The resolved value names of `layer` and `refine_layer` (defaults when absent).
    static func layers(_ model: Graph, _ params: Params) throws -> (layer: String, refine: String) {
        func resolve(_ key: String, _ fallback: () throws -> String) throws -> String {
            guard let given = try params.string(key) else { return try fallback() }
            do { return try model.resolveValue(given) } catch let e as GraphError { throw PluginError.invalid("'chip' \(key): \(e)") }
        }
        return (try resolve("layer") { try defaultConvBlockLayer(model) }, try resolve("refine_layer") { try firstConvBlockLayer(model) })
    }

    public func fit(_ ctx: FitContext) throws -> FitState {
        let s = try Self.settings(ctx.params)
        let (layer, refine) = try Self.layers(ctx.model, ctx.params)
        let roles = layer == refine ? [("layer", layer)] : [("layer", layer), ("refine_layer", refine)]
        let total = roles.count * ctx.dataset.count
        var rng = ctx.rng
        var state = FitState(method: name, notes: ["layer": layer, "refine_layer": refine])
        for (r, (role, value)) in roles.enumerated() {
            var layerRNG = rng.split()
            let fit = try CHIPLayerFit.fit(model: ctx.model, dataset: ctx.dataset, layer: value, settings: s, rng: &layerRNG,
                                           cancellation: ctx.cancellation) { done in ctx.progress?(r * ctx.dataset.count + done, total) }
            state.tensors[CHIPMaps.weightsKey(role)] = fit.weights
            CHIPExplainer.record(fit, role: role, settings: s, in: &state)
        }
        if layer == refine { state.tensors[CHIPMaps.weightsKey("refine_layer")] = state.tensors[CHIPMaps.weightsKey("layer")] }
        return state
    }

    /// The fit's diagnostics as scalars `<role>.<what>` and a note when a class did not converge.
    static func record(_ fit: CHIPLayerFit, role: String, settings s: CHIPLayerFit.Settings, in state: inout FitState) {
        let (classes, k) = (fit.weights.shape[0], fit.weights.shape[1])
        let w = fit.weights.scalars
        let unconverged = fit.converged.filter { !$0 }.count
        var nonzero = 0
        for c in 0..<classes {
            let row = w[(c * k)..<((c + 1) * k)]
            let top = row.reduce(Float(0)) { Swift.max($0, Swift.abs($1)) }
            // Fig. 11's rule: important = more than a thousandth of the class's largest weight.
            nonzero += row.filter { top > 0 && Swift.abs($0) > 1e-3 * top }.count
        }
        let seconds = fit.secondsPerturbing + fit.secondsSolving
        state.scalars["\(role).channels"] = Double(k)
        state.scalars["\(role).images"] = Double(fit.images)
        state.scalars["\(role).perturbations"] = Double(fit.perturbations)
        state.scalars["\(role).sigma"] = s.sigma * Double(k).squareRoot()
        state.scalars["\(role).seconds"] = seconds
        state.scalars["\(role).seconds_solving"] = fit.secondsSolving
        state.scalars["\(role).ms_per_image_per_gate"] = fit.perturbations > 0 ? 1000 * fit.secondsPerturbing / Double(fit.perturbations) : 0
        state.scalars["\(role).r2_mean"] = fit.r2.reduce(0, +) / Double(Swift.max(fit.r2.count, 1))
        state.scalars["\(role).iterations_max"] = Double(fit.iterations.max() ?? 0)
        state.scalars["\(role).unconverged_classes"] = Double(unconverged)
        state.scalars["\(role).important_fraction"] = Double(nonzero) / Double(Swift.max(classes * k, 1))
        if unconverged > 0 {
            state.notes["\(role).warning"] = "ADMM stopped at \(s.stopping.maxIterations) iterations for \(unconverged) of \(classes) classes"
        }
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let state = try ctx.fittedState()
        let maps = try CHIPMaps(state: state, model: ctx.model, params: ctx.params)
        let out: Explanation
        switch try ctx.params.string("variant") {
        case "refined": out = try maps.refined(ctx)
        case "guided": out = try maps.guided(ctx)
        default: out = try maps.chip(ctx)
        }
        ctx.progress?(1, 1)
        return out
    }
}
