import Foundation
import Synchronization

/// The heartbeat channel: echoes every ping on its own thread, so a front end sees the
/// kernel alive even while a cell computes.
final class Heartbeat: @unchecked Sendable {
    // @unchecked: the socket is used by the heartbeat thread only once it has started.
    private let socket: ZMQSocket
    private let stopping = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)

    init(context: ZMQContext, endpoint: String) throws {
        socket = try ZMQSocket(context, .reply)
        socket.setLinger(0)
        try socket.bind(endpoint)
    }

    func start() {
        let thread = Thread { [self] in
            blockInterrupts()
            while !stopping.load(ordering: .acquiring) {
                // A short timeout, so `stop` is noticed without a message to wake the thread.
                do {
                    if try ZMQSocket.poll([socket], timeout: 200)[0], let ping = try socket.receive(wait: false) {
                        try socket.send(ping)
                    }
                } catch {
                    KernelLog.write("heartbeat: \(error)")
                    break
                }
            }
            socket.close()
            stopped.signal()
        }
        thread.name = "kernel heartbeat"
        thread.start()
    }

    /// Closes the socket (the context cannot terminate while it is open) and waits for it.
    func stop() {
        stopping.store(true, ordering: .releasing)
        stopped.wait()
    }
}
