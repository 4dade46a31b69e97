public enum TokenKind: Sendable, Equatable {
    case number(Double)
    case string(String)
    case identifier(String)
    case keyword(String)
    /// Punctuation and operators, spelled as in the source ("(", "..<", "|>", "==").
    case symbol(String)
    case newline
    case eof
}

public struct Token: Sendable, Equatable {
    public var kind: TokenKind
    public var loc: SourceLocation
    /// The source text of the token, for error messages.
    public var text: String
}

let keywords: Set<String> = ["let", "fn", "for", "in", "if", "else", "return", "true", "false", "and", "or", "not"]

/// Splits source text into tokens. Newlines are tokens (they end statements); the parser
/// skips them where an expression obviously continues (inside brackets, after an operator).
/// Lexical errors are collected, not thrown, so one pass reports all of them.
public struct Lexer {
    let source: SourceText
    let chars: [Character]
    var i = 0, line = 1, column = 1
    public private(set) var diagnostics: [Diagnostic] = []

    public init(_ source: SourceText) { self.source = source; self.chars = Array(source.text) }

    static let symbols3 = ["..<"]
    static let symbols2 = ["==", "!=", "<=", ">=", "|>"]
    /// Tried before the one-character symbols, the three-character one first.
    static let longSymbols = symbols3 + symbols2
    static let symbols1: Set<Character> = ["(", ")", "[", "]", "{", "}", ",", ":", ".", "+", "-", "*", "/", "%", "<", ">", "="]

    var loc: SourceLocation { SourceLocation(file: source.file, line: line, column: column) }

    mutating func advance() -> Character {
        let c = chars[i]; i += 1
        if Lexer.isLineBreak(c) { line += 1; column = 1 } else { column += 1 }
        return c
    }

    /// "\n", or "\r\n": Swift reads a CR LF pair as one Character, so a script saved with
    /// Windows line ends would otherwise be one line with an unexpected character in it.
    static func isLineBreak(_ c: Character) -> Bool { c == "\n" || c == "\r\n" }

    func peek(_ k: Int = 0) -> Character? { i + k < chars.count ? chars[i + k] : nil }

    /// Whether the text at the current position spells `symbol`, compared in place (this runs
    /// at every operator; a string of the next three characters was an allocation each time).
    func startsHere(_ symbol: String) -> Bool {
        var k = i
        for c in symbol {
            guard k < chars.count, chars[k] == c else { return false }
            k += 1
        }
        return true
    }

    public mutating func tokenize() -> [Token] {
        var out: [Token] = []
        while let c = peek() {
            let start = loc
            if c == "#" { while let d = peek(), !Lexer.isLineBreak(d) { _ = advance() }; continue }
            if Lexer.isLineBreak(c) { _ = advance(); out.append(Token(kind: .newline, loc: start, text: "\\n")); continue }
            if c == " " || c == "\t" || c == "\r" { _ = advance(); continue }
            if c.isASCII && c.isNumber { out.append(number(start)); continue }
            if c.isLetter || c == "_" {
                var s = ""
                while let d = peek(), d.isLetter || d.isNumber || d == "_" { s.append(advance()) }
                out.append(Token(kind: keywords.contains(s) ? .keyword(s) : .identifier(s), loc: start, text: s))
                continue
            }
            if c == "\"" { if let t = string(start) { out.append(t) }; continue }
            if let s = Lexer.longSymbols.first(where: { startsHere($0) }) {
                for _ in s { _ = advance() }
                out.append(Token(kind: .symbol(s), loc: start, text: s))
                continue
            }
            if Lexer.symbols1.contains(c) {
                _ = advance()
                out.append(Token(kind: .symbol(String(c)), loc: start, text: String(c)))
                continue
            }
            _ = advance()
            diagnostics.append(Diagnostic(.parse, start, "unexpected character '\(c)'"))
        }
        // End of input is reported just after the last token, where the missing text goes.
        var end = loc
        if let t = out.last(where: { $0.kind != .newline }) { end = t.loc; end.column += t.text.count }
        out.append(Token(kind: .eof, loc: end, text: "end of input"))
        return out
    }

    mutating func number(_ start: SourceLocation) -> Token {
        var s = ""
        while let d = peek(), (d.isASCII && d.isNumber) || d == "_" { let c = advance(); if c != "_" { s.append(c) } }
        // "0..<n": the dot belongs to the range operator, not to the number.
        if peek() == ".", let d = peek(1), d.isASCII && d.isNumber {
            s.append(advance())
            while let d = peek(), d.isASCII && d.isNumber { s.append(advance()) }
        }
        if let e = peek(), e == "e" || e == "E", let d = peek(1), (d.isASCII && d.isNumber) || ((d == "-" || d == "+") && (peek(2).map { $0.isASCII && $0.isNumber } ?? false)) {
            s.append(advance()); s.append(advance())
            while let d = peek(), d.isASCII && d.isNumber { s.append(advance()) }
        }
        return Token(kind: .number(Double(s) ?? 0), loc: start, text: s)
    }

    mutating func string(_ start: SourceLocation) -> Token? {
        _ = advance()
        var s = ""
        while true {
            guard let c = peek(), !Lexer.isLineBreak(c) else {
                diagnostics.append(Diagnostic(.parse, start, "unterminated string", incomplete: peek() == nil))
                return nil
            }
            _ = advance()
            if c == "\"" { break }
            if c == "\\" {
                let escLoc = loc
                guard let e = peek() else { continue }
                _ = advance()
                switch e {
                case "n": s.append("\n")
                case "t": s.append("\t")
                case "r": s.append("\r")
                case "0": s.append("\0")
                case "\\": s.append("\\")
                case "\"": s.append("\"")
                default:
                    var l = escLoc; l.column -= 1
                    diagnostics.append(Diagnostic(.parse, l, "unknown escape '\\\(e)' in string (use \\n, \\t, \\r, \\0, \\\\ or \\\")"))
                }
                continue
            }
            s.append(c)
        }
        return Token(kind: .string(s), loc: start, text: "\"\(s)\"")
    }
}
