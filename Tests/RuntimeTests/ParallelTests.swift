import Foundation
import Testing
@testable import Runtime

/// `Threads.forEachItem` and `Threads.rounds`: every item once, results in index order,
/// errors rethrown, and inside an item the runtime's loops see one thread.
@Suite("Parallel items")
struct ParallelTests {
    struct Failure: Error, Equatable { let item: Int }

    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var seen: [Int] = []
        func note(_ i: Int) { lock.withLock { seen.append(i) } }
        var items: [Int] { lock.withLock { seen } }
    }

    @Test func everyItemRunsOnceWithOneThreadInside() throws {
        let log = Log(), counts = Log()
        try Threads.forEachItem(37, elementsPerItem: 1) { i in
            log.note(i)
            counts.note(Threads.count)
        }
        #expect(log.items.sorted() == Array(0..<37))
        // More than one worker: each item's own loops run serially. One worker: items run on
        // the caller, whose setting holds.
        let expected = Threads.count > 1 ? 1 : Threads.count
        #expect(counts.items.allSatisfy { $0 == expected })
        // Outside items the setting is back.
        #expect(Threads.count >= 1)
    }

    /// Large items run one after another on the caller, with the runtime's loops parallel inside.
    @Test func largeItemsRunInTurnWithTheSettingInside() throws {
        let log = Log(), counts = Log()
        try Threads.forEachItem(5, elementsPerItem: Threads.largeItem + 1) { i in
            log.note(i)
            counts.note(Threads.count)
        }
        #expect(log.items == Array(0..<5))
        #expect(counts.items.allSatisfy { $0 == Threads.count })
    }

    @Test func itemsSeeTheCallersRecordingSwitch() throws {
        let log = Log()
        try Autograd.noGrad { try Threads.forEachItem(8, elementsPerItem: 1) { _ in log.note(Autograd.isRecording ? 1 : 0) } }
        #expect(log.items == [Int](repeating: 0, count: 8))
        let on = Log()
        try Threads.forEachItem(8, elementsPerItem: 1) { _ in on.note(Autograd.isRecording ? 1 : 0) }
        #expect(on.items == [Int](repeating: 1, count: 8))
    }

    @Test func theFirstErrorIsRethrownAndLaterItemsDoNotStart() {
        // Concurrent items: the error comes back and no item runs twice. How many items the
        // other worker takes before the failure is recorded depends on scheduling (under a
        // loaded CI machine the failing worker can be descheduled while the other one runs
        // every remaining item), so no count is asserted here.
        let log = Log()
        #expect(throws: Failure.self) {
            try Threads.forEachItem(1000, elementsPerItem: 1) { i in
                log.note(i)
                if i == 3 { throw Failure(item: i) }
            }
        }
        #expect(Set(log.items).count == log.items.count)
        // Large items run one after another on the caller: nothing starts after the failure.
        let serial = Log()
        #expect(throws: Failure.self) {
            try Threads.forEachItem(1000, elementsPerItem: Threads.largeItem + 1) { i in
                serial.note(i)
                if i == 3 { throw Failure(item: i) }
            }
        }
        #expect(serial.items == [0, 1, 2, 3])
    }

    @Test func roundsPrepareAndFinishInIndexOrder() throws {
        var prepared: [Int] = [], finished: [(Int, Int)] = []
        try Threads.rounds(11, elementsPerItem: 1, prepare: { i -> Int in prepared.append(i); return i * 10 }, compute: { i, p in p + i },
                           finish: { i, r in finished.append((i, r)) })
        #expect(prepared == Array(0..<11))
        #expect(finished.map(\.0) == Array(0..<11))
        #expect(finished.map(\.1) == (0..<11).map { $0 * 11 })
    }

    /// Gradients computed inside items (each its own tape) equal those computed on the caller.
    @Test func gradientsInsideItemsEqualTheSerialOnes() throws {
        let w = randomTensor([4, 3], seed: 1)
        let xs = (0..<6).map { randomTensor([2, 4], seed: 2 + UInt64($0)) }
        func grad(_ x: Tensor) -> [Float] {
            let xi = x.requiringGrad()
            return gradient(of: (xi.matmul(w)).squared().sum(), wrt: xi).scalars
        }
        let serial = xs.map(grad)
        var parallel = [[Float]](repeating: [], count: xs.count)
        try parallel.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            try Threads.forEachItem(xs.count, elementsPerItem: 8) { i in out[i] = grad(xs[i]) }
        }
        // The same float operations on one thread each (no split GEMM at these sizes): bitwise.
        #expect(parallel == serial)
    }
}
