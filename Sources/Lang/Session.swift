import Foundation
import Plugins
import Runtime

/// One notebook cell: its code, what it showed, and its value.
public struct Cell: Sendable {
    public var number: Int
    public var code: String
    public var outputs: [OutputItem]
    public var value: Value?
    /// The error that ended the cell (its rendered text), nil when it ran to the end.
    public var error: String? = nil
}

/// A REPL session independent of the terminal: numbered cells, `_` and `Out[n]`,
/// `:commands`, notebook export. The executable adds readline, signals and drawing.
public final class Session {
    public let interpreter: Interpreter
    public private(set) var cells: [Cell] = []
    public var nextNumber = 1
    /// Receives each item as it is produced (the terminal draws it at once).
    public var display: (OutputItem) -> Void
    /// Shows long reference text (`:help`, `:methods`, `:metrics`) a screen at a time; the
    /// terminal REPL sets a pager, other front ends print it as text.
    public var pager: ((String) -> Void)?
    var current: [OutputItem] = []
    var outValues: [Value] = [.none]
    /// The error that ended the last cell, with its diagnostics (the Jupyter kernel reports
    /// errors by kind and location, not only as text).
    public private(set) var lastError: ScriptError?

    public init(registry: Registry = .shared, cancellation: CancellationToken = CancellationToken(), display: @escaping (OutputItem) -> Void) {
        self.display = display
        interpreter = Interpreter(registry: registry, cancellation: cancellation)
        interpreter.output = { [unowned self] item in
            self.current.append(item)
            self.display(item)
        }
        defineSessionNames()
    }

    func defineSessionNames() {
        interpreter.globals.define("_", outValues.count > 1 ? outValues.last ?? .none : .none)
        interpreter.globals.define("Out", .list(outValues))
    }

    public enum Outcome {
        /// The cell ran; its value (if it was a bare expression) is printed as `Out[n]`.
        case value(Int, Value?)
        /// The cell needs more lines (open bracket or block, trailing operator).
        case incomplete
        case error(String)
        case quit
    }

    /// True when `code` parses only up to an unexpected end of input.
    public static func isIncomplete(_ code: String) -> Bool {
        do { _ = try Parser.parse(SourceText(file: "<cell>", text: code)); return false } catch let e as ScriptError { return e.isIncomplete } catch { return false }
    }

    /// The rendered parse errors of `code`, if it has any.
    public func parseError(_ code: String) -> String? {
        do { _ = try Parser.parse(SourceText(file: "In[\(nextNumber)]", text: code)); return nil } catch { return "\(error)" }
    }

    /// Runs one cell (code or a `:command`).
    public func run(_ code: String) -> Outcome {
        let trimmed = code.trimmingCharacters(in: .whitespacesAndNewlines)
        lastError = nil
        if trimmed.isEmpty { return .value(nextNumber, nil) }
        if trimmed.hasPrefix(":") { return command(trimmed) }
        if Session.isIncomplete(code) { return .incomplete }
        let n = nextNumber
        nextNumber += 1
        current = []
        defer { interpreter.cancellation.reset() }
        do {
            let v = try interpreter.run(code, file: "In[\(n)]")
            let shown: Value? = v.isNone ? nil : v
            cells.append(Cell(number: n, code: code, outputs: current, value: shown))
            while outValues.count < n { outValues.append(.none) }
            outValues.append(v)
            if shown != nil { interpreter.globals.define("_", v) }
            interpreter.globals.define("Out", .list(outValues))
            return .value(n, shown)
        } catch {
            lastError = error as? ScriptError
            let text = lastError?.description ?? "\(error)"
            cells.append(Cell(number: n, code: code, outputs: current, value: nil, error: text))
            return .error(text)
        }
    }

    public static let commands: [(String, String)] = [
        (":help", ":help [name]    builtins, or one builtin/method/metric/dataset"),
        (":methods", ":methods        registered explanation methods"),
        (":metrics", ":metrics        registered metrics"),
        (":vars", ":vars           session variables and their values"),
        (":time", ":time cell      run a cell (let r = explain(...) too) and report its wall time"),
        (":load", ":load file.sal  run a script in this session"),
        (":plugin", ":plugin file     load a plugin: a compiled library (.so, .dylib) or a .sal script"),
        (":save", ":save notebook.html | notebook.sal   export the session"),
        (":reset", ":reset          forget all variables and cells"),
        (":quit", ":quit           leave (Ctrl-D too)"),
    ]

    func say(_ s: String) { display(.text(s)) }
    func page(_ s: String) { if let pager { pager(s) } else { say(s) } }

    func command(_ line: String) -> Outcome {
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        let name = parts[0], arg = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        do {
            switch name {
            case ":help":
                if arg.isEmpty {
                    page("commands:\n" + Session.commands.map { "  " + $0.1 }.joined(separator: "\n") + "\n" + (try Builtins.helpText(nil, registry: interpreter.registry)))
                } else {
                    page(try Builtins.helpText(.string(arg), registry: interpreter.registry))
                }
            case ":methods":
                page(PluginCatalog.text(interpreter.registry, kinds: [.methods]))
            case ":metrics":
                page(PluginCatalog.text(interpreter.registry, kinds: [.metrics]))
            case ":vars":
                let vars = interpreter.globals.variables.filter { $0.0 != "_" && $0.0 != "Out" }
                say(vars.isEmpty ? "no variables" : vars.map { "\($0.0) = \($0.1.summary)" }.joined(separator: "\n"))
            case ":time":
                guard !arg.isEmpty else { return .error(":time needs a cell to run: an expression or a statement") }
                // The whole cell is timed, so `:time let r = explain(...)` keeps r.
                let t0 = DispatchTime.now().uptimeNanoseconds
                let outcome = run(arg)
                if case .value = outcome { say(String(format: "time: %.1f ms", Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)) }
                return outcome
            case ":load":
                guard !arg.isEmpty else { return .error(":load needs a file name") }
                let text: String
                do { text = try SourceFile.read(arg) } catch let e as ScriptError { return .error(e.description) }
                current = []
                defer { interpreter.cancellation.reset() }
                do { try interpreter.run(text, file: arg) } catch { return .error((error as? ScriptError)?.description ?? "\(error)") }
                cells.append(Cell(number: nextNumber, code: "# :load \(arg)\n" + text, outputs: current, value: nil))
                nextNumber += 1
            case ":plugin":
                guard !arg.isEmpty else { return .error(":plugin needs a file name (.so, .dylib or .sal)") }
                current = []
                defer { interpreter.cancellation.reset() }
                let loaded: PluginLoader.Loaded
                do { loaded = try PluginLoader.load(arg, into: interpreter) } catch let e as ScriptError { return .error(e.description) }
                // Recorded as a cell so a saved notebook script reloads the plugin.
                cells.append(Cell(number: nextNumber, code: "load_plugin(\"\(arg)\")", outputs: current, value: nil))
                nextNumber += 1
                say(loaded.summary)
            case ":save":
                guard !arg.isEmpty else { return .error(":save needs a file name ending in .html, .ipynb or .sal") }
                var saved = cells.count
                if arg.hasSuffix(".html") {
                    try writeFileAtomically(Array(try notebookHTML(title: arg).utf8), to: arg)
                } else if arg.hasSuffix(".ipynb") {
                    try writeFileAtomically(Array(try notebookJSON().utf8), to: arg)
                } else if arg.hasSuffix(".sal") {
                    try writeFileAtomically(Array(notebookScript().utf8), to: arg)
                    saved = cells.filter { $0.error == nil }.count
                } else {
                    return .error(":save writes .html (a notebook page), .ipynb (a Jupyter notebook) or .sal (the cells' code)")
                }
                let left = cells.count - saved
                say("saved \(saved) cells to \(arg)" + (left > 0 ? " (\(left) failed cell(s) left out, so the script reruns)" : ""))
            case ":reset":
                interpreter.globals.removeAll()
                cells = []; outValues = [.none]; nextNumber = 1
                defineSessionNames()
                say("session reset")
            case ":quit", ":q", ":exit":
                return .quit
            default:
                return .error("unknown command '\(name)'" + (closestName(to: name, in: Session.commands.map(\.0)).map { "; did you mean '\($0)'?" } ?? "") + " (:help lists commands)")
            }
        } catch {
            return .error("\(name): \(error)")
        }
        return .value(nextNumber, nil)
    }

    /// The code of the cells that ran as a script that reruns the session (a failed cell
    /// would stop the rerun, and it changed nothing the later cells saw but what ran before
    /// its error).
    public func notebookScript() -> String {
        cells.filter { $0.error == nil }.map { "# In[\($0.number)]\n" + $0.code.trimmingCharacters(in: .newlines) + "\n" }.joined(separator: "\n")
    }

    /// Every cell's code, outputs (text, tables, images as inline PNG) and value.
    public func notebookHTML(title: String) throws -> String {
        var body = "<h1>\(NotebookHTML.escape(title))</h1>\n"
        for c in cells {
            body += "<div class=\"cell\"><span class=\"prompt\">In [\(c.number)]:</span><pre>\(NotebookHTML.escape(c.code))</pre>\n"
            for o in c.outputs { body += try NotebookHTML.item(o) + "\n" }
            if let e = c.error { body += try NotebookHTML.item(.text(e)) + "\n" }
            if let v = c.value {
                body += "<span class=\"out\">Out[\(c.number)]:</span>\n" + (try NotebookHTML.value(v)) + "\n"
            }
            body += "</div>\n"
        }
        return NotebookHTML.page(title: title, body: body)
    }
}
