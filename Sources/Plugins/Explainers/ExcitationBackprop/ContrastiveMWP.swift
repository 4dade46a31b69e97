import Runtime

/// Contrastive marginal winning probability, c-MWP (Zhang et al. 2016, Sec. 3.3; the c-MWP row
/// of CHIP's Table II): the MWP of the target unit minus that of its dual unit, whose top-layer
/// weights are the target's negated, so evidence shared with the other classes cancels. Both
/// signals are taken through the top layer (W+ for the target, (-W)+ for the dual), subtracted
/// at its input, and carried down to `layer` by ordinary excitation backprop, which is linear
/// in the signal (its normalisers depend on the activations only): the authors' demo does the
/// same with two passes to the layer below the top and one pass down. Map: ReLU of the
/// channel sum at `layer` (the demo's `np.maximum(diff.sum(0), 0)`), upsampled bilinearly.
///
/// Rules and layer choice as `excitation_backprop`; default layer: the last conv block's output.
public struct ContrastiveMWPExplainer: Explainer {
    public init() {}
    public var name: String { "c_mwp" }
    public var summary: String { "contrastive excitation backprop: ReLU(MWP(target) - MWP(dual)) at a layer, upsampled" }
    public var reference: String {
        "Zhang, Bargal, Lin, Brandt, Shen, Sclaroff, Top-down Neural Attention by Excitation Backprop, ECCV 2016 (IJCV 2018)"
    }
    public var parameters: [ParamSpec] { [layerSpec] }
    public var capabilities: Capabilities { [.needsGradients, .layerChoice, .batched] }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let layer = try resolveLayer(ctx, plugin: name)
        let p = try ExcitationPass.probabilities(ctx, layer: layer, contrastive: true, plugin: name)
        ctx.progress?(1, 1)
        return Explanation(map: upsampleToInput(Autograd.noGrad { channelSum(p).relu() }, ctx.images))
    }
}
