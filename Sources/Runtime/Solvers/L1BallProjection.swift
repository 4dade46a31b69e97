/// Euclidean projection onto the L1 ball {w : ‖w‖₁ ≤ τ}, by sorting (Duchi, Shalev-Shwartz,
/// Singer, Chandra, "Efficient Projections onto the l1-Ball for Learning in High
/// Dimensions", ICML 2008, Fig. 1):
///
///     μ = |v| sorted in decreasing order
///     ρ = max { j : μ_j − (Σ_{r≤j} μ_r − τ) / j > 0 }
///     θ = (Σ_{r≤ρ} μ_r − τ) / ρ
///     w_i = sign(v_i) · max(|v_i| − θ, 0)
///
/// A vector already inside the ball is returned as it is (no sort). The running sums are
/// Double: with thousands of entries a Float sum would misplace θ by more than the
/// differences between neighbouring μ_j. The projector keeps its sort buffer, so projecting
/// many vectors (every line-search trial of SPG) allocates nothing per call.
public struct L1BallProjection: Sendable {
    /// τ >= 0.
    public let radius: Double
    private var magnitudes: [Double] = []

    public init(radius: Double) throws {
        guard radius >= 0, radius.isFinite else { throw SolverError.invalid("L1-ball projection: the radius must be >= 0 and finite, got \(radius)") }
        self.radius = radius
    }

    /// Writes the projection of `v` into `out` (same count; `out` may be `v`'s own memory).
    /// Float for tensors, Double for SPG's iterates.
    public mutating func project<T: BinaryFloatingPoint>(_ v: UnsafeBufferPointer<T>, into out: UnsafeMutableBufferPointer<T>) {
        let n = Swift.min(v.count, out.count)
        var l1 = 0.0
        for i in 0..<n { l1 += Double(Swift.abs(v[i])) }
        if l1 <= radius {
            if UnsafePointer(out.baseAddress) != v.baseAddress { for i in 0..<n { out[i] = v[i] } }
            return
        }
        if radius == 0 {
            // Every j fails the condition below when τ = 0; the ball is the origin.
            for i in 0..<n { out[i] = 0 }
            return
        }
        if magnitudes.count < n { magnitudes = [Double](repeating: 0, count: n) }
        let theta: T = magnitudes.withUnsafeMutableBufferPointer { mb in
            var mu = UnsafeMutableBufferPointer(rebasing: mb[0..<n])
            for i in 0..<n { mu[i] = Double(Swift.abs(v[i])) }
            mu.sort(by: >)
            // The condition holds for j = 1 (μ_1 > 0 outside the ball) and fails for good once
            // it fails, so θ is taken at the last j where it holds.
            var sum = 0.0, theta = 0.0
            for j in 0..<n {
                sum += mu[j]
                let t = (sum - radius) / Double(j + 1)
                if mu[j] - t > 0 { theta = t } else { break }
            }
            return T(theta)
        }
        for i in 0..<n {
            let a = v[i]
            out[i] = a > theta ? a - theta : (a < -theta ? a + theta : 0)
        }
    }

    /// The projection of `v`.
    public mutating func callAsFunction<T: BinaryFloatingPoint>(_ v: [T]) -> [T] {
        var out = v
        v.withUnsafeBufferPointer { vb in out.withUnsafeMutableBufferPointer { project(vb, into: $0) } }
        return out
    }
}

/// The Euclidean projection of every row of `v` ([K], or [M, K] projected row by row) onto
/// the L1 ball of radius τ.
public func projectOntoL1Ball(_ v: Tensor, radius: Double) throws -> Tensor {
    guard v.rank == 1 || v.rank == 2 else { throw SolverError.invalid("L1-ball projection: needs [K] or [M, K], got shape \(v.shape)") }
    var p = try L1BallProjection(radius: radius)
    let k = v.shape.last ?? 0, rows = v.rank == 2 ? v.shape[0] : 1
    return Tensor(shape: v.shape) { out in
        v.withUnsafeBufferPointer { vb in
            for r in 0..<rows where k > 0 {
                p.project(UnsafeBufferPointer(rebasing: vb[r * k..<(r + 1) * k]), into: UnsafeMutableBufferPointer(rebasing: out[r * k..<(r + 1) * k]))
            }
        }
    }
}
