// Layer-wise relevance propagation rules (Bach, Binder, Montavon, Klauschen, Müller, Samek,
// "On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance
// Propagation", PLOS ONE 2015), with the variants Captum 0.9 and DeepExplain implement.
//
// Relevance R travels backwards as the "gradient" of the pass: a rule maps the relevance at a
// node's output to the relevance at its inputs, so the input's gradient is the relevance map.

/// Which rule the weighted layers (Conv, ConvTranspose, Gemm, MatMul) use.
public enum LRPRule: String, Sendable, CaseIterable {
    /// Captum's `EpsilonRule` on every linear layer: R_i = x_i sum_j w_ij R_j / (z_j + eps sign z_j)
    /// (Eq. 58), z_j the layer's output including its bias.
    case epsilon
    /// DeepExplain's eLRP (Ancona et al. 2018): the gradient everywhere except at the
    /// nonlinearities, whose derivative becomes y / (x + eps sign x); the relevance is
    /// x * that modified gradient at the input. For eps -> 0 on a ReLU network it equals the
    /// epsilon rule (chained linear layers cancel their z's); it differs in where eps enters.
    case deepexplain = "epsilon_deepexplain"
    /// Captum's `Alpha1_Beta0_Rule` (the z+ rule, Montavon et al. 2017): the epsilon rule with
    /// the layer's positive weights only, z_j = sum_i x_i w+_ij + b_j.
    case zPlus = "z_plus"
    /// Captum's `GammaRule`: weights w + gamma w+, z_j recomputed with them.
    case gamma
}

extension BackwardRule {
    /// Op types whose weights (input 1) the z+ and gamma rules modify.
    public static let lrpWeightedOps: Set<String> = ["Conv", "ConvTranspose", "Gemm", "MatMul"]
    /// Linear (or piecewise-selecting) op types every LRP variant but DeepExplain's gives the
    /// epsilon rule: the weighted layers and Captum's other rule-carrying layers (BatchNorm,
    /// max and average pooling), plus Add, so a residual sum splits relevance between its
    /// branches in proportion to their contributions instead of copying it to both.
    public static let lrpEpsilonOps: Set<String> = lrpWeightedOps.union(["BatchNormalization", "MaxPool", "GlobalMaxPool",
                                                                         "AveragePool", "GlobalAveragePool", "Add"])
    /// Elementwise activations relevance passes through unchanged (Captum's
    /// `backward_hook_activation` for ReLU, Tanh and Dropout; for ReLU it equals the gradient,
    /// since the relevance arriving there is already zero where the unit is off).
    public static let lrpActivationOps: Set<String> = ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip"]

    /// The epsilon rule on any node: every activation input (not a weight) gets
    /// x_i * VJP_i(R / (z + eps sign z)), sign(0) = +1; weights get no relevance.
    public static func lrpEpsilon(_ epsilon: Float) -> BackwardRule {
        BackwardRule(name: "lrp_epsilon") { ctx in
            let z = ctx.outputs[0], xs = ctx.inputs, isWeight = ctx.isWeight
            return { r in
                var g = ctx.ordinaryVJP(r.lrpDivided(by: z, epsilon: epsilon))
                for i in g.indices {
                    g[i] = i < xs.count && !isWeight[i] ? g[i].flatMap { gi in xs[i].map { gi * $0 } } : nil
                }
                return g
            }
        }
    }

    /// The epsilon rule on the layer with its weights W replaced by `modify(W)` (z recomputed):
    /// the z+ (W+) and gamma (W + gamma W+) rules. A MatMul whose second input is an activation
    /// has no weights to modify and gets the plain epsilon rule.
    static func lrpModifiedWeights(name: String, epsilon: Float, _ modify: @escaping @Sendable (Tensor) -> Tensor) -> BackwardRule {
        BackwardRule(name: name, opTypes: lrpWeightedOps) { ctx in
            let x = try ctx.input(0), w = try ctx.input(1)
            if !ctx.isWeight[1] { return try lrpEpsilon(epsilon).prepare(ctx) }
            let (z, vjp) = try ctx.evaluate(ctx.inputs(replacing: 1, with: modify(w)))
            let n = ctx.inputs.count
            return { r in
                let g = vjp(r.lrpDivided(by: z, epsilon: epsilon))[0]
                return [g.map { $0 * x }] + [Tensor?](repeating: nil, count: n - 1)
            }
        }
    }

    /// Captum's `Alpha1_Beta0_Rule` (z+): positive weights, bias kept.
    public static func lrpZPlus(epsilon: Float) -> BackwardRule {
        lrpModifiedWeights(name: "lrp_z_plus", epsilon: epsilon) { $0.positivePart() }
    }

    /// Captum's `GammaRule`: weights w + gamma max(w, 0), bias kept.
    public static func lrpGamma(_ gamma: Float, epsilon: Float) -> BackwardRule {
        lrpModifiedWeights(name: "lrp_gamma", epsilon: epsilon) { w in Autograd.noGrad { w + w.positivePart() * gamma } }
    }

    /// Relevance passes unchanged to input 0 (Captum's `IdentityRule`, offered for batch norm;
    /// the activations' rule).
    public static let lrpIdentity = BackwardRule(name: "lrp_identity") { ctx in
        let n = ctx.inputs.count
        return { r in [r] + [Tensor?](repeating: nil, count: n - 1) }
    }

    /// DeepExplain's eLRP rule at a nonlinearity: the derivative replaced by y / (x + eps sign x)
    /// (sign(0) = +1, DeepExplain's `tf.where(x >= 0, 1, -1)`).
    public static func lrpDeepExplainActivation(_ epsilon: Float) -> BackwardRule {
        BackwardRule(name: "lrp_deepexplain", opTypes: lrpActivationOps) { ctx in
            let ratio = ctx.outputs[0].lrpDivided(by: try ctx.input(0), epsilon: epsilon)
            let n = ctx.inputs.count
            return { r in [r * ratio] + [Tensor?](repeating: nil, count: n - 1) }
        }
    }

    /// The LRP rules for a whole graph.
    /// - `.epsilon`, `.zPlus`, `.gamma`: the chosen rule on Conv, ConvTranspose, Gemm and MatMul;
    ///   the epsilon rule on BatchNormalization (or the identity rule with
    ///   `batchNormIdentity`), max and average pooling and Add; relevance passes unchanged
    ///   through the activations; the gradient (a re-indexing) through Flatten, Reshape,
    ///   Concat and the like.
    /// - `.deepexplain`: the y / (x + eps sign x) rule on the activations, the gradient elsewhere.
    /// With the epsilon, z+ and gamma rules the first layer multiplies by its input, so the
    /// signal reaching the graph input is the relevance map itself (seed the pass with the
    /// target's score); with `.deepexplain` it is the modified gradient, to be multiplied by the
    /// input (seed 1).
    public static func lrp(_ rule: LRPRule, epsilon: Float, gamma: Float = 0.25,
                           batchNormIdentity: Bool = false) -> [NodeSelector: BackwardRule] {
        var rules: [NodeSelector: BackwardRule] = [:]
        if rule == .deepexplain {
            for op in lrpActivationOps { rules[.opType(op)] = lrpDeepExplainActivation(epsilon) }
            return rules
        }
        for op in lrpEpsilonOps { rules[.opType(op)] = lrpEpsilon(epsilon) }
        for op in lrpActivationOps { rules[.opType(op)] = lrpIdentity }
        if batchNormIdentity { rules[.opType("BatchNormalization")] = lrpIdentity }
        let weighted: BackwardRule? = rule == .zPlus ? lrpZPlus(epsilon: epsilon) : rule == .gamma ? lrpGamma(gamma, epsilon: epsilon) : nil
        if let weighted { for op in lrpWeightedOps { rules[.opType(op)] = weighted } }
        return rules
    }
}
