import CZMQ
import Foundation

/// Sends what the process writes to a file descriptor straight (stray prints on stdout, the
/// fit log and warnings on stderr) to the notebook as stream output, as ipykernel does for
/// Python's sys.stdout: the descriptor becomes a pipe that a thread reads.
final class OutputCapture: @unchecked Sendable {
    /// The descriptor as it was (the front end's log), for the kernel's own messages.
    let saved: Int32
    private let readEnd: Int32
    private let sink: @Sendable (String) -> Void
    /// Held while a chunk is read and published, so `drain` knows when all is out.
    private let lock = NSLock()
    /// The tail of a UTF-8 sequence cut by a read, kept for the next chunk.
    private var partial: [UInt8] = []

    init(fd: Int32, sink: @escaping @Sendable (String) -> Void) throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw KernelError.wire("cannot capture output: pipe failed (errno \(errno))") }
        saved = dup(fd)
        readEnd = ends[0]
        self.sink = sink
        if fd == STDOUT_FILENO { fflush(sal_kernel_stdout()) }
        dup2(ends[1], fd)
        close(ends[1])
        // Non-blocking: the reader reads only what poll announced; a crash handler empties it.
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        OutputCapture.registerForCrash(fd: fd, readEnd: readEnd, saved: saved)
        let thread = Thread { [self] in
            blockInterrupts()
            self.run()
        }
        thread.name = "kernel output capture"
        thread.start()
    }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var p = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, -1)
            if ready < 0 { if errno == EINTR { continue }; return }
            let closedPipe = lock.withLock { () -> Bool in
                let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if n > 0 { emit(Array(buffer[0..<n])) }
                return n == 0
            }
            if closedPipe { return }
        }
    }

    /// Publishes the complete UTF-8 text of a chunk (called with the lock held).
    private func emit(_ chunk: [UInt8]) {
        let bytes = partial + chunk
        let cut = OutputCapture.completeUTF8Prefix(bytes)
        partial = Array(bytes[cut...])
        if cut > 0 { sink(String(decoding: bytes[..<cut], as: UTF8.self)) }
    }

    /// Waits until everything written so far has been published (before a cell's reply, so
    /// its output precedes its idle status).
    func drain() {
        fflush(sal_kernel_stdout())
        while true {
            var pending: Int32 = 0
            let empty = lock.withLock { ioctl(readEnd, UInt(FIONREAD), &pending) != 0 || pending == 0 }
            if empty { return }
            usleep(1000)
        }
    }

    /// The length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence.
    static func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
        var i = bytes.count
        // Walk back over at most three continuation bytes to the sequence's lead byte.
        while i > 0, bytes.count - i < 3, bytes[i - 1] & 0xC0 == 0x80 { i -= 1 }
        guard i > 0 else { return bytes.count }
        let lead = bytes[i - 1]
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return bytes.count - (i - 1) < length ? i - 1 : bytes.count
    }

    // MARK: - Crash reports

    // A crash (a Swift runtime trap) writes its message into the pipe and kills the process
    // before the reader can pass it on. The handler copies what is left to the original
    // descriptors, points stderr back at the front end's log and lets the previous handler
    // (the Swift backtracer, or the default) finish. Fixed slots, no allocation: only
    // async-signal-safe calls run in the handler.
    nonisolated(unsafe) private static var crashFDs: (Int32, Int32, Int32, Int32) = (-1, -1, -1, -1)
    nonisolated(unsafe) private static let crashBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 4096)
    /// The handlers replaced, indexed by signal number.
    nonisolated(unsafe) private static let previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 32)
    nonisolated(unsafe) private static var installed = false

    private static func registerForCrash(fd: Int32, readEnd: Int32, saved: Int32) {
        if fd == STDOUT_FILENO { crashFDs.0 = readEnd; crashFDs.1 = saved } else { crashFDs.2 = readEnd; crashFDs.3 = saved }
        guard !installed else { return }
        installed = true
        for s in [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in OutputCapture.crashed(signal) }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(s, &action, previous + Int(s))
        }
    }

    private static func crashed(_ signal: Int32) {
        copyPending(crashFDs.0, to: crashFDs.1)
        copyPending(crashFDs.2, to: crashFDs.3)
        if crashFDs.1 >= 0 { dup2(crashFDs.1, STDOUT_FILENO) }
        if crashFDs.3 >= 0 { dup2(crashFDs.3, STDERR_FILENO) }
        sigaction(signal, previous + Int(signal), nil)
        raise(signal)
    }

    private static func copyPending(_ readEnd: Int32, to saved: Int32) {
        guard readEnd >= 0 else { return }
        while true {
            let n = read(readEnd, crashBuffer, 4096)
            if n <= 0 { return }
            _ = write(saved, crashBuffer, n)
        }
    }
}

/// SIGINT interrupts the running cell; it must reach the main thread (whose handler cancels
/// the cell) and not cut short the blocking calls of helper threads.
func blockInterrupts() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    pthread_sigmask(SIG_BLOCK, &set, nil)
}
