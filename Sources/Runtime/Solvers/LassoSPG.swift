/// Least squares under an L1-ball constraint by spectral projected gradient: SPGL1's
/// LASSO(τ) (van den Berg, Friedlander, "Probing the Pareto frontier for basis pursuit
/// solutions", SIAM J. Sci. Comput. 2008, §4 and Alg. 1):
///
///     minimize ½‖A x_j − b_j‖²  subject to  ‖x_j‖₁ ≤ τ,   for every column b_j of B
///
/// VEbI's Eq. 1 (W* = argmin ‖XᵀW − Lᵀ‖²_F with ‖w_j‖₁ ≤ μ per class) is this with A = Xᵀ,
/// B = Lᵀ and τ = μ: one problem per class, all sharing A, so every product with A (the
/// residuals A X and the gradients Aᵀ R of all still-running columns) is one sgemm.
///
/// Per column, with f = ½‖r‖², r = b − Ax, g = ∇f = −Aᵀr:
/// - step: x(λ) = P_τ(x − λαg), P_τ the Euclidean projection onto the L1 ball
///   (`L1BallProjection`), α the Barzilai-Borwein step sᵀs / sᵀy of the last move (clamped
///   to [stepMin, stepMax]; stepMax when sᵀy <= 0), first α = 1/‖P_τ(x − g) − x‖∞ as SPGL1;
/// - non-monotone line search along the projected arc: accept the first λ = 1, ½, ¼, ...
///   with f(x(λ)) <= max(last `memory` values of f) + γ gᵀ(x(λ) − x), γ = 1e-4 (Grippo-
///   Lampariello-Lucidi; Birgin-Martínez-Raydan's SPG2). SPGL1's safeguard: when two trials
///   in a row move the same distance (the projection pins the point to a face), the step is
///   rescaled to that distance;
/// - stopping: the duality gap of LASSO(τ), gap = τ‖g‖∞ + xᵀg >= 0 (SPGL1: r·(r − b) +
///   τ‖Aᵀr‖∞, the same number), relative to max(1, f), at most `tolerance`; or the projected
///   gradient ‖P_τ(x − g) − x‖∞ <= tolerance · max(1, ‖g‖∞); or a zero residual
///   ‖r‖ <= tolerance · ‖b‖ (SPGL1's guard for a τ beyond the least-squares solution).
///
/// Precision: the products with A — the whole cost — are sgemm in Float, but they are taken
/// of the step d = x(λ) − x and of A d, never of x itself: x, r and g are Double and move by
/// r ← r − A d, g ← g + Aᵀ(A d) (and sᵀy = ‖A d‖² for the BB step). Float rounding then is
/// relative to the step, not to x, so steps far below Float's resolution of x still count.
/// (With Float iterates the line search lost its descent direction near a face of the ball:
/// gᵀd ≈ −‖d‖²/α is a cancellation of terms the size of ‖g‖‖d‖, and Float x rounded it away
/// at relative gaps around 1e-4.) A column whose line search finds no decrease any more has
/// reached Double's limit and stops as `stalled`, with its gap reported.
public enum LassoSPG {
    public struct Options: Sendable {
        /// Relative duality gap (and projected-gradient) tolerance; SPGL1's optTol is 1e-4.
        public var tolerance: Double
        public var maxIterations: Int
        /// How many past objective values the non-monotone line search compares with.
        public var memory: Int
        public var stepMin: Double
        public var stepMax: Double
        /// Halvings of the step before a column's line search gives up.
        public var maxLineSearchSteps: Int
        public init(tolerance: Double = 1e-6, maxIterations: Int = 1000, memory: Int = 10,
                    stepMin: Double = 1e-16, stepMax: Double = 1e5, maxLineSearchSteps: Int = 30) {
            self.tolerance = tolerance; self.maxIterations = maxIterations; self.memory = memory
            self.stepMin = stepMin; self.stepMax = stepMax; self.maxLineSearchSteps = maxLineSearchSteps
        }
    }

    public enum Status: String, Sendable {
        /// A stopping test held.
        case converged
        /// `maxIterations` ran out first.
        case maxIterations = "max iterations"
        /// No decrease along the projected arc: the Float evaluation's limit (see above).
        case stalled
    }

    public struct Result: Sendable {
        /// [K, C] for targets [N, C]; [K] for a target [N].
        public var solution: Tensor
        /// Per column (class): iterations, relative duality gap, ‖P_τ(x − g) − x‖∞,
        /// residual norm ‖b − Ax‖ (the objective is half its square), and how it stopped.
        public var iterations: [Int]
        public var relativeGaps: [Double]
        public var projectedGradients: [Double]
        public var residualNorms: [Double]
        public var status: [Status]
    }

    /// Solves LASSO(τ) for every column of `targets` ([N, C], or [N] for one) with the design
    /// `design` [N, K]. Starts from x = 0.
    public static func solve(design: Tensor, targets: Tensor, tau: Double, options: Options = Options()) throws -> Result {
        guard design.rank == 2, design.shape[0] >= 1, design.shape[1] >= 1 else {
            throw SolverError.invalid("LASSO(tau): the design must be a non-empty [N, K] matrix, got shape \(design.shape)")
        }
        let (n, k) = (design.shape[0], design.shape[1])
        guard (targets.rank == 1 || targets.rank == 2), targets.shape[0] == n, targets.count >= 1 else {
            throw SolverError.invalid("LASSO(tau): the targets have shape \(targets.shape); the design [\(n), \(k)] needs [\(n)] or [\(n), C]")
        }
        guard options.tolerance > 0, options.maxIterations >= 1, options.memory >= 1, options.maxLineSearchSteps >= 1,
              options.stepMin > 0, options.stepMax >= options.stepMin else {
            throw SolverError.invalid("LASSO(tau): tolerance, steps and iteration limits must be positive")
        }
        var solver = SPGState(design: design, targets: targets, tau: try L1BallProjection(radius: tau), options: options)
        solver.run()
        let c = solver.columns
        let xt = solver.x  // [C, K] row per column
        let solution = targets.rank == 1 ? Tensor(shape: [k], data: xt[0..<k].map { Float($0) })
            : Tensor(shape: [k, c]) { out in for j in 0..<c { for i in 0..<k { out[i * c + j] = Float(xt[j * k + i]) } } }
        var gaps: [Double] = [], pgs: [Double] = [], norms: [Double] = []
        for j in 0..<c {
            let m = solver.measure(j)
            gaps.append(m.relativeGap); pgs.append(m.projectedGradient); norms.append((2 * solver.f[j]).squareRoot())
        }
        return Result(solution: solution, iterations: solver.iterations, relativeGaps: gaps, projectedGradients: pgs,
                      residualNorms: norms, status: solver.status.map { $0 ?? .maxIterations })
    }
}

/// The iteration state of all columns: each column's vectors are one contiguous row of a
/// [C, K] or [C, N] matrix, so the rows of the columns still searching pack into one sgemm.
private struct SPGState {
    let a: Tensor                // [N, K]
    let n: Int, k: Int, columns: Int
    var projector: L1BallProjection
    let options: LassoSPG.Options
    var x: [Double], r: [Double], g: [Double]   // [C, K], [C, N], [C, K]: the iterates
    var xTrial: [Double], d: [Double]            // [C, K]: trial point and step
    var ad: [Float]                              // [C, N]: A d of the columns evaluated
    var packK: [Float], packN: [Float], work: [Double]
    var f: [Double], fTrial: [Double], alpha: [Double], bNorm: [Double]
    var history: [Double]                        // [C, memory] ring of past f
    var iterations: [Int]
    var status: [LassoSPG.Status?]

    init(design: Tensor, targets: Tensor, tau: L1BallProjection, options: LassoSPG.Options) {
        a = design
        n = design.shape[0]; k = design.shape[1]
        columns = targets.rank == 1 ? 1 : targets.shape[1]
        let t = targets.scalars, c = columns, rows = n
        // x = 0, so r = b (column j of B as row j).
        let bt = (0..<c * rows).map { idx in Double(t[(idx % rows) * c + idx / rows]) }
        r = bt
        projector = tau
        self.options = options
        x = [Double](repeating: 0, count: c * k); g = x; xTrial = x; d = x
        packK = [Float](repeating: 0, count: c * k)
        packN = [Float](repeating: 0, count: c * rows); ad = packN
        work = [Double](repeating: 0, count: k)
        let f0 = (0..<c).map { j in 0.5 * (0..<rows).reduce(0.0) { $0 + bt[j * rows + $1] * bt[j * rows + $1] } }
        f = f0; fTrial = f0
        bNorm = f0.map { (2 * $0).squareRoot() }
        alpha = [Double](repeating: 1, count: c)
        history = [Double](repeating: -.infinity, count: c * options.memory)
        for j in 0..<c { history[j * options.memory] = f0[j] }
        iterations = [Int](repeating: 0, count: c)
        status = [LassoSPG.Status?](repeating: nil, count: c)
    }

    /// ad[j] = A d[j] for the listed columns: one sgemm over the packed rows.
    mutating func stepProducts(_ rows: [Int]) {
        guard !rows.isEmpty else { return }
        let (n, k) = (n, k)
        for (p, j) in rows.enumerated() { for i in 0..<k { packK[p * k + i] = Float(d[j * k + i]) } }
        a.withUnsafeBufferPointer { ab in packK.withUnsafeBufferPointer { pk in packN.withUnsafeMutableBufferPointer { pn in
            sgemm(transB: true, m: rows.count, n: n, k: k, a: pk.baseAddress!, lda: k, b: ab.baseAddress!, ldb: k, c: pn.baseAddress!)
        } } }
        for (p, j) in rows.enumerated() { for i in 0..<n { ad[j * n + i] = packN[p * n + i] } }
    }

    /// g[j] += Aᵀ v[j] for the listed columns, v = A d (`ofSteps`) or −r (the first gradient).
    mutating func addGradients(_ rows: [Int], ofSteps: Bool) {
        guard !rows.isEmpty else { return }
        let (n, k) = (n, k)
        for (p, j) in rows.enumerated() { for i in 0..<n { packN[p * n + i] = ofSteps ? ad[j * n + i] : Float(-r[j * n + i]) } }
        a.withUnsafeBufferPointer { ab in packN.withUnsafeBufferPointer { pn in packK.withUnsafeMutableBufferPointer { pk in
            sgemm(m: rows.count, n: k, k: n, a: pn.baseAddress!, lda: n, b: ab.baseAddress!, ldb: k, c: pk.baseAddress!)
        } } }
        for (p, j) in rows.enumerated() { for i in 0..<k { g[j * k + i] += Double(packK[p * k + i]) } }
    }

    /// xTrial[j] = P_τ(x[j] − step · g[j]).
    mutating func trial(_ j: Int, step: Double) {
        let k = k
        for i in 0..<k { work[i] = x[j * k + i] - step * g[j * k + i] }
        work.withUnsafeBufferPointer { w in xTrial.withUnsafeMutableBufferPointer { xt in
            projector.project(w, into: UnsafeMutableBufferPointer(rebasing: xt[j * k..<(j + 1) * k]))
        } }
    }

    /// Relative duality gap and projected-gradient norm of column j at the current x.
    mutating func measure(_ j: Int) -> (relativeGap: Double, projectedGradient: Double, gradientMax: Double) {
        let k = k
        var gMax = 0.0, xg = 0.0
        for i in 0..<k { let gi = g[j * k + i]; gMax = Swift.max(gMax, Swift.abs(gi)); xg += x[j * k + i] * gi }
        let gap = projector.radius * gMax + xg
        trial(j, step: 1)
        var pg = 0.0
        for i in 0..<k { pg = Swift.max(pg, Swift.abs(xTrial[j * k + i] - x[j * k + i])) }
        return (Swift.abs(gap) / Swift.max(1, f[j]), pg, gMax)
    }

    /// Whether a stopping test holds for column j.
    mutating func stops(_ j: Int) -> Bool {
        let t = measure(j)
        return t.relativeGap <= options.tolerance || t.projectedGradient <= options.tolerance * Swift.max(1, t.gradientMax)
            || (2 * f[j]).squareRoot() <= options.tolerance * bNorm[j]
    }

    mutating func run() {
        let (n, k, c, m) = (n, k, columns, options.memory)
        addGradients(Array(0..<c), ofSteps: false)
        for j in 0..<c {
            // SPGL1's first step: the inverse of the largest move of a unit projected step.
            let pg = measure(j).projectedGradient
            alpha[j] = pg < 1 / options.stepMax ? options.stepMax : Swift.min(options.stepMax, Swift.max(options.stepMin, 1 / pg))
        }
        var gtd = [Double](repeating: 0, count: c), lambda = gtd, scale = gtd, lastMove = gtd
        var tries = [Int](repeating: 0, count: c), safeguards = tries
        for _ in 0..<options.maxIterations {
            var active: [Int] = []
            for j in 0..<c where status[j] == nil {
                if stops(j) { status[j] = .converged } else { active.append(j) }
            }
            if active.isEmpty { return }

            var searching = active, accepted: [Int] = []
            for j in active { lambda[j] = 1; scale[j] = alpha[j]; tries[j] = 0; safeguards[j] = 0; lastMove[j] = 0 }
            while !searching.isEmpty {
                var evaluate: [Int] = []
                for j in searching {
                    trial(j, step: lambda[j] * scale[j])
                    var dg = 0.0, move = 0.0
                    for i in 0..<k {
                        let di = xTrial[j * k + i] - x[j * k + i]
                        d[j * k + i] = di
                        dg += g[j * k + i] * di; move += di * di
                    }
                    gtd[j] = dg
                    if dg >= 0 { status[j] = .stalled; continue }  // no descent left at Double resolution
                    // SPGL1's safeguard: the same distance twice means the projection pins the
                    // point; rescale the step to that distance instead of halving in vain.
                    move = (move / Double(k)).squareRoot()
                    if tries[j] > 0 && Swift.abs(move - lastMove[j]) <= 1e-6 * move {
                        var gn = 0.0
                        for i in 0..<k { gn += g[j * k + i] * g[j * k + i] }
                        gn = (gn / Double(k)).squareRoot()
                        if gn > 0 { scale[j] = move / gn / Double(1 << Swift.min(safeguards[j], 60)); lambda[j] = 1 }
                        safeguards[j] += 1
                    }
                    lastMove[j] = move
                    evaluate.append(j)
                }
                stepProducts(evaluate)
                searching = []
                for j in evaluate {
                    // f(x + d) = ½‖r − A d‖², in Double from the Double residual.
                    var s = 0.0
                    for i in 0..<n { let v = r[j * n + i] - Double(ad[j * n + i]); s += v * v }
                    fTrial[j] = 0.5 * s
                    var fMax = -Double.infinity
                    for h in 0..<m { fMax = Swift.max(fMax, history[j * m + h]) }
                    if fTrial[j] <= fMax + 1e-4 * gtd[j] {
                        accepted.append(j)
                    } else {
                        tries[j] += 1
                        if tries[j] >= options.maxLineSearchSteps { status[j] = .stalled } else { lambda[j] *= 0.5; searching.append(j) }
                    }
                }
            }

            // Move: x += d, r −= A d, g += Aᵀ A d; BB step sᵀs / sᵀy with sᵀy = ‖A d‖².
            addGradients(accepted, ofSteps: true)
            for j in accepted {
                var sts = 0.0, sty = 0.0
                for i in 0..<k { let di = d[j * k + i]; sts += di * di; x[j * k + i] = xTrial[j * k + i] }
                for i in 0..<n { let v = Double(ad[j * n + i]); sty += v * v; r[j * n + i] -= v }
                alpha[j] = sty <= 0 ? options.stepMax : Swift.min(options.stepMax, Swift.max(options.stepMin, sts / sty))
                f[j] = fTrial[j]
                iterations[j] += 1
                history[j * m + iterations[j] % m] = f[j]
            }
        }
        // A column whose last step met a test has converged; the others ran out of iterations.
        for j in 0..<c where status[j] == nil && stops(j) { status[j] = .converged }
    }
}
