import CSupport
import Foundation
import Synchronization

/// The persistent worker threads behind `Threads.parallelFor`.
///
/// Why not `DispatchQueue.concurrentPerform`: a ResNet-18 forward makes ~100 parallel loops
/// (im2col, GEMM blocks, Winograd transforms, pooling, pointwise ops), separated by short serial
/// stretches. libdispatch parks its threads at once, so every loop paid a futex wake-up of the
/// other core, ~20 us in this VM, and that core started its half late. Here a worker keeps
/// spinning (PAUSE) for `spinNanoseconds` after a job before it sleeps, so back-to-back loops
/// start at once on both cores; after a long serial stretch it sleeps on a condition variable.
///
/// Work is claimed in chunks (several per worker) from one atomic word, so a core that starts
/// late or is shared with another process takes fewer chunks instead of holding up the loop.
/// Chunk boundaries depend only on the loop's size and the thread count, never on which thread
/// runs a chunk. One job at a time: a parallel loop started while another runs (nested, or
/// from a second thread such as concurrent tests) runs serially on its caller.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// How long an idle worker spins before it sleeps.
    private static let spinNanoseconds: UInt64 = 50_000

    /// The current job: generation (bits 32...), workers allowed to join (24..<32), chunks
    /// (12..<24) and the next unclaimed chunk (0..<12).
    private let word = Atomic<Int>(0)
    /// Chunks of the current job not finished yet.
    private let remaining = Atomic<Int>(0)
    /// Whether a job is running (one at a time).
    private let busy = Atomic<Bool>(false)
    /// Workers asleep on `wakeUp` (the poster signals only when there are some).
    private let sleepers = Atomic<Int>(0)
    private let wakeUp = NSCondition()
    /// The current job's body; written before the job word is published, read only by a
    /// thread that has claimed one of its chunks (so it outlives every read).
    nonisolated(unsafe) private var job: ((Int) -> Void)?
    nonisolated(unsafe) private var generation = 0
    /// Threads started so far (guarded by `wakeUp`).
    nonisolated(unsafe) private var started = 0

    static let maxChunks = 0xFFF
    private static let maxWorkers = 0xFF

    /// Runs `body(i)` for every chunk `i` in `0..<chunks` on the caller and up to `workers`
    /// pool threads; returns false without running anything when a job is already running.
    func run(chunks: Int, workers: Int, _ body: (Int) -> Void) -> Bool {
        precondition(chunks > 0 && chunks <= Self.maxChunks, "WorkerPool: \(chunks) chunks")
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        let helpers = Swift.min(workers, Self.maxWorkers)
        startThreads(helpers)
        withoutActuallyEscaping(body) { escapable in
            job = escapable
            remaining.store(chunks, ordering: .relaxed)
            generation &+= 1
            word.store(((generation & 0x7FFF_FFFF) << 32) | (helpers << 24) | (chunks << 12), ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                wakeUp.lock(); wakeUp.broadcast(); wakeUp.unlock()
            }
            while let i = claim(worker: -1) {
                escapable(i)
                remaining.subtract(1, ordering: .releasing)
            }
            // The workers' last chunks: spin briefly, then yield (under load a worker may be
            // descheduled, and spinning would keep it off this core).
            var spins = 0
            while remaining.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins < 20_000 { sal_cpu_relax() } else { sched_yield() }
            }
            job = nil
        }
        return true
    }

    /// Claims the next chunk of the current job, or nil when none is left (or `worker` may
    /// not join it).
    private func claim(worker: Int) -> Int? {
        var v = word.load(ordering: .acquiring)
        while true {
            let next = v & 0xFFF, chunks = (v >> 12) & 0xFFF, helpers = (v >> 24) & 0xFF
            if next >= chunks || worker >= helpers { return nil }
            let (exchanged, original) = word.compareExchange(expected: v, desired: v + 1, ordering: .acquiringAndReleasing)
            if exchanged { return next }
            v = original
        }
    }

    private func startThreads(_ wanted: Int) {
        guard wanted > started else { return }
        wakeUp.lock()
        defer { wakeUp.unlock() }
        while started < wanted {
            // Started before the job that needs it is published: it waits for any job newer
            // than the current generation, so it joins that one.
            let index = started, seen = generation & 0x7FFF_FFFF
            let thread = Thread { [unowned self] in self.workerLoop(index, seen: seen) }
            thread.name = "saliency-worker-\(index)"
            thread.start()
            started += 1
        }
    }

    private func workerLoop(_ index: Int, seen start: Int) {
        var seen = start
        while true {
            seen = waitForJob(after: seen)
            while let i = claim(worker: index) {
                runChunk(i)
                remaining.subtract(1, ordering: .releasing)
            }
        }
    }

    /// Runs one chunk; its own frame so that the worker's reference to the job is released
    /// before the chunk is counted as done (the poster's `withoutActuallyEscaping` checks it).
    @inline(never)
    private func runChunk(_ i: Int) {
        // unreachable from input: a chunk is only claimed while its job is set
        job!(i)
    }

    /// Waits until a job newer than generation `seen` is published; returns its generation.
    private func waitForJob(after seen: Int) -> Int {
        let start = DispatchTime.now().uptimeNanoseconds
        var spins = 0
        while true {
            let g = word.load(ordering: .sequentiallyConsistent) >> 32
            if g != seen { return g }
            spins += 1
            if spins & 63 != 0 || DispatchTime.now().uptimeNanoseconds - start < Self.spinNanoseconds {
                sal_cpu_relax()
                continue
            }
            // Sleep. The poster stores the word before it reads `sleepers`, this thread counts
            // itself in `sleepers` before it reads the word (both sequentially consistent), so
            // one of the two sees the other: no lost wake-up.
            wakeUp.lock()
            sleepers.add(1, ordering: .sequentiallyConsistent)
            while word.load(ordering: .sequentiallyConsistent) >> 32 == seen { wakeUp.wait() }
            sleepers.subtract(1, ordering: .sequentiallyConsistent)
            wakeUp.unlock()
            spins = 0
        }
    }
}
