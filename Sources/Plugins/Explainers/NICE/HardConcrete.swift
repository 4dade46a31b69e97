import Foundation
import Runtime

/// The hard concrete gate of NICE (§2.1.1, after Louizos, Welling & Kingma 2018), the loss
/// terms built on it (Eqs. 6, 8, 9) and the deterministic test mask (Eq. 11). Everything is
/// composed from differentiable runtime ops (sigmoid, affine, clamp, slices, abs, mean), so
/// gradients reach log alpha and, through it, the generator.
enum HardConcrete {
    /// §2.1.1: beta = 2/3, gamma = -0.1, zeta = 1.1 (the authors' code uses beta = 0.66).
    static let beta: Float = 2.0 / 3.0
    static let gamma: Float = -0.1
    static let zeta: Float = 1.1
    /// beta * log(-gamma / zeta): the shift in Eq. 6 and Eq. 9.
    static var shift: Float { beta * Foundation.log(-gamma / zeta) }

    /// Which deterministic estimator Eq. 11 uses at test time.
    enum TestEstimator: String, CaseIterable {
        /// The authors' public code (`l0_test`) and Louizos et al.: sigma(log alpha).
        case code
        /// The paper's Eq. 11 as printed: sigma(log alpha / beta).
        case paper
    }

    /// Logistic noise log u - log(1 - u), u ~ U(0, 1), one value per element. u is drawn at
    /// the centre of one of 2^24 equal cells, so it is never 0 or 1 and the logs stay finite
    /// (the authors' code adds 1e-20 inside the logs for the same reason).
    static func logisticNoise(_ shape: [Int], rng: inout RandomGenerator) -> Tensor {
        Tensor(shape: shape) { out in
            for i in 0..<out.count {
                let u = (Float(rng.next() >> 40) + 0.5) * (1.0 / 16_777_216.0)
                out[i] = Foundation.log(u) - Foundation.log(1 - u)
            }
        }
    }

    /// Eq. 7: z = min(1, max(0, sigma((noise + log alpha) / beta)(zeta - gamma) + gamma)),
    /// with `noise` from `logisticNoise`. Differentiable in log alpha (zero gradient where the
    /// clamp is active, as the hard concrete estimator has it).
    static func sample(_ logAlpha: Tensor, noise: Tensor) -> Tensor {
        (((logAlpha + noise) * (1 / beta)).sigmoid() * (zeta - gamma) + gamma).clamped(min: 0, max: 1)
    }

    /// Eq. 11, deterministic: min(1, max(0, sigma(t)(zeta - gamma) + gamma)) with
    /// t = log alpha (code) or log alpha / beta (paper).
    static func testMask(_ logAlpha: Tensor, estimator: TestEstimator) -> Tensor {
        let t = estimator == .paper ? logAlpha * (1 / beta) : logAlpha
        return (t.sigmoid() * (zeta - gamma) + gamma).clamped(min: 0, max: 1)
    }

    /// Eq. 9: y = sigma(log alpha - beta log(-gamma / zeta)). The paper calls it the expected
    /// gate; it is the probability that the gate is non-zero, P(z > 0) (Louizos et al.'s L0
    /// term), which is what L_C needs to count expected open gates.
    static func openProbability(_ logAlpha: Tensor) -> Tensor { (logAlpha - shift).sigmoid() }

    /// L_C of Eq. 6 as the expected fraction of open gates: the mean of Eq. 9 over the batch
    /// and every pixel (the authors' code takes `torch.mean`; only at that scale do their
    /// lambda_1 values of 1-30 balance a per-image cross-entropy).
    static func sparsityLoss(_ logAlpha: Tensor) -> Tensor { openProbability(logAlpha).mean() }

    /// L_S of Eq. 8 on y (Eq. 9): |y(m,n) - y(m-1,n)| + |y(m,n) - y(m,n-1)| + |y(m,n) -
    /// y(m-1,n-1)| + |y(m,n) - y(m-1,n+1)| summed over the pixels where the neighbour exists
    /// (the paper leaves the boundary to the reader; we drop pairs that leave the image), then
    /// divided by N * H * W: a per-pixel mean, the same scale as L_C. `logAlpha` is [N, 1, H, W].
    static func smoothnessLoss(_ logAlpha: Tensor) -> Tensor {
        let y = openProbability(logAlpha)
        let (n, h, w) = (y.shape[0], y.shape[2], y.shape[3])
        var total = Tensor(0)
        if h > 1 {
            let below = y.slice(axis: 2, 1..<h), above = y.slice(axis: 2, 0..<(h - 1))
            total = total + (below - above).abs().sum()
            if w > 1 {
                // Up-left: (m, n) against (m-1, n-1); up-right: (m, n) against (m-1, n+1).
                let upLeft = below.slice(axis: 3, 1..<w) - above.slice(axis: 3, 0..<(w - 1))
                let upRight = below.slice(axis: 3, 0..<(w - 1)) - above.slice(axis: 3, 1..<w)
                total = total + upLeft.abs().sum() + upRight.abs().sum()
            }
        }
        if w > 1 { total = total + (y.slice(axis: 3, 1..<w) - y.slice(axis: 3, 0..<(w - 1))).abs().sum() }
        return total * (1 / Float(n * h * w))
    }
}
