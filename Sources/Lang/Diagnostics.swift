/// The text of a script or cell with its name, kept so a diagnostic can quote its line.
public struct SourceText: Sendable {
    public let file: String
    public let text: String
    public let lines: [String]
    public init(file: String, text: String) {
        self.file = file
        self.text = text
        self.lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0.replacingOccurrences(of: "\r", with: "")) }
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
            out += "\n" + line + "\n"
            // Keep tabs so the caret lines up under tab-indented code.
            let prefix = line.prefix(max(0, loc.column - 1)).map { $0 == "\t" ? "\t" : " " }.joined()
            out += prefix + "^"
        }
        for n in notes { out += "\nnote: " + n }
        return out
    }
}

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

    public var description: String { diagnostics.map { $0.rendered(in: source) }.joined(separator: "\n") }
}
