import CKernels
import COpenBLAS
import Foundation

/// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C. `lda`, `ldb`, `ldc`
/// default to the packed row-major strides. `serial`: on the calling thread only (the caller
/// already runs independent products in parallel). `kernel`: which GEMM computes it; nil is
/// the run-time choice (`GEMMDispatch.chosen`: ours on AVX-512 CPUs, OpenBLAS elsewhere).
///
/// Both kernels run single-threaded (see `openBLASSetup`); a large product is cut into
/// `Threads.count` blocks of C (columns when C is wide, rows otherwise), one kernel call per
/// block on our own workers. OpenBLAS's pthreads busy-wait between calls, which on a shared
/// 2-core machine starves the other worker and our own parallel loops; one pool avoids that.
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil, serial: Bool = false,
                  kernel: GEMMKernel? = nil) {
    if m == 0 || n == 0 { return }
    _ = openBLASSetup
    let kernel = kernel ?? GEMMDispatch.chosen
    let la = lda ?? (transA ? m : k)
    let lb = ldb ?? (transB ? k : n)
    let lc = ldc ?? n
    // Below ~2 M multiply-adds a block's packing overhead and the hand-off cost more than
    // the second core saves.
    let parts = !serial && m * n * k >= 1 << 21 ? Threads.count : 1
    let byColumns = n >= 4 * m
    let extent = byColumns ? n : m
    // Blocks of whole register tiles, so that a split adds no partial tile: ours are 14 rows
    // x 32 columns (sal_gemm.h), OpenBLAS's Haswell kernels 16 x 4 / 8 x 6.
    let unit = kernel == .openBLAS ? 16 : byColumns ? 32 : 14
    let blocks = Swift.min(parts, (extent + unit - 1) / unit)
    if blocks <= 1 {
        gemmBlock(kernel, transA, transB, m, n, k, alpha, a, la, b, lb, beta, c, lc)
        return
    }
    let step = ((extent + blocks - 1) / blocks + unit - 1) / unit * unit
    Threads.parallelFor(blocks) { range in
        for blk in range {
            let lo = blk * step, hi = Swift.min(extent, lo + step)
            guard lo < hi else { continue }
            if byColumns {
                // Columns lo..<hi of op(B) and C.
                let bBlock = transB ? b + lo * lb : b + lo
                gemmBlock(kernel, transA, transB, m, hi - lo, k, alpha, a, la, bBlock, lb, beta, c + lo, lc)
            } else {
                // Rows lo..<hi of op(A) and C.
                let aBlock = transA ? a + lo : a + lo * la
                gemmBlock(kernel, transA, transB, hi - lo, n, k, alpha, aBlock, la, b, lb, beta, c + lo * lc, lc)
            }
        }
    }
}

/// One block on the calling thread. Ours declines (returns nonzero) only when this thread's
/// packing buffers cannot be allocated or a stride is too large for its 32-bit gather
/// offsets; OpenBLAS then computes the block.
private func gemmBlock(_ kernel: GEMMKernel, _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                       _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                       _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    if kernel == .avx512,
       sal_sgemm_avx512(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == 0 {
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The GEMM families `sgemm` can run.
public enum GEMMKernel: String, Sendable, CaseIterable {
    /// Ours (Sources/CKernels): AVX-512, register tiles of 14 x 32.
    case avx512
    /// OpenBLAS's `cblas_sgemm`, with the kernel family `openBLASSetup` settled on.
    case openBLAS = "openblas"
}

/// The one place that decides which GEMM `sgemm` uses: ours where the CPU (and the OS) support
/// AVX-512, OpenBLAS elsewhere. `SALIENCY_GEMM=openblas` forces OpenBLAS (A/B timing,
/// scripts/test-rounding); `auto` or unset is the default choice.
public enum GEMMDispatch {
    /// The kernel for a `SALIENCY_GEMM` value on a CPU with or without AVX-512, and the warning
    /// to print for a value we do not know (then the default choice).
    public static func choose(setting: String?, avx512Available: Bool) -> (kernel: GEMMKernel, warning: String?) {
        let auto: GEMMKernel = avx512Available ? .avx512 : .openBLAS
        switch setting {
        case nil, "auto": return (auto, nil)
        case "openblas": return (.openBLAS, nil)
        case let other?:
            return (auto, "saliency: SALIENCY_GEMM=\(other) is not one of openblas, auto; using \(auto.rawValue)\n")
        }
    }

    /// Whether this CPU and OS run our AVX-512 kernel: the one CPU check of every AVX-512
    /// kernel (`SIMDKernels.avx512Supported`, sal_cpu.h).
    public static var avx512Available: Bool { SIMDKernels.avx512Supported }

    /// The process's choice, made on first use from SALIENCY_GEMM and the CPU.
    public static let chosen: GEMMKernel = {
        let setting = getenv("SALIENCY_GEMM").map { String(cString: $0) }
        let (kernel, warning) = choose(setting: setting, avx512Available: avx512Available)
        if let warning { FileHandle.standardError.write(Data(warning.utf8)) }
        return kernel
    }()
}

/// Runs once before the first GEMM: OpenBLAS's kernel choice (see
/// `sal_openblas_prefer_haswell` in the COpenBLAS shim: Haswell kernels instead of the
/// Prescott fallback that OpenBLAS 0.3.21 picks on CPUs it does not know; never when
/// OPENBLAS_CORETYPE is set) and one OpenBLAS thread (`sgemm` splits the work itself).
private let openBLASSetup: Bool = {
    let switched = sal_openblas_prefer_haswell() != 0
    openblas_set_num_threads(1)
    return switched
}()

public enum BLASInfo {
    /// The OpenBLAS kernel family in use (e.g. "Haswell"), after our choice.
    public static var coreName: String {
        _ = openBLASSetup
        return openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }
    /// The GEMM `sgemm` runs: "avx512 (ours)", or "OpenBLAS " and its kernel family.
    public static var gemmKernel: String {
        GEMMDispatch.chosen == .avx512 ? "avx512 (ours)" : "OpenBLAS \(coreName)"
    }
    /// Whether we switched OpenBLAS to its Haswell kernels (OPENBLAS_CORETYPE was unset and
    /// OpenBLAS had picked a kernel family without AVX2 on a CPU with AVX2 and FMA).
    public static var switchedToHaswell: Bool { openBLASSetup }
}
