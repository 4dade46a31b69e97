import Foundation
import Lang
import Plugins
import Runtime

/// The language side of the kernel: one REPL `Session` answering the shell requests. It
/// knows nothing of sockets; what a cell shows goes to `publish` (message type, content),
/// which the server sends on iopub under the cell's request.
public final class NotebookKernel: @unchecked Sendable {
    // @unchecked: the server calls it from one thread at a time (the cell worker while a
    // cell runs, the main loop otherwise); only `progress` is called concurrently, and it
    // keeps its own lock.
    public let session: Session
    let cancellation: CancellationToken
    let publish: @Sendable (String, JSONObject) -> Void
    /// Called after a cell, before its reply: captured stdout/stderr must come out first.
    var flushStreams: () -> Void = {}
    private let progressLock = NSLock()
    private var progressShown: Set<Int> = []
    private let displayPrefix = UUID().uuidString.lowercased()

    public init(cancellation: CancellationToken, publish: @escaping @Sendable (String, JSONObject) -> Void) {
        self.cancellation = cancellation
        self.publish = publish
        session = Session(cancellation: cancellation, display: { _ in })
        session.display = { [unowned self] item in self.show(item) }
    }

    // MARK: - Requests

    /// The reply (type and content) to a shell request the session answers; nil for types
    /// it does not know (they get no reply, as in ipykernel).
    public func reply(to type: String, content: JSONObject) -> (String, JSONObject)? {
        switch type {
        case "kernel_info_request": return ("kernel_info_reply", kernelInfo())
        case "execute_request": return ("execute_reply", execute(content))
        case "complete_request": return ("complete_reply", complete(content))
        case "inspect_request": return ("inspect_reply", inspect(content))
        case "is_complete_request": return ("is_complete_reply", isComplete(content))
        case "history_request": return ("history_reply", history(content))
        case "comm_info_request": return ("comm_info_reply", ["status": "ok", "comms": JSONObject()])
        default: return nil
        }
    }

    public func kernelInfo() -> JSONObject {
        [
            "status": "ok",
            "protocol_version": JupyterMessage.protocolVersion,
            "implementation": "saliency-repl",
            "implementation_version": saliencyVersion,
            "language_info": [
                "name": "sal",
                "version": saliencyVersion,
                "mimetype": "text/x-sal",
                "file_extension": ".sal",
                // No editor or highlighter knows .sal; Python's modes share its `#` comments,
                // double-quoted strings and most keywords (for, in, if, else, return, and, or, not).
                "codemirror_mode": "python",
                "pygments_lexer": "python",
            ] as JSONObject,
            "banner": "saliency-repl \(saliencyVersion): saliency maps for CNN image classifiers. :help for commands.",
            "help_links": [Any](),
        ]
    }

    /// Runs one cell with the REPL's semantics (`_`, `Out[n]`, `:commands`). The caller
    /// clears the cancellation token when it hands the cell over, so an interrupt that
    /// arrives before the cell starts still stops it.
    public func execute(_ content: JSONObject) -> JSONObject {
        let code = content.string("code") ?? ""
        if content.bool("silent", default: false) { return executeSilently(code) }
        let before = session.nextNumber
        let outcome = session.run(code)
        flushStreams()
        switch outcome {
        case let .value(n, value):
            if let value { publish("execute_result", ["execution_count": n, "data": bundle(value), "metadata": JSONObject()]) }
            return ["status": "ok", "execution_count": n, "payload": [Any](),
                    "user_expressions": userExpressions(content["user_expressions"] as? [String: Any] ?? [:])]
        case .incomplete:
            return failure(count: before, KernelFailure(parseErrorOf: code, session: session))
        case let .error(text):
            let count = session.nextNumber > before ? session.nextNumber - 1 : before
            return failure(count: count, KernelFailure(session.lastError, text: text))
        case .quit:
            // `:quit` asks the front end to close the notebook's kernel, as IPython's exit does;
            // front ends that ignore the request (JupyterLab) leave the user a pointer.
            publish("stream", ["name": "stdout", "text": ":quit asks the front end to stop this kernel; the notebook's Kernel menu shuts it down too\n"])
            return ["status": "ok", "execution_count": before, "user_expressions": JSONObject(),
                    "payload": [["source": "ask_exit", "keepkernel": false] as JSONObject]]
        }
    }

    public func complete(_ content: JSONObject) -> JSONObject {
        let code = content.string("code") ?? ""
        let cursor = content.int("cursor_pos") ?? code.unicodeScalars.count
        let (start, end, matches) = session.completions(code: code, cursor: cursor)
        return ["status": "ok", "matches": matches, "cursor_start": start, "cursor_end": end, "metadata": JSONObject()]
    }

    public func inspect(_ content: JSONObject) -> JSONObject {
        let code = content.string("code") ?? ""
        let text = session.inspect(code: code, cursor: content.int("cursor_pos") ?? code.unicodeScalars.count)
        return ["status": "ok", "found": text != nil, "data": text.map { ["text/plain": $0] } ?? JSONObject(), "metadata": JSONObject()]
    }

    public func isComplete(_ content: JSONObject) -> JSONObject {
        switch session.completeness(content.string("code") ?? "") {
        case .complete: return ["status": "complete"]
        case let .incomplete(indent): return ["status": "incomplete", "indent": indent]
        case .invalid: return ["status": "invalid"]
        }
    }

    /// Past cells as (session, line, input) or (session, line, (input, output)); session 0
    /// is this one, the only one a kernel keeps.
    public func history(_ content: JSONObject) -> JSONObject {
        let withOutput = content.bool("output", default: false)
        var cells = session.cells
        switch content.string("hist_access_type") ?? "tail" {
        case "tail":
            cells = Array(cells.suffix(max(0, content.int("n") ?? 10)))
        case "range":
            let start = content.int("start") ?? 0, stop = content.int("stop") ?? Int.max
            cells = cells.filter { $0.number >= start && $0.number < stop }
        case "search":
            let pattern = content.string("pattern") ?? "*"
            cells = cells.filter { fnmatch(pattern, $0.code, 0) == 0 }
            if content.bool("unique", default: false) {
                var seen = Set<String>()
                cells = cells.reversed().filter { seen.insert($0.code).inserted }.reversed()
            }
            if let n = content.int("n") { cells = Array(cells.suffix(max(0, n))) }
        default:
            cells = []
        }
        let entries: [[Any]] = cells.map { c in
            [0, c.number, withOutput ? [c.code, c.value?.summary ?? NSNull()] as [Any] : c.code]
        }
        return ["status": "ok", "history": entries]
    }

    // MARK: - Output

    /// What a cell shows, as it happens: text as stdout, pictures and tables as display data.
    func show(_ item: OutputItem) {
        switch item {
        case let .text(s):
            publish("stream", ["name": "stdout", "text": s + "\n"])
        case let .table(t):
            publish("display_data", ["data": MimeBundle.table(t), "metadata": JSONObject()])
        case let .image(pic, caption):
            do {
                publish("display_data", ["data": try MimeBundle.image(pic, caption: caption), "metadata": JSONObject()])
                // The REPL prints the caption under the picture; so does the notebook.
                if !caption.isEmpty { publish("stream", ["name": "stdout", "text": caption + "\n"]) }
            } catch {
                publish("stream", ["name": "stderr", "text": "cannot draw \(caption): \(error)\n"])
            }
        }
    }

    /// Progress bars become one display each, updated in place.
    func progress(_ update: ProgressBar.Update) {
        let first = progressLock.withLock { progressShown.insert(update.id).inserted }
        publish(first ? "display_data" : "update_display_data",
                ["data": ["text/plain": update.line], "metadata": JSONObject(),
                 "transient": ["display_id": "\(displayPrefix)-progress-\(update.id)"]])
    }

    func bundle(_ v: Value) -> JSONObject {
        do { return try MimeBundle.value(v) } catch {
            return ["text/plain": v.summary + "\n(cannot draw: \(error))"]
        }
    }

    // MARK: - Helpers

    func failure(count: Int, _ f: KernelFailure) -> JSONObject {
        publish("error", f.content)
        return f.content.merging(["status": "error", "execution_count": count]) { $1 }
    }

    /// `silent` requests run without a cell number, outputs or history (front ends use them
    /// for their own bookkeeping).
    func executeSilently(_ code: String) -> JSONObject {
        let display = session.display
        session.display = { _ in }
        defer { session.display = display }
        do {
            try session.interpreter.run(code, file: "<silent>")
            return ["status": "ok", "execution_count": session.nextNumber - 1, "payload": [Any](), "user_expressions": JSONObject()]
        } catch {
            return KernelFailure(error as? ScriptError, text: "\(error)").content
                .merging(["status": "error", "execution_count": session.nextNumber - 1]) { $1 }
        }
    }

    /// `user_expressions`: each evaluated after the cell, its value as a mime bundle.
    func userExpressions(_ expressions: [String: Any]) -> JSONObject {
        guard !expressions.isEmpty else { return [:] }
        let display = session.display
        session.display = { _ in }
        defer { session.display = display }
        var out: JSONObject = [:]
        for (name, expression) in expressions {
            guard let code = expression as? String else { continue }
            do {
                let v = try session.interpreter.run(code, file: "<expression \(name)>")
                out[name] = ["status": "ok", "data": bundle(v), "metadata": JSONObject()] as JSONObject
            } catch {
                out[name] = KernelFailure(error as? ScriptError, text: "\(error)").content.merging(["status": "error"]) { $1 }
            }
        }
        return out
    }
}

/// A failed cell as Jupyter reports it: a kind (ename), the message (evalue) and the
/// located diagnostic with its source line and caret (traceback, one line per entry).
struct KernelFailure {
    var ename: String
    var evalue: String
    var traceback: [String]

    init(_ error: ScriptError?, text: String) {
        traceback = text.components(separatedBy: "\n")
        guard let d = error?.diagnostics.first else {
            // `:command` errors are plain text.
            ename = "CommandError"; evalue = text
            return
        }
        evalue = d.message
        if d.message == "cancelled" || d.message.hasSuffix(": cancelled") { ename = "Interrupted" }
        else { ename = d.kind == .parse ? "ParseError" : "RuntimeError" }
    }

    /// A cell that ended in the middle of a construct: the REPL's end-of-input report.
    init(parseErrorOf code: String, session: Session) {
        let text = session.parseError(code) ?? "In[\(session.nextNumber)]: error: unexpected end of input"
        self.init(nil, text: text)
        ename = "ParseError"
        evalue = traceback.first.map { line in
            line.range(of: "error: ").map { String(line[$0.upperBound...]) } ?? line
        } ?? text
    }

    var content: JSONObject { ["ename": ename, "evalue": evalue, "traceback": traceback] }
}
