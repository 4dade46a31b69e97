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

    /// Runs `body` over `0..<n` split into contiguous chunks of at least `minPerThread`
    /// indices, on up to `count` threads (the caller and `WorkerPool`'s workers) when the work
    /// is large enough (`n >= minPerThread * 2`). Chunks are claimed dynamically, up to four
    /// per thread, so a core that starts late takes fewer. `body` must treat every index
    /// independently: which ranges it is called with depends on `count`.
    public static func parallelFor(_ n: Int, minPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let per = Swift.max(minPerThread, 1)
        let workers = Swift.min(count, n / per)
        if workers <= 1 { if n > 0 { body(0..<n) }; return }
        let wanted = Swift.min(n / per, 4 * workers, WorkerPool.maxChunks)
        let size = (n + wanted - 1) / wanted, chunks = (n + size - 1) / size
        let ran = WorkerPool.shared.run(chunks: chunks, workers: workers - 1) { i in
            body(i * size..<Swift.min(n, (i + 1) * size))
        }
        // Another parallel loop is running (nested, or on another thread): this one runs here.
        if !ran { body(0..<n) }
    }
}

import Foundation
