/// The lasso by ADMM in scaled form (Boyd, Parikh, Chu, Peleato, Eckstein, "Distributed
/// Optimization and Statistical Learning via the Alternating Direction Method of
/// Multipliers", 2011, §6.4):
///
///     minimize ½‖Ax − y‖² + λ‖x‖₁,  i.e.  ½xᵀGx − bᵀx + λ‖x‖₁  with G = AᵀA, b = Aᵀy
///
/// (the two differ by the constant ½‖y‖²). CHIP (Eqs. 12-20, Alg. 1) accumulates weighted
/// statistics G_c, b_c per class and never holds A, so both forms are accepted. Iteration k:
///
///     x ← (G + ρI)⁻¹ (b + ρ(z − u))     Cholesky of G + ρI, factorised once per ρ
///     z ← S_{λ/ρ}(x + u)                soft thresholding
///     u ← u + x − z
///
/// Stopping (§3.3.1, with A = I, B = −I, c = 0 in Boyd's notation, so p = n = K):
/// r = x − z, s = ρ(z − z_prev); stop when ‖r‖ ≤ ε_pri = √K ε_abs + ε_rel max(‖x‖, ‖z‖) and
/// ‖s‖ ≤ ε_dual = √K ε_abs + ε_rel ‖ρu‖, or after `maxIterations`.
///
/// The result is z, whose zeros are exact. Scikit-learn's `Lasso(alpha)` minimises
/// 1/(2n)‖y − Xw‖² + α‖w‖₁, the same problem as λ = n·α here (multiply by n).
///
/// Precision: the iterates, the factor and the solves are Double (the factor's error grows
/// with cond(G + ρI); see `Cholesky`); the only heavy product, G = AᵀA when the design is
/// given (N·K² multiply-adds), goes through sgemm in Float and is converted once.
public struct LassoADMM: Sendable {
    /// When to stop: Boyd's tolerances (his lasso example uses 1e-4 absolute, 1e-2 relative;
    /// the default relative tolerance here is tighter, as CHIP's notes ask for 1e-4 overall).
    public struct Stopping: Sendable {
        public var absoluteTolerance: Double
        public var relativeTolerance: Double
        public var maxIterations: Int
        public init(absoluteTolerance: Double = 1e-4, relativeTolerance: Double = 1e-4, maxIterations: Int = 1000) {
            self.absoluteTolerance = absoluteTolerance; self.relativeTolerance = relativeTolerance; self.maxIterations = maxIterations
        }
    }

    public struct Result: Sendable {
        /// z at the last iteration (K values; exact zeros where the lasso is sparse).
        public var solution: [Double]
        public var iterations: Int
        /// ‖x − z‖ and ρ‖z − z_prev‖ at the last iteration, and the tolerances they met (or not).
        public var primalResidual: Double
        public var dualResidual: Double
        public var primalTolerance: Double
        public var dualTolerance: Double
        /// Both residuals within tolerance before `maxIterations` ran out.
        public var converged: Bool
        /// The solution as a [K] Float tensor.
        public var tensor: Tensor { Tensor(shape: [solution.count], data: solution.map { Float($0) }) }
    }

    /// K, the number of coefficients.
    public let features: Int
    /// The augmented-Lagrangian parameter the factor was made for.
    public let rho: Double
    let factor: Cholesky

    /// Factorises G + ρI for the K x K row-major Gram matrix `gram`. `rho` defaults to the mean
    /// of G's diagonal, which puts the data term and the proximal term on the same scale
    /// (1 when the diagonal is zero). Throws when G + ρI is not symmetric positive definite.
    public init(gram: [Double], features k: Int, rho: Double? = nil) throws {
        guard k >= 1, gram.count == k * k else {
            throw SolverError.invalid("lasso (ADMM): a Gram matrix of \(k) features needs \(k * k) values, got \(gram.count)")
        }
        let meanDiagonal = (0..<k).reduce(0.0) { $0 + gram[$1 * k + $1] } / Double(k)
        let r = rho ?? (meanDiagonal > 0 && meanDiagonal.isFinite ? meanDiagonal : 1)
        guard r > 0, r.isFinite else { throw SolverError.invalid("lasso (ADMM): rho must be positive and finite, got \(r)") }
        factor = try Cholesky(gram, n: k, shift: r)
        features = k
        self.rho = r
    }

    /// Factorises G + ρI for a [K, K] Gram tensor (see `init(gram:features:rho:)`).
    public init(gram: Tensor, rho: Double? = nil) throws {
        guard gram.rank == 2, gram.shape[0] == gram.shape[1] else {
            throw SolverError.invalid("lasso (ADMM): the Gram matrix must be [K, K], got shape \(gram.shape)")
        }
        try self.init(gram: gram.scalars.map(Double.init), features: gram.shape[0], rho: rho)
    }

    /// Factorises AᵀA + ρI for a design A of shape [N, K].
    public init(design: Tensor, rho: Double? = nil) throws {
        try self.init(gram: try LassoADMM.gram(design), rho: rho)
    }

    /// G = AᵀA [K, K] of a design [N, K], by sgemm.
    public static func gram(_ design: Tensor) throws -> Tensor {
        guard design.rank == 2, design.shape[0] >= 1, design.shape[1] >= 1 else {
            throw SolverError.invalid("lasso: the design must be a non-empty [N, K] matrix, got shape \(design.shape)")
        }
        let (n, k) = (design.shape[0], design.shape[1])
        return Tensor(shape: [k, k]) { g in
            design.withUnsafeBufferPointer { a in
                sgemm(transA: true, m: k, n: k, k: n, a: a.baseAddress!, lda: k, b: a.baseAddress!, ldb: k, c: g.baseAddress!)
            }
        }
    }

    /// b = Aᵀy [K] of a design [N, K] and a target [N] (or [N, 1]), by sgemm.
    public static func correlation(_ design: Tensor, _ target: Tensor) throws -> Tensor {
        guard design.rank == 2, design.shape[0] >= 1, design.shape[1] >= 1 else {
            throw SolverError.invalid("lasso: the design must be a non-empty [N, K] matrix, got shape \(design.shape)")
        }
        let (n, k) = (design.shape[0], design.shape[1])
        guard target.count == n, target.rank == 1 || (target.rank == 2 && target.shape[1] == 1) else {
            throw SolverError.invalid("lasso: the target has shape \(target.shape); the design [\(n), \(k)] needs [\(n)]")
        }
        return Tensor(shape: [k]) { b in
            design.withUnsafeBufferPointer { a in target.withUnsafeBufferPointer { y in
                sgemm(transA: true, m: k, n: 1, k: n, a: a.baseAddress!, lda: k, b: y.baseAddress!, ldb: 1, c: b.baseAddress!)
            } }
        }
    }

    /// Solves the lasso for b = Aᵀy (`correlation`, K values) and penalty λ >= 0, reusing
    /// the factor (a sweep over λ, or classes sharing G, factorise once).
    public func solve(correlation b: [Double], lambda: Double, stopping: Stopping = Stopping()) throws -> Result {
        let k = features
        guard b.count == k else { throw SolverError.invalid("lasso (ADMM): b has \(b.count) values for \(k) features") }
        guard lambda >= 0, lambda.isFinite else { throw SolverError.invalid("lasso (ADMM): lambda must be >= 0 and finite, got \(lambda)") }
        guard stopping.absoluteTolerance > 0, stopping.relativeTolerance >= 0, stopping.maxIterations >= 1 else {
            throw SolverError.invalid("lasso (ADMM): tolerances must be positive and maxIterations >= 1")
        }
        let kappa = lambda / rho, sqrtK = Double(k).squareRoot()
        var x = [Double](repeating: 0, count: k), z = x, u = x
        var result = Result(solution: z, iterations: 0, primalResidual: .infinity, dualResidual: .infinity,
                            primalTolerance: 0, dualTolerance: 0, converged: false)
        try x.withUnsafeMutableBufferPointer { xb in
            try z.withUnsafeMutableBufferPointer { zb in
                try u.withUnsafeMutableBufferPointer { ub in
                    for it in 1...stopping.maxIterations {
                        for i in 0..<k { xb[i] = b[i] + rho * (zb[i] - ub[i]) }
                        try factor.solve(inPlace: xb)
                        var r2 = 0.0, s2 = 0.0, x2 = 0.0, z2 = 0.0, u2 = 0.0
                        for i in 0..<k {
                            let zNew = softThreshold(xb[i] + ub[i], kappa)
                            let ui = ub[i] + xb[i] - zNew
                            let ri = xb[i] - zNew, si = zNew - zb[i]
                            r2 += ri * ri; s2 += si * si; x2 += xb[i] * xb[i]; z2 += zNew * zNew; u2 += ui * ui
                            zb[i] = zNew; ub[i] = ui
                        }
                        result.iterations = it
                        result.primalResidual = r2.squareRoot()
                        result.dualResidual = rho * s2.squareRoot()
                        result.primalTolerance = sqrtK * stopping.absoluteTolerance + stopping.relativeTolerance * Swift.max(x2, z2).squareRoot()
                        result.dualTolerance = sqrtK * stopping.absoluteTolerance + stopping.relativeTolerance * rho * u2.squareRoot()
                        if result.primalResidual <= result.primalTolerance && result.dualResidual <= result.dualTolerance {
                            result.converged = true
                            break
                        }
                    }
                }
            }
        }
        result.solution = z
        return result
    }

    /// Solves the lasso for a [K] tensor b = Aᵀy.
    public func solve(correlation b: Tensor, lambda: Double, stopping: Stopping = Stopping()) throws -> Result {
        guard b.rank == 1 || (b.rank == 2 && b.shape[1] == 1) else {
            throw SolverError.invalid("lasso (ADMM): b must be [K], got shape \(b.shape)")
        }
        return try solve(correlation: b.scalars.map(Double.init), lambda: lambda, stopping: stopping)
    }

    /// The lasso from raw data: design A [N, K], target y [N].
    public static func solve(design: Tensor, target: Tensor, lambda: Double, rho: Double? = nil,
                             stopping: Stopping = Stopping()) throws -> Result {
        let b = try correlation(design, target)
        return try LassoADMM(design: design, rho: rho).solve(correlation: b, lambda: lambda, stopping: stopping)
    }

    /// The lasso from statistics: Gram matrix G [K, K] and b [K] (CHIP's per-class G_c, b_c).
    public static func solve(gram: Tensor, correlation: Tensor, lambda: Double, rho: Double? = nil,
                             stopping: Stopping = Stopping()) throws -> Result {
        try LassoADMM(gram: gram, rho: rho).solve(correlation: correlation, lambda: lambda, stopping: stopping)
    }
}
