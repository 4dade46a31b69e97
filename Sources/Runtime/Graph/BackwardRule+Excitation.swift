// Excitation backprop (Zhang, Bargal, Lin, Brandt, Shen, Sclaroff, "Top-down Neural Attention
// by Excitation Backprop", ECCV 2016 / IJCV 2018): the backward pass carries marginal winning
// probabilities P(a) of a probabilistic winner-take-all process, Eqs. 2-4.

extension BackwardRule {
    /// Op types with weights the excitation rule handles.
    public static let excitationWeightedOps: Set<String> = ["Conv", "Gemm", "MatMul"]

    /// The excitation layer (Eq. 3): P(a_i) = a_i sum_j w+_ij P(a_j) / sum_i' a_i' w+_i'j, i.e.
    /// x * VJP_{W+}(P / z+) with z+ = W+ x (no bias), 0 where z+ = 0 (the authors' Caffe
    /// `Backward_eb` of convolution and inner-product layers). The probabilities stay
    /// probabilities when the inputs are non-negative (ReLU outputs, images in [0, 1]).
    public static let excitation = BackwardRule(name: "excitation", opTypes: excitationWeightedOps) { ctx in
        let x = try ctx.input(0)
        let (z, vjp) = try excitationLayer(ctx, weights: try ctx.input(1).positivePart())
        let n = ctx.inputs.count
        return { p in [vjp(p.excitationDivided(by: z))[0].map { $0 * x }] + [Tensor?](repeating: nil, count: n - 1) }
    }

    /// The contrastive top layer of c-MWP (Sec. 3.3): the target unit's MWP through W+ minus
    /// that of its dual unit, whose weights are the negated ones (so W+ of -W, the negative
    /// part of W): x * (VJP_{W+}(P / z+) - VJP_{W-}(P / z-)). Below this layer the ordinary
    /// excitation rules carry the difference down (they are linear in P, their normalisers
    /// depending on activations only), which is the authors' demo: two passes to the layer
    /// below the top, subtract, one pass down.
    public static let contrastiveExcitation = BackwardRule(name: "contrastive_excitation", opTypes: excitationWeightedOps) { ctx in
        let x = try ctx.input(0), w = try ctx.input(1)
        let (zPos, vjpPos) = try excitationLayer(ctx, weights: w.positivePart())
        let (zNeg, vjpNeg) = try excitationLayer(ctx, weights: Autograd.noGrad { -w }.positivePart())
        let n = ctx.inputs.count
        return { p in
            let pos = vjpPos(p.excitationDivided(by: zPos))[0], neg = vjpNeg(p.excitationDivided(by: zNeg))[0]
            guard let pos, let neg else { return [Tensor?](repeating: nil, count: n) }
            return [(pos - neg) * x] + [Tensor?](repeating: nil, count: n - 1)
        }
    }

    /// The layer with `weights` in place of its own and no bias (Gemm's C, Conv's B), and the
    /// VJP with respect to its input.
    static func excitationLayer(_ ctx: BackwardRuleContext, weights: Tensor) throws -> (Tensor, VectorJacobianProduct) {
        guard ctx.isWeight.count > 1 && ctx.isWeight[1] else {
            throw GraphError.badInput("excitation backprop at node '\(ctx.node.name)': input 1 is not a weight (a \(ctx.node.opType) of two activations)")
        }
        var inputs = ctx.inputs(replacing: 1, with: weights)
        if inputs.count > 2 { inputs[2] = nil }
        return try ctx.evaluate(inputs)
    }

    /// Average pooling as an excitation layer with equal weights: P(a_i) = a_i P(a_j) /
    /// sum_window a (the authors' Caffe `PoolingLayer::Backward_eb`, 0 where the window's
    /// sum is not positive).
    public static let excitationAveragePool = BackwardRule(name: "excitation_average", opTypes: ["AveragePool", "GlobalAveragePool"]) { ctx in
        let x = try ctx.input(0), y = ctx.outputs[0]
        return { p in [ctx.ordinaryVJP(p.excitationDivided(by: y, positiveOnly: true))[0].map { $0 * x }] }
    }

    /// A sum node (residual Add) as an excitation layer with unit weights over the inputs'
    /// positive parts: P(a_k) = a_k+ P / sum_k' a_k'+ (0 where no input is positive). The
    /// authors' Caffe `EltwiseLayer::Backward_eb` instead sends everything to the second
    /// input (the residual branch of their ResNet prototxts) and nothing to the shortcut;
    /// we keep Eq. 3's proportional split, which does not depend on the input order.
    public static let excitationAdd = BackwardRule(name: "excitation_add", opTypes: ["Add"]) { ctx in
        let parts = try (0..<ctx.inputs.count).map { try ctx.input($0).positivePart() }
        guard parts.allSatisfy({ $0.shape == ctx.outputs[0].shape }) else {
            throw GraphError.badInput("excitation backprop at node '\(ctx.node.name)': Add with broadcasting is not a sum of activations")
        }
        let total = parts.dropFirst().reduce(parts[0]) { a, b in Autograd.noGrad { a + b } }
        let activation = ctx.isWeight.map(!)
        return { p in
            let share = p.excitationDivided(by: total, positiveOnly: true)
            return parts.indices.map { activation[$0] ? share * parts[$0] : nil }
        }
    }

    /// Batch normalisation passes the signal unchanged (the authors' `BatchNormLayer::Backward_eb`
    /// copies the top diff; their Scale layer likewise).
    public static let excitationPassThrough = BackwardRule(name: "excitation_identity", opTypes: ["BatchNormalization"]) { ctx in
        let n = ctx.inputs.count
        return { p in [p] + [Tensor?](repeating: nil, count: n - 1) }
    }

    /// Excitation backprop over a whole graph: the excitation rule on Conv, Gemm and MatMul,
    /// average pooling as an excitation layer, Add split by positive contributions, batch norm
    /// passed through; max pooling (winner-take-all: the gradient, as the authors' code),
    /// ReLU and reshapes keep their gradient. `contrastiveTop` names the node whose rule is the
    /// contrastive one (c-MWP).
    public static func excitationBackprop(contrastiveTop: String? = nil) -> [NodeSelector: BackwardRule] {
        var rules: [NodeSelector: BackwardRule] = [.opType("AveragePool"): excitationAveragePool, .opType("GlobalAveragePool"): excitationAveragePool,
                                                   .opType("Add"): excitationAdd, .opType("BatchNormalization"): excitationPassThrough]
        for op in excitationWeightedOps { rules[.opType(op)] = excitation }
        if let top = contrastiveTop { rules[.node(top)] = contrastiveExcitation }
        return rules
    }
}
