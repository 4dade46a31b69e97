import Dispatch
import Foundation
import Synchronization
import Testing
@testable import Runtime

/// `Threads.parallelFor` over `WorkerPool`: every index exactly once, in contiguous ranges,
/// whatever the size, nesting, or number of concurrent callers.
@Suite("Worker pool")
struct WorkerPoolTests {
    /// Runs one loop and checks that its ranges cover 0..<n exactly once.
    private func coversOnce(_ n: Int, minPerThread: Int) -> Bool {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: Swift.max(n, 1))
        hits.initialize(repeating: 0, count: Swift.max(n, 1))
        defer { hits.deallocate() }
        nonisolated(unsafe) let h = hits
        let badRange = Atomic<Bool>(false)
        Threads.parallelFor(n, minPerThread: minPerThread) { r in
            if r.isEmpty || r.lowerBound < 0 || r.upperBound > n { badRange.store(true, ordering: .relaxed); return }
            for i in r { h[i] += 1 }
        }
        return !badRange.load(ordering: .relaxed) && (0..<n).allSatisfy { hits[$0] == 1 }
    }

    @Test func everyIndexOnceForManySizes() {
        // Sizes around the chunking edges (fewer indices than threads, not multiples of the
        // chunk size) and many repetitions, so a race in claiming chunks would show.
        for n in [0, 1, 2, 3, 7, 8, 9, 16, 31, 64, 100, 1000, 4097] {
            for per in [1, 2, 5, 64] {
                for _ in 0..<50 { #expect(coversOnce(n, minPerThread: per), "n \(n), minPerThread \(per)") }
            }
        }
    }

    @Test func nestedLoopsRunInsideTheOuterOne() {
        let total = Atomic<Int>(0)
        Threads.parallelFor(8) { outer in
            for _ in outer {
                Threads.parallelFor(100) { inner in total.add(inner.count, ordering: .relaxed) }
            }
        }
        #expect(total.load(ordering: .relaxed) == 800)
    }

    @Test func concurrentCallersEachGetTheirWholeLoop() {
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 6) { caller in
            for rep in 0..<200 where !coversOnce(50 + caller * 13 + rep % 7, minPerThread: 1) {
                failures.add(1, ordering: .relaxed)
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
    }

    /// The pool itself, with one worker whatever `Threads.count` is (test-rounding runs the
    /// suites with SALIENCY_THREADS=1, where `parallelFor` never calls the pool).
    @Test func slowChunksAreSharedWithAWorker() throws {
        // 20 chunks of 10 ms: the caller alone would need 200 ms, so a worker that gets a core
        // within ~190 ms takes some (a futex wake-up takes microseconds; even with every test
        // thread of a parallel run competing for 2 cores, a scheduler slice is a few ms).
        // The pool runs one job at a time (tests of other suites run loops concurrently): retry
        // until this job got it, for at most 10 s.
        let threads = Mutex<Set<pthread_t>>([])
        let deadline = Date().addingTimeInterval(10)
        var ran = false
        while !ran && Date() < deadline {
            ran = WorkerPool.shared.run(chunks: 20, workers: 1) { _ in
                usleep(10_000)
                threads.withLock { _ = $0.insert(pthread_self()) }
            }
        }
        try #require(ran, "the pool stayed busy for 10 s")
        #expect(threads.withLock { $0.count } >= 2)
    }
}
