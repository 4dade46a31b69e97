import Runtime

/// The gradient-based attributions that SmoothGrad and VarGrad can wrap, with each one's
/// own map reduction, so `smoothgrad(base: "guided_backprop")` averages exactly what
/// `guided_backprop` computes and reduces it the same way.
enum GradientBase: String, CaseIterable {
    case gradient
    case inputXGradient = "input_x_gradient"
    case guidedBackprop = "guided_backprop"
    case integratedGradients = "integrated_gradients"

    /// Attribution [M, C, H, W] of a batch `x` for per-item `targets`. `igSteps` and
    /// `batchSize` only matter for integrated gradients (zero baseline, Captum's trapezoid).
    func attribute(_ ctx: ExplainContext, _ x: Tensor, targets: [Int], igSteps: Int, batchSize: Int) throws -> Tensor {
        switch self {
        case .gradient: return try inputGradient(ctx, x, targets: targets).grad
        case .inputXGradient: return try x * inputGradient(ctx, x, targets: targets).grad
        case .guidedBackprop: return try inputGradient(ctx, x, targets: targets, rules: BackwardRule.allReLUs(.guided)).grad
        case .integratedGradients:
            return try pathIntegratedGradients(ctx, x, baseline: Tensor.zeros(x.shape), targets: targets, steps: igSteps,
                                           rule: .trapezoid, batchSize: batchSize).attribution
        }
    }

    /// The method's map from its attribution (see each explainer for why).
    func map(_ a: Tensor) -> Tensor {
        switch self {
        case .gradient, .guidedBackprop: return channelMaxAbs(a)
        case .inputXGradient: return channelSum(a)
        case .integratedGradients: return channelSumAbs(a)
        }
    }
}
