import Foundation

/// What notebook front ends ask about code that has not run: completion over a whole
/// multi-line cell, help for the name under the cursor, and whether a cell is finished.
/// Cursor positions are counted in Unicode scalars (code points), as the Jupyter protocol
/// counts them, not in Swift characters.
extension Session {
    public enum Completeness: Equatable {
        case complete
        /// Needs more lines; `indent` is the suggested start of the next one.
        case incomplete(indent: String)
        /// A parse error that more input cannot fix.
        case invalid
    }

    /// The REPL's continuation rule: incomplete when parsing stops at an unexpected end of
    /// input; the indent follows the open braces.
    public func completeness(_ code: String) -> Completeness {
        let trimmed = code.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty || trimmed.hasPrefix(":") { return .complete }
        if Session.isIncomplete(code) {
            var lexer = Lexer(SourceText(file: "<cell>", text: code))
            var depth = 0
            for t in lexer.tokenize() {
                if case .symbol("{") = t.kind { depth += 1 }
                if case .symbol("}") = t.kind { depth = max(0, depth - 1) }
            }
            return .incomplete(indent: String(repeating: "  ", count: depth))
        }
        return parseError(code) == nil ? .complete : .invalid
    }

    /// Completion at a scalar offset into a multi-line cell: the REPL's completer on the
    /// cursor's line. Returns the replaced range [start, end) in scalars and the candidates.
    public func completions(code: String, cursor: Int) -> (start: Int, end: Int, matches: [String]) {
        let (line, lineStart, end) = Session.lineBefore(code, cursor: cursor)
        let (start, matches) = completions(line: line, cursor: line.count)
        let startScalars = lineStart + String(Array(line).prefix(start)).unicodeScalars.count
        return (startScalars, end, matches)
    }

    /// Help for what the cursor is on (a builtin, method, metric, dataset, user function or
    /// variable), falling back to the call whose arguments it is in; nil when nothing is known.
    public func inspect(code: String, cursor: Int) -> String? {
        let (line, _, _) = Session.lineBefore(code, cursor: cursor)
        let before = Array(line)
        // The rest of the word after the cursor, so `expl|ain` finds `explain`.
        let scalars = Array(code.unicodeScalars)
        var after = ""
        var k = min(max(cursor, 0), scalars.count)
        while k < scalars.count, Session.isNameScalar(scalars[k]) { after.unicodeScalars.append(scalars[k]); k += 1 }

        var quotes = 0
        for c in before where c == "\"" { quotes += 1 }
        if quotes % 2 == 1, let open = before.lastIndex(of: "\"") {
            // Inside a string: a plugin name in explain("...") or help("...").
            if let text = help(String(before[(open + 1)...]) + after) { return text }
            return enclosingCall(Array(before[..<open])).flatMap(help)
        }
        var start = before.count
        while start > 0, before[start - 1].isLetter || before[start - 1].isNumber || before[start - 1] == "_" { start -= 1 }
        let word = String(before[start...]) + after
        if !word.isEmpty, let text = help(word) { return text }
        return enclosingCall(before).flatMap(help)
    }

    /// The help text of one name: a variable first (it shadows nothing, builtins cannot be
    /// rebound), then builtins and plugins.
    func help(_ name: String) -> String? {
        guard !name.isEmpty else { return nil }
        if name != "_", name != "Out", let v = interpreter.globals.lookup(name) {
            if case .function = v, let text = try? Builtins.helpText(v, registry: interpreter.registry) { return text }
            return "\(name): \(v.typeName)\n\(v.summary)"
        }
        return try? Builtins.helpText(.string(name), registry: interpreter.registry)
    }

    /// The text of the cursor's line before the cursor, the scalar offset where that line
    /// starts, and the cursor clamped to the code.
    static func lineBefore(_ code: String, cursor: Int) -> (line: String, start: Int, cursor: Int) {
        let scalars = Array(code.unicodeScalars)
        let end = min(max(cursor, 0), scalars.count)
        var start = end
        while start > 0, scalars[start - 1] != "\n" { start -= 1 }
        var line = ""
        line.unicodeScalars.append(contentsOf: scalars[start..<end])
        return (line, start, end)
    }

    static func isNameScalar(_ s: Unicode.Scalar) -> Bool {
        s == "_" || s.properties.isAlphabetic || s.properties.numericType != nil
    }
}
