import Runtime

/// Excitation backprop (Zhang, Bargal, Lin, Brandt, Shen & Sclaroff 2016/2018): the top-down
/// signal is the marginal winning probability (MWP) of a probabilistic winner-take-all process
/// (Eq. 2): starting from P = 1 at the target unit, each layer passes P(a_j) to its inputs in
/// proportion to their excitatory contributions, P(a_i | a_j) = a_i w_ij+ / sum_i' a_i' w_i'j+
/// (Eq. 3), and the map is sum over channels of P at a chosen `layer`, upsampled bilinearly to
/// the input (as our Grad-CAM).
///
/// Rules (`BackwardRule.excitationBackprop`): Conv, Gemm and MatMul with W+ and no bias (0
/// where nothing excites a unit), average pooling as equal positive weights, max pooling
/// winner-take-all (the gradient), ReLU and reshapes by their gradient, batch norm passed
/// through unchanged (the authors' Caffe layers do all of these), and residual Add split in
/// proportion to the inputs' positive parts (the authors' Caffe Eltwise sends everything to
/// the residual branch; see `BackwardRule.excitationAdd`). The pass starts at the top weighted
/// layer (the Gemm, MatMul or Conv that produces the logits, found through Flatten, Reshape,
/// Squeeze, Identity and a trailing Softmax), so `score:` does not change it.
///
/// Choices: the paper computes maps at an intermediate layer (pool3 of GoogleNet in the
/// authors' demo); the default here is the last conv block's output (`defaultConvBlockLayer`,
/// Grad-CAM's default), and any layer (the input too) can be chosen. The map is not
/// normalised (the demo rescales to [0, 1] for display).
///
/// With `contrastive` this is c-MWP, the contrastive marginal winning probability (Sec. 3.3;
/// the c-MWP row of CHIP's Table II): the MWP of the target unit minus that of its dual unit,
/// whose top-layer weights are the target's negated, so evidence shared with the other classes
/// cancels. Both signals are taken through the top layer (W+ for the target, (-W)+ for the
/// dual), subtracted at its input, and carried down to `layer` by ordinary excitation
/// backprop, which is linear in the signal (its normalisers depend on the activations only):
/// the authors' demo does the same with two passes to the layer below the top and one pass
/// down. Map: ReLU of the channel sum at `layer` (the demo's `np.maximum(diff.sum(0), 0)`).
public struct ExcitationBackpropExplainer: Explainer {
    /// c-MWP instead of MWP.
    public let contrastive: Bool
    public init(contrastive: Bool = false) { self.contrastive = contrastive }
    public var name: String { contrastive ? "c_mwp" : "excitation_backprop" }
    public var summary: String {
        contrastive ? "contrastive excitation backprop: ReLU(MWP(target) - MWP(dual)) at a layer, upsampled"
                    : "marginal winning probabilities (W+ backprop) at a layer, summed over channels, upsampled"
    }
    public var reference: String {
        "Zhang, Bargal, Lin, Brandt, Shen, Sclaroff, Top-down Neural Attention by Excitation Backprop, ECCV 2016 (IJCV 2018)"
    }
    public var parameters: [ParamSpec] { [layerSpec] }
    public var capabilities: Capabilities { [.needsGradients, .layerChoice, .batched] }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let layer = try resolveLayer(&ctx, plugin: name)
        let p = try ExcitationPass.probabilities(ctx, layer: layer, contrastive: contrastive, plugin: name)
        ctx.progress?(1, 1)
        let map = Autograd.noGrad { contrastive ? channelSum(p).relu() : channelSum(p) }
        return Explanation(map: upsampleToInput(map, ctx.images))
    }
}

/// The excitation pass shared by `excitation_backprop` and `c_mwp`.
enum ExcitationPass {
    /// Ops the search for the top layer walks back through from the graph output.
    static let passThrough: Set<String> = ["Flatten", "Reshape", "Squeeze", "Identity", "Softmax", "LogSoftmax"]

    /// The weighted node whose output the logits are (Eq. 2's top layer).
    static func topNode(_ g: Graph, plugin: String) throws -> GraphNode {
        guard var value = g.outputs.first else { throw PluginError.invalid("'\(plugin)': the model has no output") }
        while let node = g.producer(of: value) {
            if BackwardRule.excitationWeightedOps.contains(node.opType) { return node }
            guard passThrough.contains(node.opType), let input = node.inputs.first else { break }
            value = input
        }
        throw PluginError.invalid("'\(plugin)': the model's output is not produced by a Gemm, MatMul or Conv layer "
            + "(through Flatten, Reshape, Squeeze or Softmax); excitation backprop starts at such a top layer")
    }

    /// P at `layer` [N, K, h, w] for each image's target unit: the MWP, or with `contrastive`
    /// the target's MWP minus its dual's (c-MWP, Sec. 3.3).
    static func probabilities(_ ctx: ExplainContext, layer: String, contrastive: Bool, plugin: String) throws -> Tensor {
        let top = try topNode(ctx.model, plugin: plugin)
        guard let topValue = top.outputs.first else { throw PluginError.invalid("'\(plugin)': node '\(top.name)' has no output") }
        var options = ForwardOptions(capture: [layer, topValue])
        options.backwardRules = BackwardRule.excitationBackprop(contrastiveTop: contrastive ? top.name : nil)
        let r = try ctx.model.forward(ctx.images, options: options)
        let a = try spatialCapture(r, layer: layer, plugin: plugin)
        guard let scores = r.captured[topValue], scores.shape[0] == ctx.images.shape[0] else {
            throw PluginError.invalid("'\(plugin)': the top layer '\(top.name)' was not computed")
        }
        let (n, classes) = (scores.shape[0], scores.count / scores.shape[0])
        var seed = [Float](repeating: 0, count: scores.count)
        for i in 0..<n {
            let c = ctx.targets[i % ctx.targets.count]
            guard c < classes else { throw PluginError.invalid("'\(plugin)': target \(c) is outside the top layer's \(classes) units") }
            seed[i * classes + c] = 1
        }
        return gradient(of: scores, wrt: a, seed: Tensor(shape: scores.shape, data: seed))
    }
}
