import ArgumentParser
import Foundation
import Runtime

/// `saliency-bench solvers`: the lasso at CHIP's scale (a layer of 512 channels, 10,000
/// perturbed samples) by ADMM from raw data and from Gram statistics, and LASSO(tau) by SPG
/// for several classes at once (VEbI's one problem per class).
struct SolverBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "solvers",
        abstract: "Timings of the lasso (ADMM, raw data and Gram form) and of LASSO(tau) (SPG).",
        discussion: """
        Seeded random data: a standard normal design A [rows, features], a target
        y = A x + 0.1 noise with x sparse (one feature in 16 non-zero, values +-1).
        ADMM uses lambda = 0.1 * max|A^T y| (CHIP's relative penalty), the default
        rho (mean of diag A^T A) and the default stopping (Boyd's residuals, 1e-4
        absolute and relative). "raw" includes forming A^T A and A^T y by sgemm; "gram"
        starts from G and b (the Cholesky factorisation and the iterations). SPG solves
        one LASSO(tau) per class with tau = half the L1 norm of the true x, targets
        from class-specific sparse x, default tolerance 1e-6.
        """)

    @OptionGroup var common: CommonOptions
    @Option(help: "Rows (samples) of the design.") var rows: Int = 10_000
    @Option(help: "Features (coefficients).") var features: Int = 512
    @Option(help: "Classes solved together by SPG.") var classes: Int = 10

    func run() throws {
        Threads.tuneAllocator()
        if let t = common.threads { Threads.set(t) } else { Threads.set(Threads.count) }
        guard rows >= 1, features >= 1, classes >= 1 else { throw ValidationError("rows, features and classes must be >= 1") }
        let runs = max(common.runs, 5)
        var rng = RandomGenerator(seed: 14)
        let a = Tensor.normal([rows, features], rng: &rng)
        func sparseTruth(_ rng: inout RandomGenerator) -> Tensor {
            Tensor(shape: [features]) { x in for i in stride(from: 0, to: features, by: 16) { x[i] = rng.nextUniform() < 0.5 ? -1 : 1 } }
        }
        func target(_ x: Tensor, _ rng: inout RandomGenerator) -> [Float] {
            let clean = a.matmul(x.reshaped([features, 1])).scalars
            return clean.map { $0 + 0.1 * rng.nextNormal() }
        }
        let truth = sparseTruth(&rng)
        let y = Tensor(shape: [rows], data: target(truth, &rng))
        let b = try LassoADMM.correlation(a, y)
        let lambda = 0.1 * Double(b.scalars.map { abs($0) }.max() ?? 0)
        print("saliency-bench solvers: \(Threads.count) thread(s), median of \(runs) runs after warm-up")
        print("lasso: \(rows) rows x \(features) features, lambda = 0.1 max|A^T y| = \(fmt(lambda, 1))\n")
        let header = [pad("solver", 26), pad("ms", 9), pad("iterations", 11), pad("primal res", 11), pad("dual res", 11), "non-zeros"].joined(separator: " ")
        print(header)
        print(String(repeating: "-", count: header.count))

        var last: LassoADMM.Result?
        let raw = try medianMilliseconds(runs: runs) { last = try LassoADMM.solve(design: a, target: y, lambda: lambda) }
        printADMM("ADMM from A, y", raw, last)
        let gram = try LassoADMM.gram(a)
        let fromGram = try medianMilliseconds(runs: runs) { last = try LassoADMM.solve(gram: gram, correlation: b, lambda: lambda) }
        printADMM("ADMM from G = A^T A, b", fromGram, last)
        let gramOnly = medianMilliseconds(runs: runs) { _ = try? LassoADMM.gram(a) }
        print(pad("  of which A^T A (sgemm)", 26), pad(fmt(gramOnly), 9))

        let truths = (0..<classes).map { _ in sparseTruth(&rng) }
        let targets = Tensor(shape: [rows, classes]) { t in
            for (c, x) in truths.enumerated() { for (i, v) in target(x, &rng).enumerated() { t[i * classes + c] = v } }
        }
        let tau = 0.5 * Double(truths[0].scalars.map { abs($0) }.reduce(0, +))
        var spg: LassoSPG.Result?
        let spgMs = try medianMilliseconds(runs: runs) { spg = try LassoSPG.solve(design: a, targets: targets, tau: tau) }
        if let r = spg {
            let its = r.iterations
            print(pad("SPG, \(classes) classes, tau \(fmt(tau, 0))", 26), pad(fmt(spgMs), 9),
                  pad("\(its.min() ?? 0)-\(its.max() ?? 0)", 11), pad("gap \(String(format: "%.1e", r.relativeGaps.max() ?? 0))", 23),
                  "\(r.solution.scalars.filter { $0 != 0 }.count) (\(Set(r.status.map(\.rawValue)).sorted().joined(separator: ", ")))")
        }
    }

    private func printADMM(_ name: String, _ ms: Double, _ r: LassoADMM.Result?) {
        guard let r else { return }
        print([pad(name, 26), pad(fmt(ms), 9), pad("\(r.iterations)\(r.converged ? "" : "+")", 11),
               pad(String(format: "%.1e", r.primalResidual), 11), pad(String(format: "%.1e", r.dualResidual), 11),
               String(r.solution.filter { $0 != 0 }.count)].joined(separator: " "))
    }
}
