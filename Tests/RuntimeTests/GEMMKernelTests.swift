import CKernels
import Foundation
import Testing
@testable import Runtime

/// One GEMM problem with its operands stored at strides that may exceed the packed ones, C's
/// padding columns filled with a sentinel that no kernel may touch.
struct GEMMCase: CustomStringConvertible {
    let transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float, pad: Int
    var lda: Int { (transA ? m : k) + pad }
    var ldb: Int { (transB ? k : n) + pad }
    var ldc: Int { n + pad }
    var description: String {
        "transA \(transA) transB \(transB) m \(m) n \(n) k \(k) alpha \(alpha) beta \(beta) pad \(pad)"
    }
}

/// op(A)[i][p] and op(B)[p][j] of a case from the stored arrays.
private func opA(_ t: GEMMCase, _ a: [Float], _ i: Int, _ p: Int) -> Float { t.transA ? a[p * t.lda + i] : a[i * t.lda + p] }
private func opB(_ t: GEMMCase, _ b: [Float], _ p: Int, _ j: Int) -> Float { t.transB ? b[j * t.ldb + p] : b[p * t.ldb + j] }

private let sentinel: Float = -12345.5

/// Runs `run` on a random instance of `t` and checks every element of C against a
/// double-precision reference. The float result of a k-term dot product differs from the
/// exact one by at most about k * eps * sum |a_ip| |b_pj| (each partial sum rounds once,
/// whatever order or blocking the kernel sums in); the alpha multiply and the beta
/// multiply-add round at most twice more. So the bound is (k + 2) * eps * (|alpha| *
/// sum |a||b| + |beta * c|), with eps = 2^-23: a wrong tile edge, a lost k block or a
/// misread stride is off by O(|a||b|) and fails it. With beta == 0, C starts as NaN: a
/// kernel that reads C leaves NaN behind. The padding columns of C must keep the sentinel
/// (structural: nothing may write there).
private func check(_ t: GEMMCase, seed: UInt64, sourceLocation: SourceLocation = #_sourceLocation,
                   _ run: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
    var rng = RandomGenerator(seed: seed)
    let a = (0..<((t.transA ? t.k : t.m) * t.lda)).map { _ in rng.nextUniform() * 2 - 1 }
    let b = (0..<((t.transB ? t.n : t.k) * t.ldb)).map { _ in rng.nextUniform() * 2 - 1 }
    var c = [Float](repeating: sentinel, count: t.m * t.ldc)
    for i in 0..<t.m { for j in 0..<t.n { c[i * t.ldc + j] = t.beta == 0 ? .nan : rng.nextUniform() * 2 - 1 } }
    let c0 = c
    a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
        run(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
    } } }
    let eps = Double(Float.ulpOfOne)
    var worst = (excess: 0.0, i: -1, j: -1)
    for i in 0..<t.m {
        for j in 0..<t.n {
            var dot = 0.0, magnitude = 0.0
            for p in 0..<t.k {
                let term = Double(opA(t, a, i, p)) * Double(opB(t, b, p, j))
                dot += term
                magnitude += Swift.abs(term)
            }
            let old = t.beta == 0 ? 0 : Double(t.beta) * Double(c0[i * t.ldc + j])
            let expected = Double(t.alpha) * dot + old
            let bound = Double(t.k + 2) * eps * (Swift.abs(Double(t.alpha)) * magnitude + Swift.abs(old)) + 1e-30
            let error = Swift.abs(Double(c[i * t.ldc + j]) - expected)
            // NaN compares false: a NaN result counts as the worst error.
            if !(error <= bound) || error / bound > worst.excess { worst = (error.isNaN ? .infinity : error / bound, i, j) }
        }
        for j in t.n..<t.ldc where c[i * t.ldc + j] != sentinel {
            Issue.record("\(t): padding C[\(i)][\(j)] written", sourceLocation: sourceLocation)
        }
    }
    #expect(worst.excess <= 1, "\(t): C[\(worst.i)][\(worst.j)] off by \(worst.excess) x the bound",
            sourceLocation: sourceLocation)
}

/// Edges of our kernel's blocking (sal_gemm.h: MR = 14 rows, NR = 32 columns, two 16-lane
/// vectors, KC = 256, MC = 280, NC = 1024) and of OpenBLAS's, in every transpose combination.
private let edgeCases: [GEMMCase] = {
    var cases: [GEMMCase] = []
    let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 1, 300), (1, 37, 5), (37, 1, 5), (14, 32, 256), (15, 33, 257), (13, 31, 255),
        (28, 16, 7), (29, 17, 9), (3, 48, 1), (300, 40, 20), (290, 70, 513), (20, 1030, 3), (64, 49, 130),
        (45, 8, 60), (7, 100, 0),
    ]
    for (index, (m, n, k)) in shapes.enumerated() {
        for transA in [false, true] {
            for transB in [false, true] {
                let variant = index + (transA ? 1 : 0) + (transB ? 2 : 0)
                cases.append(GEMMCase(transA: transA, transB: transB, m: m, n: n, k: k,
                                      alpha: variant % 3 == 0 ? 0.75 : 1, beta: variant % 2 == 0 ? 0 : -1.5,
                                      pad: variant % 4 == 1 ? 0 : 3))
            }
        }
    }
    // A row stride of 1024 floats: ours packs untransposed A instead of reading it in place.
    cases.append(GEMMCase(transA: false, transB: false, m: 30, n: 70, k: 1000, alpha: 1, beta: 0, pad: 24))
    // alpha == 0: C = beta * C without the product.
    cases.append(GEMMCase(transA: false, transB: true, m: 9, n: 20, k: 11, alpha: 0, beta: 0.5, pad: 1))
    return cases
}()

/// Random shapes around the edges, each with random transposes, strides, alpha and beta.
private func randomCases(count: Int, seed: UInt64) -> [GEMMCase] {
    var rng = RandomGenerator(seed: seed)
    let sizes = [1, 2, 5, 13, 14, 15, 16, 17, 31, 32, 33, 47, 64, 100]
    return (0..<count).map { _ in
        let pick = { (r: inout RandomGenerator) in sizes[Int(r.next() % UInt64(sizes.count))] }
        return GEMMCase(transA: rng.next() % 2 == 0, transB: rng.next() % 2 == 0, m: pick(&rng), n: pick(&rng),
                        k: Int(rng.next() % 300), alpha: rng.next() % 2 == 0 ? 1 : 1.25,
                        beta: rng.next() % 2 == 0 ? 0 : 0.5, pad: Int(rng.next() % 3) * 5)
    }
}

private let allCases = edgeCases + randomCases(count: 60, seed: 19)

/// `sgemm` with the given kernel (nil: the one in use), cutting large products into blocks.
private func viaSgemm(_ kernel: GEMMKernel?, _ t: GEMMCase) {
    check(t, seed: UInt64(t.m * 7919 + t.n * 31 + t.k)) { a, b, c in
        sgemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: a, lda: t.lda,
              b: b, ldb: t.ldb, beta: t.beta, c: c, ldc: t.ldc, kernel: kernel)
    }
}

@Suite("GEMM kernels against a double-precision reference")
struct GEMMKernelTests {
    @Test("the kernel in use, through sgemm", arguments: allCases)
    func kernelInUse(_ t: GEMMCase) { viaSgemm(nil, t) }

    @Test("OpenBLAS, through sgemm", arguments: edgeCases)
    func openBLAS(_ t: GEMMCase) { viaSgemm(.openBLAS, t) }

    /// Called directly, on one thread. On a CPU without AVX-512 the kernel must decline
    /// (return -1) and leave C alone; sgemm then falls back to OpenBLAS.
    @Test("the AVX-512 kernel, called directly", arguments: allCases)
    func avx512Direct(_ t: GEMMCase) {
        if GEMMDispatch.avx512Available {
            check(t, seed: UInt64(t.m * 131 + t.n * 17 + t.k)) { a, b, c in
                let status = sal_sgemm_avx512(t.transA ? 1 : 0, t.transB ? 1 : 0, t.m, t.n, t.k, t.alpha,
                                              a, t.lda, b, t.ldb, t.beta, c, t.ldc)
                #expect(status == 0)
            }
        } else {
            var c = [Float](repeating: 3, count: 4)
            let a = [Float](repeating: 1, count: 4)
            let status = sal_sgemm_avx512(0, 0, 2, 2, 2, 1, a, 2, a, 2, 0, &c, 2)
            #expect(status == -1)
            #expect(c == [3, 3, 3, 3])  // structural: C untouched
        }
    }

    /// The AVX-512 kernel through sgemm's per-thread split (columns in units of 32, rows in
    /// units of 14), on products large enough to be split.
    @Test("the AVX-512 kernel, through sgemm's block split")
    func avx512Split() {
        #expect(GEMMDispatch.avx512Available || sal_avx512_available() == 0)
        let kernel: GEMMKernel = GEMMDispatch.avx512Available ? .avx512 : .openBLAS
        viaSgemm(kernel, GEMMCase(transA: false, transB: false, m: 40, n: 1000, k: 130, alpha: 1, beta: 0, pad: 2))
        viaSgemm(kernel, GEMMCase(transA: true, transB: false, m: 300, n: 60, k: 150, alpha: 1, beta: 1, pad: 0))
        viaSgemm(kernel, GEMMCase(transA: false, transB: true, m: 130, n: 130, k: 140, alpha: 2, beta: 0, pad: 1))
    }

    @Test("SALIENCY_GEMM and the CPU check decide the kernel")
    func dispatch() {
        #expect(GEMMDispatch.choose(setting: nil, avx512Available: true) == (.avx512, nil))
        #expect(GEMMDispatch.choose(setting: "auto", avx512Available: true) == (.avx512, nil))
        #expect(GEMMDispatch.choose(setting: nil, avx512Available: false) == (.openBLAS, nil))
        #expect(GEMMDispatch.choose(setting: "openblas", avx512Available: true) == (.openBLAS, nil))
        let unknown = GEMMDispatch.choose(setting: "mkl", avx512Available: true)
        #expect(unknown.kernel == .avx512)
        #expect(unknown.warning?.contains("SALIENCY_GEMM=mkl") == true)
        #expect(GEMMDispatch.choose(setting: "mkl", avx512Available: false).kernel == .openBLAS)
        // This process: its environment and this CPU.
        let setting = ProcessInfo.processInfo.environment["SALIENCY_GEMM"]
        let expected = GEMMDispatch.choose(setting: setting, avx512Available: sal_avx512_available() != 0).kernel
        #expect(GEMMDispatch.chosen == expected)
        #expect(BLASInfo.gemmKernel == (expected == .avx512 ? "avx512 (ours)" : "OpenBLAS \(BLASInfo.coreName)"))
    }
}
