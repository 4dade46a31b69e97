// DeepLIFT's backward rules (Shrikumar, Greenside, Kundaje, "Learning Important Features
// Through Propagating Activation Differences", ICML 2017), as Captum 0.9's `DeepLift` applies them.

extension BackwardRule {
    /// Captum's threshold below which a difference from the reference counts as none (then the
    /// gradient stands in for the multiplier, `torch.where(abs(delta_in) < eps, grad, ...)`).
    public static let deepLIFTEpsilon: Float = 1e-10

    /// Unary elementwise nonlinearities the rescale rule handles. Captum registers it for ReLU,
    /// ELU, LeakyReLU, Sigmoid, Tanh and Softplus modules (others keep the gradient there); the
    /// rule is the same secant slope for any elementwise function, so it applies to all of ours.
    public static let deepLIFTRescaleOps: Set<String> = ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Exp", "Log", "Sqrt", "Abs"]

    /// The rescale rule: multiplier m = (y - y_ref) / (x - x_ref) elementwise, the
    /// secant slope between the input and its reference; where |x - x_ref| < 1e-10 the
    /// derivative f'(x) instead (Captum's `nonlinear`). Multipliers chain like gradients
    /// (Sec. 3.3), so the multiplier times (x - x_ref) at the input sums to f(x) - f(x_ref).
    public static let deepLIFTRescale = BackwardRule(name: "deeplift_rescale", opTypes: deepLIFTRescaleOps) { ctx in
        let n = ctx.inputs.count
        // Only a Clip bound can need a gradient when the data input does not; nothing to rescale then.
        guard ctx.needsGradient[0] else { return { _ in [Tensor?](repeating: nil, count: n) } }
        let x = try ctx.input(0), y = ctx.outputs[0]
        let xr = try ctx.referenceInput(0, rule: "deeplift_rescale"), yr = try ctx.referenceOutput(0, rule: "deeplift_rescale")
        // f'(x) elementwise: the ordinary VJP of an elementwise op applied to ones.
        guard let derivative = ctx.ordinaryVJP(Tensor.ones(y.shape)).first ?? nil else {
            throw ctx.kernel.fail("deeplift_rescale: no gradient reaches the input")
        }
        let slope = Tensor(shape: x.shape) { m in
            x.withUnsafeBufferPointer { xp in xr.withUnsafeBufferPointer { xrp in
            y.withUnsafeBufferPointer { yp in yr.withUnsafeBufferPointer { yrp in derivative.withUnsafeBufferPointer { dp in
                for i in 0..<m.count {
                    let dx = xp[i] - xrp[i]
                    m[i] = Swift.abs(dx) < deepLIFTEpsilon ? dp[i] : (yp[i] - yrp[i]) / dx
                }
            } } } } }
        }
        return { g in [g * slope] + [Tensor?](repeating: nil, count: n - 1) }
    }

    /// The max-pool rule Captum's DeepLift defines (`maxpool` in captum/attr/_core/deep_lift.py),
    /// for MaxPool and GlobalMaxPool. With y = pool(x), y_ref = pool(x_ref) and m = max(y, y_ref) per output:
    /// the part m - y_ref of the output difference goes back through x's switches, the part
    /// y - m (<= 0, non-zero where the reference pooled higher) through the reference's
    /// switches; their sum, divided by x - x_ref, is the input multiplier (the gradient where
    /// |x - x_ref| < 1e-10). So each output's difference y - y_ref is split between the two
    /// winners and summation-to-delta holds through the pool.
    public static let deepLIFTMaxPool = BackwardRule(name: "deeplift_maxpool", opTypes: ["MaxPool", "GlobalMaxPool"]) { ctx in
        let x = try ctx.input(0), y = ctx.outputs[0]
        let xr = try ctx.referenceInput(0, rule: "deeplift_maxpool"), yr = try ctx.referenceOutput(0, rule: "deeplift_maxpool")
        let atReference = try ctx.evaluate(ctx.inputs(replacing: 0, with: xr)).vjp
        let high = Tensor.maximum(y, yr)
        let (ownPart, referencePart) = Autograd.noGrad { (high - yr, y - high) }
        let dx = Autograd.noGrad { x - xr }
        let n = ctx.inputs.count
        return { g in
            guard let viaX = ctx.ordinaryVJP(g * ownPart)[0], let viaRef = atReference(g * referencePart)[0],
                  let ordinary = ctx.ordinaryVJP(g)[0] else { return [Tensor?](repeating: nil, count: n) }
            let routed = viaX + viaRef
            let m = Tensor(shape: dx.shape) { out in
                dx.withUnsafeBufferPointer { d in routed.withUnsafeBufferPointer { r in ordinary.withUnsafeBufferPointer { o in
                    for i in 0..<out.count { out[i] = Swift.abs(d[i]) < deepLIFTEpsilon ? o[i] : r[i] / d[i] }
                } } }
            }
            return [m] + [Tensor?](repeating: nil, count: n - 1)
        }
    }

    /// DeepLIFT's rules for a whole graph: rescale on every elementwise nonlinearity, max
    /// pooling as `maxPool` says, and the linear rule (which is the gradient) everywhere else:
    /// Conv, Gemm, MatMul, BatchNormalization in inference, Add, average pooling, reshapes.
    /// Pass with `ForwardOptions.reference` from `Graph.referenceValues`.
    public static func deepLIFT(maxPool: DeepLIFTMaxPool = .split) -> [NodeSelector: BackwardRule] {
        var rules: [NodeSelector: BackwardRule] = [:]
        if maxPool == .split { for op in ["MaxPool", "GlobalMaxPool"] { rules[.opType(op)] = deepLIFTMaxPool } }
        for op in deepLIFTRescaleOps { rules[.opType(op)] = deepLIFTRescale }
        return rules
    }
}

/// How DeepLIFT treats max pooling.
public enum DeepLIFTMaxPool: String, Sendable, CaseIterable {
    /// `BackwardRule.deepLIFTMaxPool`: the output difference split between the input's and the
    /// reference's winners; keeps summation-to-delta exact.
    case split
    /// The gradient (the winner takes the multiplier): the default of the authors' `deeplift`
    /// package (`MaxPoolDeepLiftMode.gradient`). It is also what Captum 0.9 computes in effect on
    /// ReLU -> MaxPool stacks: its ReLU hook records the pool's output gradient before the
    /// pool's own hook rewrites it, so the max-pool rule's result is dropped. Summation-to-delta
    /// then holds only where the input's and the reference's winners coincide.
    case gradient
}
