/// Soft thresholding S_κ(a) = sign(a) · max(|a| − κ, 0): the proximal operator of κ‖·‖₁,
/// which is the lasso's z-update (Boyd et al. 2011, §4.4.3 and §6.4) and the solution of a
/// lasso with an orthogonal design. Values inside [−κ, κ] become exactly 0 (the sparsity).
@inlinable
public func softThreshold(_ a: Double, _ kappa: Double) -> Double {
    a > kappa ? a - kappa : (a < -kappa ? a + kappa : 0)
}

@inlinable
public func softThreshold(_ a: Float, _ kappa: Float) -> Float {
    a > kappa ? a - kappa : (a < -kappa ? a + kappa : 0)
}

extension Tensor {
    /// Element-wise soft thresholding by `kappa` >= 0. A solver step, not a differentiable op:
    /// the result carries no autograd history.
    public func softThresholded(_ kappa: Float) -> Tensor {
        Tensor(shape: shape) { out in
            withUnsafeBufferPointer { x in for i in 0..<x.count { out[i] = softThreshold(x[i], kappa) } }
        }
    }
}
