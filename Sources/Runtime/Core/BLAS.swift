import COpenBLAS

/// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, through OpenBLAS.
/// `lda`, `ldb`, `ldc` default to the packed row-major strides. `serial`: on the calling
/// thread only (the caller already runs independent products in parallel).
///
/// OpenBLAS runs single-threaded (see `openBLASSetup`); a large product is cut into
/// `Threads.count` blocks of C (columns when C is wide, rows otherwise), one OpenBLAS call per
/// block on our own workers. OpenBLAS's pthreads busy-wait between calls, which on a shared
/// 2-core machine starves the other worker and our own parallel loops; one pool avoids that.
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil, serial: Bool = false) {
    if m == 0 || n == 0 { return }
    _ = openBLASSetup
    let la = lda ?? (transA ? m : k)
    let lb = ldb ?? (transB ? k : n)
    let lc = ldc ?? n
    let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
    // Below ~2 M multiply-adds a block's packing overhead and the hand-off cost more than
    // the second core saves.
    let parts = !serial && m * n * k >= 1 << 21 ? Threads.count : 1
    let byColumns = n >= 4 * m
    let extent = byColumns ? n : m
    // Blocks of whole 16-element panels (OpenBLAS's Haswell kernels work on 16 x 4 / 8 x 6 tiles).
    let unit = 16
    let blocks = Swift.min(parts, (extent + unit - 1) / unit)
    if blocks <= 1 {
        cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, Int32(la), b, Int32(lb), beta, c, Int32(lc))
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
                cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(hi - lo), Int32(k), alpha, a, Int32(la),
                            bBlock, Int32(lb), beta, c + lo, Int32(lc))
            } else {
                // Rows lo..<hi of op(A) and C.
                let aBlock = transA ? a + lo : a + lo * la
                cblas_sgemm(CblasRowMajor, ta, tb, Int32(hi - lo), Int32(n), Int32(k), alpha, aBlock, Int32(la),
                            b, Int32(lb), beta, c + lo * lc, Int32(lc))
            }
        }
    }
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
    /// Whether we switched OpenBLAS to its Haswell kernels (OPENBLAS_CORETYPE was unset and
    /// OpenBLAS had picked a kernel family without AVX2 on a CPU with AVX2 and FMA).
    public static var switchedToHaswell: Bool { openBLASSetup }
}
