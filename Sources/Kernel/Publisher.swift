import Foundation

/// The iopub channel. Several threads publish (the cell's worker, captured output, progress
/// bars, the main loop's busy/idle) and a ZeroMQ socket is not thread-safe, so every send
/// goes through one lock.
final class Publisher: @unchecked Sendable {
    private let socket: ZMQSocket
    private let signer: MessageSigner
    private let factory: MessageFactory
    private let lock = NSLock()
    private var closed = false
    /// Header of the request whose outputs are being published: the running cell, or the
    /// last one, which is what stray output between cells belongs to.
    private var cellParent: JSONObject = [:]

    init(socket: ZMQSocket, signer: MessageSigner, factory: MessageFactory) {
        self.socket = socket; self.signer = signer; self.factory = factory
    }

    func publish(_ type: String, _ content: JSONObject, parent: JSONObject) {
        lock.withLock { send(type, content, parent: parent) }
    }

    /// Publishes on behalf of the running cell.
    func publishForCell(_ type: String, _ content: JSONObject) {
        lock.withLock { send(type, content, parent: cellParent) }
    }

    func setCellParent(_ header: JSONObject) { lock.withLock { cellParent = header } }

    func status(_ state: String, parent: JSONObject) { publish("status", ["execution_state": state], parent: parent) }

    /// Stops publishing; messages already sent are flushed when the context terminates.
    func close() {
        lock.withLock {
            closed = true
            socket.close()
        }
    }

    private func send(_ type: String, _ content: JSONObject, parent: JSONObject) {
        guard !closed else { return }
        // The topic frame is the message type: subscribers subscribe to everything.
        let message = factory.message(type, content: content, parent: parent, identities: [Array(type.utf8)])
        do { try socket.send(try message.encode(signer: signer)) } catch { KernelLog.write("iopub: \(error)") }
    }
}

/// The kernel's own diagnostics: to the front end's log (the original stderr), never into
/// a notebook.
enum KernelLog {
    nonisolated(unsafe) static var fd: Int32 = STDERR_FILENO

    static func write(_ line: String) {
        let bytes = Array(("saliency-repl kernel: " + line + "\n").utf8)
        bytes.withUnsafeBytes { _ = Foundation.write(fd, $0.baseAddress, $0.count) }
    }
}
