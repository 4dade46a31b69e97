import Foundation

/// The thread cells run on, so the main loop keeps answering the control channel
/// (interrupt, shutdown) while a cell computes. Its stack is large: the interpreter walks
/// the syntax tree recursively (200 calls deep at most) and plugins recurse through graphs.
final class ExecutionWorker: @unchecked Sendable {
    // @unchecked: `jobs` is only touched with `condition` held.
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []

    init(stackSize: Int = 64 << 20) {
        let thread = Thread { [self] in
            blockInterrupts()
            while true {
                condition.lock()
                while jobs.isEmpty { condition.wait() }
                let job = jobs.removeFirst()
                condition.unlock()
                job()
            }
        }
        thread.stackSize = stackSize
        thread.name = "kernel cell"
        thread.start()
    }

    func submit(_ job: @escaping () -> Void) {
        condition.withLock {
            jobs.append(job)
            condition.signal()
        }
    }
}
