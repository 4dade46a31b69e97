import Dispatch
import CSupport

/// The runtime's thread setting, honoured by GEMM (split by `sgemm`) and by our own parallel loops.
public enum Threads {
    nonisolated(unsafe) private static var current: Int = defaultCount()

    static func defaultCount() -> Int {
        if let s = getenv("SALIENCY_THREADS").map({ String(cString: $0) }), let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    /// The threads a loop may use here: the setting, or 1 inside an item of `forEachItem`.
    public static var count: Int { insideItem ? 1 : current }

    /// Keeps large freed blocks in the heap for reuse. glibc serves blocks above its mmap
    /// threshold (at most 32 MiB) with fresh mappings that are zero-filled page by page on
    /// first touch and unmapped on free; a batch-16 ResNet activation is ~50 MiB, so every op
    /// paid for page faults (most of the wall time was system time). Called once by the
    /// executables and the benchmark; harmless to call again.
    public static func tuneAllocator() {
        sal_keep_large_blocks()
    }

    /// Sets the number of threads for our loops, GEMM included (OpenBLAS itself runs
    /// single-threaded; `sgemm` splits a product over our workers).
    public static func set(_ n: Int) {
        current = Swift.max(1, n)
    }

    /// Runs `body` over `0..<n` split into at most `count` contiguous chunks, in parallel when
    /// the work is large enough (`n >= minPerThread * 2`).
    
    public static func parallelFor(_ n: Int, minPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = Swift.min(count, n / Swift.max(minPerThread, 1))
        if workers <= 1 { if n > 0 { body(0..<n) }; return }
        let chunk = (n + workers - 1) / workers
        // Chunks write disjoint ranges; the closure is only shared for the duration of the call.
        withoutActuallyEscaping(body) { escapable in
            nonisolated(unsafe) let work = escapable
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = w * chunk, hi = Swift.min(n, lo + chunk)
                if lo < hi { work(lo..<hi) }
            }
        }
    }
}

import Foundation
