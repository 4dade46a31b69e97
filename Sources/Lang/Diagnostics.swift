/// The text of a script or cell with its name, kept so a diagnostic can quote its line.
public struct SourceText: Sendable {
    public let file: String
    public let text: String
    public let lines: [String]
    public init(file: String, text: String) {
        self.file = file
        self.text = text
        // Lines end where the lexer counts them (Lexer.isLineBreak, CR LF included). Most lines
        // have no other CR byte (13; a byte test, as "\r\n" is one Character): copying them is
        // cheaper than Foundation's search and replace.
        self.lines = text.split(omittingEmptySubsequences: false, whereSeparator: Lexer.isLineBreak).map {
            $0.utf8.contains(13) ? $0.replacingOccurrences(of: "\r", with: "") : String($0)
        }
    }
    public func line(_ n: Int) -> String? { n >= 1 && n <= lines.count ? lines[n - 1] : nil }
}

/// One problem found in a script: parse errors and static errors stop a script before it
/// runs; runtime errors stop the script (or cell) where they happen.
public struct Diagnostic: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case parse, runtime }
    public var kind: Kind
    public var loc: SourceLocation
    public var message: String
    /// Extra lines printed after the caret ("note: predict(model, x, top: 5)").
    public var notes: [String]
    /// The parser ran out of input in the middle of a construct: the REPL asks for more
    /// lines instead of reporting it (Lua's lua.c convention).
    public var incomplete: Bool

    public init(_ kind: Kind, _ loc: SourceLocation, _ message: String, notes: [String] = [], incomplete: Bool = false) {
        self.kind = kind; self.loc = loc; self.message = message; self.notes = notes; self.incomplete = incomplete
    }

    /// `file:line:col: error: message`, the source line, a caret under the column, notes.
    public func rendered(in source: SourceText?) -> String {
        var out = "\(loc): error: \(message)"
        if let src = source, src.file == loc.file, let line = src.line(loc.line) {
            let (shown, caret) = excerpt(of: line, column: loc.column)
            out += "\n" + shown + "\n"
            // Keep tabs so the caret lines up under tab-indented code.
            out += shown.prefix(caret).map { $0 == "\t" ? "\t" : " " }.joined() + "^"
        }
        for n in notes { out += "\nnote: " + n }
        return out
    }
}

/// The part of a source line an error echoes: the whole line when it is short, else a
/// window of `width` characters around `column` with "..." where it was cut (a 20 KB
/// one-line script must not be printed once per error). Returns the text and the caret's
/// 0-based offset in it.
public func excerpt(of line: String, column: Int, width: Int = 120) -> (text: String, caret: Int) {
    let chars = Array(line)
    let at = Swift.min(Swift.max(column - 1, 0), chars.count)
    guard chars.count > width else { return (line, at) }
    let start = Swift.max(0, Swift.min(at - width / 2, chars.count - width))
    let end = Swift.min(chars.count, start + width)
    let head = start > 0 ? "..." : "", tail = end < chars.count ? "..." : ""
    return (head + String(chars[start..<end]) + tail, at - start + head.count)
}

/// How many diagnostics an error report shows; the rest are counted, not printed.
public let maxDiagnosticsShown = 20

/// Every error a script run can end with: several parse diagnostics at once, or the one
/// runtime error that stopped it.
public struct ScriptError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public var source: SourceText?
    public init(_ diagnostics: [Diagnostic], source: SourceText?) { self.diagnostics = diagnostics; self.source = source }

    public var isParseError: Bool { diagnostics.contains { $0.kind == .parse } }
    /// The input ended inside a construct (and nothing else is wrong): ask for more.
    public var isIncomplete: Bool { !diagnostics.isEmpty && diagnostics.allSatisfy(\.incomplete) }
    /// sysexits: EX_DATAERR (65) for script errors, EX_SOFTWARE (70) for runtime errors.
    public var exitCode: Int32 { isParseError ? 65 : 70 }

    public var description: String {
        let shown = diagnostics.prefix(maxDiagnosticsShown).map { $0.rendered(in: source) }
        let more = diagnostics.count - shown.count
        return (shown + (more > 0 ? ["... and \(more) more error\(more == 1 ? "" : "s") (the first \(maxDiagnosticsShown) are shown)"] : [])).joined(separator: "\n")
    }
}
