/// The Cholesky factorisation A + shift·I = L Lᵀ of a symmetric positive-definite matrix, and
/// solves with it. CHIP's x-update solves (G + ρI) x = v once per ADMM iteration with the
/// same matrix, so the factor is computed once and kept (Boyd et al. 2011, §4.2.3).
///
/// Double precision throughout: the factorisation squares the condition number's effect on
/// the error (cond(A) · eps), and a Gram matrix of a few hundred correlated channels easily
/// has cond 1e6 — Float would leave no correct digit, Double leaves ten. The cost is small
/// (n³/3 multiply-adds, 45 M for n = 512) next to forming the Gram matrix itself.
public struct Cholesky: Sendable {
    /// The order of the matrix.
    public let n: Int
    /// L, row-major n x n, lower triangle (the strict upper triangle is zero).
    public let lower: [Double]

    /// Factorises the n x n row-major `matrix` plus `shift` on the diagonal.
    ///
    /// Throws `notSymmetric` when a pair of mirrored entries differs by more than 1e-5 of
    /// their scale (a Gram matrix formed by sgemm may differ in the last bits between [i, j]
    /// and [j, i]; anything larger is not a symmetric matrix), `notPositiveDefinite` when a
    /// pivot is not positive, and `invalid` for a size mismatch. The lower triangle is used.
    public init(_ matrix: [Double], n: Int, shift: Double = 0) throws {
        guard n >= 0, matrix.count == n * n else {
            throw SolverError.invalid("Cholesky: a \(n) x \(n) matrix needs \(n * n) values, got \(matrix.count)")
        }
        guard shift.isFinite else { throw SolverError.invalid("Cholesky: the diagonal shift must be finite, got \(shift)") }
        for i in 0..<n {
            for j in 0..<i {
                let lo = matrix[i * n + j], up = matrix[j * n + i]
                let scale = Swift.max(Swift.abs(lo), Swift.abs(up), (Swift.abs(matrix[i * n + i]) * Swift.abs(matrix[j * n + j])).squareRoot())
                if !(Swift.abs(lo - up) <= 1e-5 * scale) { throw SolverError.notSymmetric(row: j, column: i, upper: up, lower: lo) }
            }
        }
        var l = [Double](repeating: 0, count: n * n)
        if n > 0 { try l.withUnsafeMutableBufferPointer { lb in
            try matrix.withUnsafeBufferPointer { ab in
                // Cholesky-Banachiewicz, row by row: L[i][j] = (A[i][j] - L[i][:j]·L[j][:j]) / L[j][j].
                // Both dot-product operands are contiguous row prefixes.
                for i in 0..<n {
                    let ri = lb.baseAddress! + i * n
                    for j in 0...i {
                        let rj = lb.baseAddress! + j * n
                        var s = ab[i * n + j]
                        for k in 0..<j { s -= ri[k] * rj[k] }
                        if i == j {
                            s += shift
                            guard s > 0, s.isFinite else { throw SolverError.notPositiveDefinite(pivot: i, value: s) }
                            ri[i] = s.squareRoot()
                        } else {
                            ri[j] = s / rj[j]
                        }
                    }
                }
            }
        } }
        self.n = n
        self.lower = l
    }

    /// Factorises an [n, n] tensor plus `shift` on the diagonal (see `init(_:n:shift:)`).
    public init(_ matrix: Tensor, shift: Double = 0) throws {
        guard matrix.rank == 2, matrix.shape[0] == matrix.shape[1] else {
            throw SolverError.invalid("Cholesky: needs a square matrix, got shape \(matrix.shape)")
        }
        try self.init(matrix.scalars.map(Double.init), n: matrix.shape[0], shift: shift)
    }

    /// Solves (A + shift·I) x = b in place: forward substitution with L, then back
    /// substitution with Lᵀ (as column updates, so both passes read rows of L contiguously).
    public func solve(inPlace b: UnsafeMutableBufferPointer<Double>) throws {
        guard b.count == n else { throw SolverError.invalid("Cholesky solve: the right-hand side has \(b.count) values; the matrix is \(n) x \(n)") }
        guard n > 0 else { return }
        lower.withUnsafeBufferPointer { lb in
            let l = lb.baseAddress!
            for i in 0..<n {
                let row = l + i * n
                var s = b[i]
                for k in 0..<i { s -= row[k] * b[k] }
                b[i] = s / row[i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                let row = l + i * n
                let xi = b[i] / row[i]
                b[i] = xi
                for k in 0..<i { b[k] -= row[k] * xi }
            }
        }
    }

    /// The solution of (A + shift·I) x = b.
    public func solve(_ b: [Double]) throws -> [Double] {
        var x = b
        try x.withUnsafeMutableBufferPointer { try solve(inPlace: $0) }
        return x
    }

    /// The solution X of (A + shift·I) X = B for B of shape [n] or [n, m] (m right-hand
    /// sides), in Float like the tensor given; the arithmetic is Double.
    public func solve(_ b: Tensor) throws -> Tensor {
        guard (b.rank == 1 || b.rank == 2), b.shape[0] == n else {
            throw SolverError.invalid("Cholesky solve: the right-hand side has shape \(b.shape); expected [\(n)] or [\(n), m]")
        }
        let m = b.rank == 2 ? b.shape[1] : 1
        let values = b.scalars
        var column = [Double](repeating: 0, count: n)
        return try Tensor(shape: b.shape) { out in
            try column.withUnsafeMutableBufferPointer { col in
                for c in 0..<m {
                    for i in 0..<n { col[i] = Double(values[i * m + c]) }
                    try solve(inPlace: col)
                    for i in 0..<n { out[i * m + c] = Float(col[i]) }
                }
            }
        }
    }
}
