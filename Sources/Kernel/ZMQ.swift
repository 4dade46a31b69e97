import CZMQ
import Foundation

/// A failed libzmq call, with libzmq's own text for the error number.
public struct ZMQError: Error, CustomStringConvertible {
    public let operation: String
    public let code: Int32
    public var description: String { "\(operation): \(String(cString: zmq_strerror(code)))" }
}

/// One libzmq context: the I/O thread every socket of the kernel shares.
final class ZMQContext: @unchecked Sendable {
    // @unchecked: a context handle is thread-safe by libzmq's contract.
    let handle: UnsafeMutableRawPointer

    init() throws {
        guard let h = zmq_ctx_new() else { throw ZMQError(operation: "zmq_ctx_new", code: sal_zmq_errno()) }
        handle = h
    }

    /// Waits until every socket is closed and their lingering messages are sent.
    func terminate() {
        while zmq_ctx_term(handle) != 0 && sal_zmq_errno() == sal_eintr() {}
    }
}

/// A libzmq socket. Sockets are not thread-safe: each is used by one thread at a time (the
/// kernel's publisher serialises its socket with a lock).
final class ZMQSocket: @unchecked Sendable {
    enum Kind {
        case router, publisher, reply
        var raw: Int32 {
            switch self {
            case .router: return ZMQ_ROUTER
            case .publisher: return ZMQ_PUB
            case .reply: return ZMQ_REP
            }
        }
    }

    let handle: UnsafeMutableRawPointer
    private var closed = false

    init(_ context: ZMQContext, _ kind: Kind) throws {
        guard let h = zmq_socket(context.handle, kind.raw) else { throw ZMQError(operation: "zmq_socket", code: sal_zmq_errno()) }
        handle = h
    }

    /// How long unsent messages are kept after close (milliseconds; 0 drops them).
    func setLinger(_ milliseconds: Int32) {
        var v = milliseconds
        _ = zmq_setsockopt(handle, ZMQ_LINGER, &v, MemoryLayout<Int32>.size)
    }

    func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError(operation: "bind \(endpoint)", code: sal_zmq_errno()) }
    }

    /// Sends every frame of one multipart message.
    func send(_ frames: [[UInt8]]) throws {
        for (i, frame) in frames.enumerated() {
            let flags: Int32 = i + 1 < frames.count ? ZMQ_SNDMORE : 0
            while true {
                let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
                if rc >= 0 { break }
                let e = sal_zmq_errno()
                if e != sal_eintr() { throw ZMQError(operation: "zmq_send", code: e) }
            }
        }
    }

    /// The next multipart message; nil when `wait` is false and none is queued.
    func receive(wait: Bool = true) throws -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var more = true
        while more {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            // Only the first frame may be absent: the rest of a multipart message arrives with it.
            let flags: Int32 = frames.isEmpty && !wait ? ZMQ_DONTWAIT : 0
            let n = zmq_msg_recv(&msg, handle, flags)
            if n < 0 {
                let e = sal_zmq_errno()
                if e == sal_eintr() { continue }
                if e == sal_eagain() && frames.isEmpty { return nil }
                throw ZMQError(operation: "zmq_msg_recv", code: e)
            }
            let size = zmq_msg_size(&msg)
            if let data = zmq_msg_data(&msg), size > 0 {
                frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            } else {
                frames.append([])
            }
            more = zmq_msg_more(&msg) != 0
        }
        return frames
    }

    func close() {
        guard !closed else { return }
        closed = true
        zmq_close(handle)
    }

    /// Waits until one of `sockets` or `fds` (plain file descriptors) is readable, or
    /// `timeout` milliseconds pass (-1: forever). Returns which are readable, sockets first.
    /// A signal (SIGINT interrupting a cell) ends the wait early with nothing readable.
    static func poll(_ sockets: [ZMQSocket], fds: [Int32] = [], timeout: Int) throws -> [Bool] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0) }
        items += fds.map { zmq_pollitem_t(socket: nil, fd: $0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let rc = zmq_poll(&items, Int32(items.count), timeout)
        if rc < 0 {
            let e = sal_zmq_errno()
            if e == sal_eintr() { return items.map { _ in false } }
            throw ZMQError(operation: "zmq_poll", code: e)
        }
        return items.map { $0.revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
