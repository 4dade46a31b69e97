import Runtime

/// Class activation mapping (Zhou et al. 2016, "Learning Deep Features for Discriminative
/// Localization", eq. 2): for a network that ends in global average pooling followed by a
/// linear classifier, M_c(x, y) = sum_k w_{c,k} f_k(x, y), with f_k the feature maps that
/// enter the pooling and w_c the classifier row of class c; upsampled bilinearly to the input.
///
/// Choices: the map is the raw weighted sum (signed, no ReLU, no bias, no normalisation:
/// eq. 2 exactly; the class score is its spatial mean plus the bias). It explains the logit,
/// so `score: prob|logprob` does not change it. The head is found in the graph:
/// GlobalAveragePool -> (Flatten | Reshape | Squeeze)* -> Gemm/MatMul with a weight
/// initializer, whose output is the model's logits (possibly through Softmax/LogSoftmax).
/// Models without such a head get a PluginError saying so (use gradcam instead).
public struct CAMExplainer: Explainer {
    public init() {}
    public var name: String { "cam" }
    public var summary: String { "class activation map for GAP + linear heads: sum_k w_ck A_k, upsampled" }
    public var reference: String {
        "Zhou, Khosla, Lapedriza, Oliva, Torralba, Learning Deep Features for Discriminative Localization, CVPR 2016"
    }
    public var capabilities: Capabilities { [.batched] }

    /// The feature map entering the GAP head and the classifier weights as [classes, K].
    static func findHead(_ g: Graph) throws -> (features: String, weights: Tensor) {
        func consumers(_ v: String) -> [GraphNode] { g.nodes.filter { $0.inputs.contains(v) } }
        func reachesLogits(_ v: String) -> Bool {
            var cur = v
            while true {
                if cur == g.outputs.first { return true }
                let cs = consumers(cur)
                guard cs.count == 1, ["Softmax", "LogSoftmax", "Identity"].contains(cs[0].opType), let o = cs[0].outputs.first else { return false }
                cur = o
            }
        }
        for gap in g.nodes.reversed() where gap.opType == "GlobalAveragePool" {
            var v = gap.outputs[0]
            while let c = consumers(v).first, consumers(v).count == 1, ["Flatten", "Reshape", "Squeeze"].contains(c.opType) { v = c.outputs[0] }
            let cs = consumers(v)
            guard cs.count == 1, ["Gemm", "MatMul"].contains(cs[0].opType), cs[0].inputs.first == v,
                  cs[0].inputs.count >= 2, var w = g.weight(cs[0].inputs[1]), w.rank == 2, reachesLogits(cs[0].outputs[0]) else { continue }
            let fc = cs[0]
            let transB = fc.opType == "Gemm" && fc.int("transB") == 1
            if !transB { w = w.transposed() }
            if fc.opType == "Gemm", let alpha = fc.float("alpha"), alpha != 1 { w = w * alpha }
            return (gap.inputs[0], w)
        }
        throw PluginError.invalid("'cam' needs a GlobalAveragePool -> Flatten -> Gemm (fully connected) head producing the logits; model '\(g.name)' has none (use gradcam, which works for any conv layer)")
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let (layer, w) = try Self.findHead(ctx.model)
        let a = try Autograd.noGrad { () throws -> Tensor in
            let r = try ctx.model.forward(ctx.images, options: ForwardOptions(capture: [layer], stopAt: layer))
            return try spatialCapture(r, layer: layer, plugin: name)
        }
        let (n, k) = (a.shape[0], a.shape[1])
        guard w.shape[1] == k else {
            throw PluginError.invalid("'cam': the classifier takes \(w.shape[1]) features but '\(layer)' has \(k) channels")
        }
        // Rows w[c_n, :] as [N, K, 1, 1] channel weights.
        let rows = Tensor.concat(ctx.targets.map { w.select(axis: 0, $0) }, axis: 0).reshaped([n, k, 1, 1])
        let cam = Autograd.noGrad { (a * rows).sum(axis: 1, keepDims: true) }
        ctx.progress?(1, 1)
        return Explanation(map: upsampleToInput(cam, ctx.images))
    }
}
