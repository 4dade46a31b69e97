import CZMQ
import Foundation
import Lang
import Plugins

/// Set by SIGINT (interrupt_mode "signal", or Ctrl-C in the terminal that started the
/// kernel) and by interrupt_request; the running cell polls it, as the REPL's cells do.
let kernelInterruptToken = CancellationToken()

/// The Jupyter kernel process: binds the five channels of a connection file and answers
/// them. The main thread polls shell, control and stdin; cells run on a worker thread, so
/// control requests (interrupt, shutdown) are answered while a cell computes; shell
/// requests that arrive meanwhile wait their turn, in order. The heartbeat echoes on its
/// own thread. Every request is wrapped in `status: busy` / `status: idle` on iopub.
public final class KernelServer: @unchecked Sendable {
    // @unchecked: everything below except `finished` (locked) and the publisher (locked)
    // is touched by the main thread only.
    public let kernel: NotebookKernel
    let signer: MessageSigner
    let factory = MessageFactory()
    let context: ZMQContext
    let shell: ZMQSocket, control: ZMQSocket, stdin: ZMQSocket
    let publisher: Publisher
    let heartbeat: Heartbeat
    let worker = ExecutionWorker()
    /// The worker writes a byte here when a cell is done, waking the main loop's poll.
    let wakeRead: Int32, wakeWrite: Int32
    private let finishedLock = NSLock()
    private var finished: [(request: JupyterMessage, reply: JSONObject)] = []
    private var queue: [JupyterMessage] = []
    private var running: JupyterMessage?
    private var stopping = false
    private var captures: [OutputCapture] = []

    public init(connectionFile: String) throws {
        let info = try ConnectionInfo.load(path: connectionFile)
        signer = MessageSigner(key: info.key)
        context = try ZMQContext()
        shell = try ZMQSocket(context, .router)
        control = try ZMQSocket(context, .router)
        stdin = try ZMQSocket(context, .router)
        let iopub = try ZMQSocket(context, .publisher)
        for (socket, port) in [(shell, info.shellPort), (control, info.controlPort), (stdin, info.stdinPort), (iopub, info.iopubPort)] {
            // Replies still queued at shutdown get a second to leave.
            socket.setLinger(1000)
            try socket.bind(info.endpoint(port: port))
        }
        heartbeat = try Heartbeat(context: context, endpoint: info.endpoint(port: info.hbPort))
        publisher = Publisher(socket: iopub, signer: signer, factory: factory)
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw KernelError.wire("pipe failed (errno \(errno))") }
        (wakeRead, wakeWrite) = (ends[0], ends[1])
        let publisher = self.publisher
        kernel = NotebookKernel(cancellation: kernelInterruptToken) { type, content in publisher.publishForCell(type, content) }
    }

    /// Serves until a shutdown request (or until the front end that started it is gone).
    public func serve() throws {
        installInterruptHandler()
        try captureOutput()
        let kernel = self.kernel
        ProgressBar.sink = { kernel.progress($0) }
        heartbeat.start()
        // jupyter_client names the process that started the kernel; when it dies without a
        // shutdown request, the kernel leaves too (ipykernel's parent poller).
        let frontEnd = ProcessInfo.processInfo.environment["JPY_PARENT_PID"].flatMap { pid_t($0) }.flatMap { $0 > 1 ? $0 : nil }
        while !stopping {
            // The timeout is how often the front end's presence is checked.
            let ready = try ZMQSocket.poll([control, shell, stdin], fds: [wakeRead], timeout: 1000)
            if let pid = frontEnd, kill(pid, 0) != 0, errno == ESRCH { KernelLog.write("the front end (pid \(pid)) is gone; exiting"); break }
            if ready[0] { while let frames = try control.receive(wait: false) { handleControl(frames) } }
            if ready[3] { collectFinishedCells() }
            if ready[1] { while let frames = try shell.receive(wait: false) { if let m = decode(frames, channel: "shell") { queue.append(m) } } }
            if ready[2] { while try stdin.receive(wait: false) != nil {} }
            startQueued()
        }
        close()
    }

    // MARK: - Channels

    func decode(_ frames: [[UInt8]], channel: String) -> JupyterMessage? {
        do { return try JupyterMessage.decode(frames, signer: signer) } catch {
            KernelLog.write("ignored a \(channel) message: \(error)")
            return nil
        }
    }

    func send(_ type: String, _ content: JSONObject, replyingTo request: JupyterMessage, on socket: ZMQSocket) {
        let message = factory.message(type, content: content, parent: request.header, identities: request.identities)
        do { try socket.send(try message.encode(signer: signer)) } catch { KernelLog.write("cannot send \(type): \(error)") }
    }

    func handleControl(_ frames: [[UInt8]]) {
        guard let m = decode(frames, channel: "control") else { return }
        publisher.status("busy", parent: m.header)
        switch m.type {
        case "interrupt_request":
            if running != nil { kernelInterruptToken.cancel() }
            send("interrupt_reply", ["status": "ok"], replyingTo: m, on: control)
        case "shutdown_request":
            shutdown(m, on: control)
        case "kernel_info_request":
            // Constant, so it is safe to build while a cell runs.
            send("kernel_info_reply", kernel.kernelInfo(), replyingTo: m, on: control)
        default:
            KernelLog.write("no reply to control message '\(m.type)'")
        }
        publisher.status("idle", parent: m.header)
    }

    func shutdown(_ m: JupyterMessage, on socket: ZMQSocket) {
        stopping = true
        if running != nil { kernelInterruptToken.cancel() }
        send("shutdown_reply", ["status": "ok", "restart": m.content.bool("restart", default: false)], replyingTo: m, on: socket)
    }

    /// Handles queued shell requests while no cell runs: an execute request goes to the
    /// worker, anything else is answered at once.
    func startQueued() {
        while running == nil, !stopping, !queue.isEmpty {
            let m = queue.removeFirst()
            publisher.status("busy", parent: m.header)
            switch m.type {
            case "execute_request":
                if !m.content.bool("silent", default: false) {
                    publisher.publish("execute_input", ["code": m.content.string("code") ?? "", "execution_count": kernel.session.nextNumber], parent: m.header)
                }
                running = m
                // From here an interrupt belongs to this cell; an earlier one (SIGINT while
                // idle) is forgotten.
                kernelInterruptToken.reset()
                publisher.setCellParent(m.header)
                let kernel = self.kernel
                worker.submit { [self] in
                    let reply = kernel.execute(m.content)
                    finishedLock.withLock { finished.append((m, reply)) }
                    var byte: UInt8 = 1
                    _ = write(wakeWrite, &byte, 1)
                }
                return
            case "shutdown_request":
                shutdown(m, on: shell)
            default:
                if let (type, content) = kernel.reply(to: m.type, content: m.content) {
                    send(type, content, replyingTo: m, on: shell)
                } else {
                    KernelLog.write("no reply to shell message '\(m.type)'")
                }
            }
            publisher.status("idle", parent: m.header)
        }
    }

    /// Sends the replies of cells the worker finished. After an error, execute requests
    /// already queued are aborted unless they were sent with `stop_on_error: false`.
    func collectFinishedCells() {
        var byte: UInt8 = 0
        _ = read(wakeRead, &byte, 1)
        let done = finishedLock.withLock { () -> [(request: JupyterMessage, reply: JSONObject)] in
            defer { finished.removeAll() }
            return finished
        }
        for (request, reply) in done {
            send("execute_reply", reply, replyingTo: request, on: shell)
            publisher.status("idle", parent: request.header)
            running = nil
            if reply.string("status") == "error", request.content.bool("stop_on_error", default: true) {
                abortQueuedCells()
            }
        }
    }

    func abortQueuedCells() {
        let aborted = queue.filter { $0.type == "execute_request" }
        queue.removeAll { $0.type == "execute_request" }
        for m in aborted {
            publisher.status("busy", parent: m.header)
            send("execute_reply", ["status": "aborted", "execution_count": kernel.session.nextNumber], replyingTo: m, on: shell)
            publisher.status("idle", parent: m.header)
        }
    }

    // MARK: - Process

    /// stdout and stderr written by anything in the process (the fit log, warnings, native
    /// plugins) become stream output of the running cell.
    func captureOutput() throws {
        setvbuf(sal_kernel_stdout(), nil, _IOLBF, 0)
        let publisher = self.publisher
        for (fd, name) in [(STDOUT_FILENO, "stdout"), (STDERR_FILENO, "stderr")] {
            let capture = try OutputCapture(fd: fd) { text in publisher.publishForCell("stream", ["name": name, "text": text]) }
            if fd == STDERR_FILENO { KernelLog.fd = capture.saved }
            captures.append(capture)
        }
        kernel.flushStreams = { [captures] in captures.forEach { $0.drain() } }
    }

    func installInterruptHandler() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in kernelInterruptToken.cancel() }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGINT, &action, nil)
        // A front end may start the kernel with SIGINT blocked or ignored: take it back.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Sends what is queued (the shutdown reply) and releases the sockets. A cell still
    /// running was cancelled; the process exits without waiting for it.
    func close() {
        ProgressBar.sink = nil
        captures.forEach { $0.drain() }
        publisher.close()
        shell.close(); control.close(); stdin.close()
        heartbeat.stop()
        context.terminate()
    }
}
