import Foundation
import Testing
@testable import Runtime

/// The solvers against closed forms (hand-factored matrices, orthogonal designs, L1-ball
/// projections by hand) and against scikit-learn / LARS references on fixed data
/// (`SolverFixtures.swift`, written by scripts/fixtures/solvers.py).
@Suite("Solvers")
struct SolverTests {
    /// An 8 x 4 design with orthogonal ±1 columns: two 4 x 4 Hadamard blocks, the second with
    /// columns 2 and 4 negated (still orthogonal, and no row repeats). AᵀA = 8I exactly, so the
    /// lasso and LASSO(tau) have closed forms.
    static let hadamard: Tensor = {
        let rows: [[Float]] = [[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1],
                               [1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]
        let flip: [Float] = [1, -1, 1, -1]
        return Tensor(shape: [8, 4], data: rows.enumerated().flatMap { r, row in r < 4 ? row : zip(row, flip).map { $0 * $1 } })
    }()
    static let orthoTarget = Tensor(shape: [8], data: [3, -1, 0.5, 2, -4, 1.5, 0, 2.5])

    // MARK: Cholesky

    @Test func choleskyOfAHandFactoredMatrix() throws {
        // The classic 3 x 3 example: A = L Lᵀ with L = [[2,0,0],[6,1,0],[-8,5,3]].
        let a: [Double] = [4, 12, -16, 12, 37, -43, -16, -43, 98]
        let c = try Cholesky(a, n: 3)
        let l: [Double] = [2, 0, 0, 6, 1, 0, -8, 5, 3]
        // Small integers throughout: every operation is exact in Double; the tolerance only
        // states that.
        for i in 0..<9 { #expect(abs(c.lower[i] - l[i]) <= 1e-12) }
        // A x = b for x = [1, -2, 0.5]; cond(A) is about 2e3, so 1e-10 is generous in Double.
        let x: [Double] = [1, -2, 0.5]
        let b = (0..<3).map { i in (0..<3).reduce(0.0) { $0 + a[i * 3 + $1] * x[$1] } }
        for (u, v) in zip(try c.solve(b), x) { #expect(abs(u - v) <= 1e-10) }
    }

    @Test func choleskyShiftAndManyRightHandSides() throws {
        // A = MᵀM + I is SPD; solve (A + 2I) X = B for three columns and check the residual.
        let m = randomTensor([7, 5], seed: 3)
        let a = Tensor.mmRaw(m, m, transA: true).scalars.enumerated().map { $0.element + ($0.offset % 6 == 0 ? 1 : 0) }
        let c = try Cholesky(Tensor(shape: [5, 5], data: a), shift: 2)
        let b = randomTensor([5, 3], seed: 4)
        let x = try c.solve(b)
        for i in 0..<5 {
            for j in 0..<3 {
                let lhs = (0..<5).reduce(0.0) { $0 + Double(a[i * 5 + $1] + ($1 == i ? 2 : 0)) * Double(x.scalars[$1 * 3 + j]) }
                // Float output of a Double solve on a matrix with cond ~ 10: Float rounding.
                #expect(abs(lhs - Double(b.scalars[i * 3 + j])) <= 1e-5)
            }
        }
    }

    @Test func choleskyRejectsWhatIsNotSPD() throws {
        // Indefinite: the second pivot is 1 - 2·2 = -3.
        #expect(throws: SolverError.notPositiveDefinite(pivot: 1, value: -3)) { try Cholesky([1, 2, 2, 1], n: 2) }
        // Singular: the second pivot is exactly 0.
        #expect(throws: SolverError.notPositiveDefinite(pivot: 1, value: 0)) { try Cholesky([1, 1, 1, 1], n: 2) }
        // ... which a ridge mends.
        #expect(throws: Never.self) { try Cholesky([1, 1, 1, 1], n: 2, shift: 0.1) }
        #expect(throws: SolverError.notSymmetric(row: 0, column: 1, upper: 1, lower: 0)) { try Cholesky([2, 1, 0, 2], n: 2) }
        #expect(throws: SolverError.self) { try Cholesky([1, 2, 3], n: 2) }
        #expect(throws: SolverError.self) { try Cholesky(Tensor.zeros([2, 3])) }
        #expect(throws: SolverError.self) { try Cholesky([4], n: 1).solve([1, 2]) }
        let message = SolverError.notPositiveDefinite(pivot: 1, value: -3).description
        #expect(message.contains("not symmetric positive definite") && message.contains("pivot 1"))
    }

    // MARK: soft thresholding and the L1 ball

    @Test func softThresholding() {
        // Exact: one subtraction of small binary fractions.
        #expect(softThreshold(3.0, 1.0) == 2 && softThreshold(-3.0, 1.0) == -2)
        #expect(softThreshold(0.5, 1.0) == 0 && softThreshold(-1.0, 1.0) == 0 && softThreshold(Float(1.25), 0.25) == 1)
        let t = Tensor(shape: [4], data: [2, -0.5, 0.25, -3]).softThresholded(0.5)
        #expect(t.scalars == [1.5, 0, 0, -2.5])
    }

    @Test func l1BallProjectionByHand() throws {
        func project(_ v: [Float], _ tau: Double) throws -> [Float] { try projectOntoL1Ball(Tensor(shape: [v.count], data: v), radius: tau).scalars }
        // Sorted |v| = 3, 1, 0.5: only j = 1 passes (3 - 1 > 0; 1 - (4 - 2)/2 = 0 fails), θ = 1.
        expectClose(try project([3, -1, 0.5], 2), [2, 0, 0])
        // All pass: θ = (3 - 1.5)/3 = 0.5.
        expectClose(try project([1, 1, 1], 1.5), [0.5, 0.5, 0.5])
        // Sorted 4, 2, 1: j = 2 passes (2 - (6 - 3)/2 = 0.5), j = 3 fails; θ = 1.5.
        expectClose(try project([-4, 2, 1], 3), [-2.5, 0.5, 0])
        // Inside the ball: unchanged; radius 0: the origin.
        expectClose(try project([0.5, -0.25], 1), [0.5, -0.25])
        expectClose(try project([0.5, -0.25], 0), [0, 0])
        // Rows of a matrix separately.
        expectClose(try projectOntoL1Ball(Tensor(shape: [2, 3], data: [3, -1, 0.5, 1, 1, 1]), radius: 2).scalars, [2, 0, 0, 2.0 / 3, 2.0 / 3, 2.0 / 3])
        #expect(throws: SolverError.self) { try project([1], -1) }
    }

    @Test func l1BallProjectionIsAShrinkageOntoTheSphere() throws {
        // On random vectors: ‖w‖₁ = τ and w = sign(v)·max(|v| − θ, 0) for one θ.
        for seed in UInt64(1)...5 {
            let v = randomTensor([50], seed: seed, low: -2, high: 2)
            let w = try projectOntoL1Ball(v, radius: 3).scalars
            // Float sum of 50 terms of size ~1.
            #expect(abs(w.reduce(0) { $0 + abs($1) } - 3) <= 1e-4)
            let kept = zip(v.scalars, w).filter { $0.1 != 0 }
            let theta = abs(kept[0].0) - abs(kept[0].1)
            for (a, b) in kept { #expect(abs(abs(a) - abs(b) - theta) <= 1e-5 && (a > 0) == (b > 0)) }
            for (a, b) in zip(v.scalars, w) where b == 0 { #expect(abs(a) <= theta + 1e-5) }
        }
    }

    // MARK: lasso by ADMM

    static let tight = LassoADMM.Stopping(absoluteTolerance: 1e-11, relativeTolerance: 1e-11, maxIterations: 100_000)

    @Test func lassoWithAnOrthogonalDesignIsASoftThreshold() throws {
        // AᵀA = 8I: the lasso is x_i = S_λ(b_i) / 8 with b = Aᵀy.
        let a = Self.hadamard, y = Self.orthoTarget
        let b = try LassoADMM.correlation(a, y).scalars.map(Double.init)
        for lambda in [0.0, 3.0, 9.5, 100] {
            let expected = b.map { softThreshold($0, lambda) / 8 }
            let raw = try LassoADMM.solve(design: a, target: y, lambda: lambda, stopping: Self.tight)
            let gram = try LassoADMM.solve(gram: try LassoADMM.gram(a), correlation: try LassoADMM.correlation(a, y), lambda: lambda, stopping: Self.tight)
            for r in [raw, gram] {
                #expect(r.converged)
                // Exact data (±1 design, binary fractions): only the Double iteration's stopping error remains.
                for (u, v) in zip(r.solution, expected) { #expect(abs(u - v) <= 1e-9, "lambda \(lambda): \(r.solution) vs \(expected)") }
                // The zeros of a soft threshold are exact zeros of z.
                for (u, v) in zip(r.solution, expected) where v == 0 { #expect(u == 0) }
            }
        }
    }

    @Test(arguments: SolverFixtures.lasso.indices)
    func lassoAgreesWithScikitLearn(_ index: Int) throws {
        let (alpha, lambda, reference) = SolverFixtures.lasso[index]
        let a = Tensor(shape: [40, 10], data: SolverFixtures.design), y = Tensor(shape: [40], data: SolverFixtures.target)
        #expect(abs(lambda - 40 * alpha) <= 1e-12)  // the stated mapping: λ = n·α
        let raw = try LassoADMM.solve(design: a, target: y, lambda: lambda, stopping: Self.tight)
        // The Gram form with statistics accumulated elsewhere in Double (how CHIP keeps them).
        var g = [Double](repeating: 0, count: 100), b = [Double](repeating: 0, count: 10)
        for r in 0..<40 {
            for i in 0..<10 {
                b[i] += Double(a.scalars[r * 10 + i]) * Double(y.scalars[r])
                for j in 0..<10 { g[i * 10 + j] += Double(a.scalars[r * 10 + i]) * Double(a.scalars[r * 10 + j]) }
            }
        }
        let stats = try LassoADMM(gram: g, features: 10).solve(correlation: b, lambda: lambda, stopping: Self.tight)
        for r in [raw, stats] {
            #expect(r.converged && r.primalResidual <= r.primalTolerance && r.dualResidual <= r.dualTolerance)
            // The brief's agreement: 1e-4 (the raw form's Gram matrix is Float sgemm output).
            for (u, v) in zip(r.solution, reference) { #expect(abs(u - v) <= 1e-4, "alpha \(alpha): \(r.solution) vs \(reference)") }
            // Same support: coordinates scikit-learn zeroes are exact zeros here too.
            for (u, v) in zip(r.solution, reference) { #expect((u == 0) == (v == 0), "alpha \(alpha): \(r.solution) vs \(reference)") }
        }
    }

    @Test func lassoFactorServesSeveralPenaltiesAndReportsItsStop() throws {
        let a = Tensor(shape: [40, 10], data: SolverFixtures.design), y = Tensor(shape: [40], data: SolverFixtures.target)
        let solver = try LassoADMM(design: a)
        // The default ρ is the mean of diag(AᵀA).
        let g = try LassoADMM.gram(a).scalars
        #expect(abs(solver.rho - (0..<10).reduce(0.0) { $0 + Double(g[$1 * 11]) } / 10) <= 1e-9 * solver.rho)
        let b = try LassoADMM.correlation(a, y)
        for (_, lambda, reference) in SolverFixtures.lasso {
            let r = try solver.solve(correlation: b, lambda: lambda, stopping: Self.tight)
            for (u, v) in zip(r.solution, reference) { #expect(abs(u - v) <= 1e-4) }
        }
        let one = try solver.solve(correlation: b, lambda: 2, stopping: LassoADMM.Stopping(maxIterations: 1))
        #expect(!one.converged && one.iterations == 1 && one.primalResidual > 0)
        let defaults = try solver.solve(correlation: b, lambda: 2)
        #expect(defaults.converged && defaults.iterations > 1 && defaults.iterations < 1000)
        #expect(defaults.tensor.shape == [10])
    }

    @Test func lassoRejectsBadInput() throws {
        let a = Self.hadamard, y = Self.orthoTarget
        #expect(throws: SolverError.self) { try LassoADMM.solve(design: a, target: y, lambda: -1) }
        #expect(throws: SolverError.self) { try LassoADMM.solve(design: a, target: Tensor.zeros([7]), lambda: 1) }
        #expect(throws: SolverError.self) { try LassoADMM(design: a, rho: 0) }
        #expect(throws: SolverError.self) { try LassoADMM(gram: Tensor.zeros([2, 3])) }
        // G + ρI indefinite: a clear error from the factorisation.
        #expect(throws: SolverError.notPositiveDefinite(pivot: 0, value: -9)) { try LassoADMM(gram: Tensor(shape: [2, 2], data: [-10, 0, 0, -10]), rho: 1) }
        #expect(throws: SolverError.self) { try LassoADMM(design: a).solve(correlation: [1, 2], lambda: 1) }
    }

    // MARK: LASSO(tau) by spectral projected gradient

    static let precise = LassoSPG.Options(tolerance: 1e-9, maxIterations: 10_000)

    @Test func l1BallLeastSquaresWithAnOrthogonalDesignIsAProjection() throws {
        // AᵀA = 8I: ½‖Ax − y‖² = 4‖x − b/8‖² + const, so the solution is P_τ(b/8).
        let a = Self.hadamard, y = Self.orthoTarget
        let b = try LassoADMM.correlation(a, y)
        for tau in [0.0, 0.5, 1.0, 100] {
            let expected = try projectOntoL1Ball(Tensor(shape: [4], data: b.scalars.map { $0 / 8 }), radius: tau)
            let r = try LassoSPG.solve(design: a, targets: y, tau: tau, options: Self.precise)
            #expect(r.solution.shape == [4])
            #expect(r.status == [.converged], "tau \(tau): \(r.status)")
            // Float iterates on exact data.
            expectClose(r.solution, expected, tol: 1e-5)
        }
    }

    @Test func l1BallLeastSquaresAgreesWithTheLassoPath() throws {
        let a = Tensor(shape: [40, 10], data: SolverFixtures.design), b = Tensor(shape: [40, 3], data: SolverFixtures.ballTargets)
        let r = try LassoSPG.solve(design: a, targets: b, tau: SolverFixtures.tau, options: Self.precise)
        #expect(r.solution.shape == [10, 3])
        for (k, (u, v)) in zip(r.solution.scalars, SolverFixtures.ballSolution).enumerated() {
            // The brief's agreement, 1e-4 (SPG reaches about 3e-7 here: the Float products).
            #expect(abs(Double(u) - v) <= 1e-4, "entry [\(k / 3), \(k % 3)]: \(u) vs \(v)")
        }
        for j in 0..<3 {
            let l1 = (0..<10).reduce(0.0) { $0 + abs(Double(r.solution.scalars[$1 * 3 + j])) }
            #expect(l1 <= SolverFixtures.tau * (1 + 1e-6))
            #expect(r.status[j] != .maxIterations && r.iterations[j] >= 1, "column \(j): \(r.status[j]) after \(r.iterations[j])")
            // Asked for 1e-9; a column may stall a little above it (Float products of the steps
            // accumulate in r and g), but not by orders of magnitude.
            #expect(r.relativeGaps[j] <= 1e-6, "column \(j): relative gap \(r.relativeGaps[j])")
        }
        // One target alone gives the same column (the batching shares products, not answers).
        let single = try LassoSPG.solve(design: a, targets: Tensor(shape: [40], data: (0..<40).map { SolverFixtures.ballTargets[$0 * 3] }),
                                        tau: SolverFixtures.tau, options: Self.precise)
        for i in 0..<10 { #expect(abs(single.solution.scalars[i] - r.solution.scalars[i * 3]) <= 1e-5) }
    }

    @Test func l1BallLeastSquaresRejectsBadInput() throws {
        let a = Self.hadamard, y = Self.orthoTarget
        #expect(throws: SolverError.self) { try LassoSPG.solve(design: a, targets: y, tau: -1) }
        #expect(throws: SolverError.self) { try LassoSPG.solve(design: a, targets: Tensor.zeros([7, 2]), tau: 1) }
        #expect(throws: SolverError.self) { try LassoSPG.solve(design: a, targets: y, tau: 1, options: LassoSPG.Options(memory: 0)) }
    }
}

private func expectClose(_ a: [Float], _ b: [Float], tol: Float = 1e-6, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    for (u, v) in zip(a, b) { #expect(abs(u - v) <= tol, "\(a) vs \(b)", sourceLocation: sourceLocation) }
}
