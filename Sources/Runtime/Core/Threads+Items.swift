import Dispatch
import Foundation

/// Parallelism over whole work items (a batch's forward or gradient pass) rather than within
/// each op: see `forEachItem`.
extension Threads {
    /// True on the threads of `forEachItem` while they run an item: there the item is the unit
    /// of parallel work, and the runtime's own loops (GEMM, convolutions, pointwise ops) run
    /// serially instead of splitting each op again over workers that are all busy.
    @TaskLocal static var insideItem: Bool = false

    /// Runs `body(i)` for every i in `0..<n`, up to `count` items at a time, each item whole on
    /// one thread (workers take the next item as they finish one), with the runtime's own
    /// loops serial inside an item (see `insideItem`). For many independent small passes (the
    /// batches of a perturbation method on a small model) this keeps both cores on
    /// arithmetic: split op by op, handing chunks of tiny ops to the second core and waiting
    /// for it made the same passes cost 20-35% more CPU time (the demo's deletion/insertion).
    ///
    /// `elementsPerItem` (the input elements one item works on, its batch) decides: items above
    /// `largeItem` run one after another with the runtime's loops parallel inside, as before.
    /// Their ops are large enough to split well, and two of them at once would hold two sets
    /// of activations and tapes (two batch-16 ResNet-18 gradient passes: twice the peak memory).
    ///
    /// Items may run in any order and at the same time: `body` must only write what belongs to
    /// its item. The caller's autograd recording switch and scoped memory budget hold inside
    /// items (task-local values do not follow work onto other threads by themselves). The
    /// first error thrown stops the items not yet started and is rethrown.
    public static func forEachItem(_ n: Int, elementsPerItem: Int, _ body: (Int) throws -> Void) throws {
        let workers = elementsPerItem > largeItem ? 1 : Swift.min(count, n)
        if workers <= 1 { for i in 0..<n { try body(i) }; return }
        let queue = ItemQueue(count: n)
        let recording = Autograd.isRecording, limit = MemoryBudget.scopedLimit
        withoutActuallyEscaping(body) { escapable in
            nonisolated(unsafe) let work = escapable
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                $insideItem.withValue(true) {
                    Autograd.$recording.withValue(recording) {
                        MemoryBudget.$scopedLimit.withValue(limit) {
                            while let i = queue.next() {
                                do { try work(i) } catch { queue.fail(error) }
                            }
                        }
                    }
                }
            }
        }
        if let e = queue.error { throw e }
    }

    /// Input elements above which an item of `forEachItem` is large: 42 images of 3x64x64, 3
    /// of 3x224x224. A pass holds several times its input in activations, im2col buffers and
    /// its tape: two large items at once would double that peak (issue 19 holds integrated
    /// gradients on ResNet-18 to PyTorch's peak memory), and their ops are large enough for
    /// the per-op split to keep both cores busy.
    public static let largeItem = 1 << 19

    /// Items `0..<n` in rounds of `4 * count` (of one when they are large; see `forEachItem`):
    /// several items per worker and round, so a round's uneven items even out and the serial
    /// `prepare` and `finish` between rounds (RISE's masks, SmoothGrad's noise) interrupt the
    /// workers less often on small models. `prepare` runs on the calling
    /// thread in index order (so draws from a seeded generator happen in the same order at
    /// any thread count), the round's `compute`s run concurrently as in `forEachItem`, and
    /// `finish` runs on the calling thread in index order (so sums accumulate in the same
    /// order as a serial loop). Only one round's prepared values and results are held at once.
    public static func rounds<P, R>(_ n: Int, elementsPerItem: Int, prepare: (Int) throws -> P, compute: (Int, P) throws -> R,
                                    finish: (Int, R) throws -> Void) throws {
        let size = elementsPerItem > largeItem ? 1 : 4 * Swift.max(count, 1)
        var lo = 0
        while lo < n {
            let hi = Swift.min(n, lo + size)
            let prepared = try (lo..<hi).map(prepare)
            var results = [R?](repeating: nil, count: hi - lo)
            try results.withUnsafeMutableBufferPointer { slots in
                nonisolated(unsafe) let out = slots
                try forEachItem(hi - lo, elementsPerItem: elementsPerItem) { k in out[k] = try compute(lo + k, prepared[k]) }
            }
            for (k, r) in results.enumerated() {
                // Every slot is filled: forEachItem returned without throwing.
                guard let r else { continue }
                try finish(lo + k, r)
            }
            lo = hi
        }
    }
}

/// The shared state of `forEachItem`'s workers: the next item to take and the first error.
private final class ItemQueue: @unchecked Sendable {
    private let lock = NSLock()
    private let count: Int
    private var taken = 0
    private var failure: (any Error)?

    init(count: Int) { self.count = count }

    /// The next item, or nil when all are taken or one has failed.
    func next() -> Int? {
        lock.withLock {
            guard failure == nil, taken < count else { return nil }
            taken += 1
            return taken - 1
        }
    }

    func fail(_ e: any Error) { lock.withLock { if failure == nil { failure = e } } }

    var error: (any Error)? { lock.withLock { failure } }
}
