/// Recursive descent for statements, Pratt (precedence climbing) for expressions.
///
/// Error recovery: a statement that fails to parse records one diagnostic, then the parser
/// skips to the next line at the same block depth and goes on, so one run reports every
/// broken statement (Crafting Interpreters' panic mode with statement-boundary sync).
/// Newlines end statements, except inside (), [] and record braces, and after a binary
/// operator or `|>` (the expression obviously continues).
public struct Parser {
    var tokens: [Token]
    var pos = 0
    /// Depth of (), [] and record braces: newlines are insignificant while > 0.
    var nesting = 0
    /// Recursion depth of expressions and blocks.
    var depth = 0
    static let maxDepth = 200
    /// Levels of one expression's tree (see `Expr.height`).
    static let maxHeight = 1000
    let source: SourceText
    public private(set) var diagnostics: [Diagnostic] = []

    struct Failure: Error { var diagnostic: Diagnostic }

    public init(_ source: SourceText) {
        var lexer = Lexer(source)
        tokens = lexer.tokenize()
        diagnostics = lexer.diagnostics
        self.source = source
    }

    /// Parses a whole script or cell; throws `ScriptError` with every diagnostic found.
    public static func parse(_ source: SourceText) throws -> Program {
        var p = Parser(source)
        let stmts = p.parseStatements(untilBrace: false)
        if !p.diagnostics.isEmpty {
            // One error per line, the first found (lexical errors come first and usually
            // explain the parse errors after them), then in source order.
            var seen = Set<Int>()
            let kept = p.diagnostics.filter { seen.insert($0.loc.line).inserted }
            throw ScriptError(kept.sorted { ($0.loc.line, $0.loc.column) < ($1.loc.line, $1.loc.column) }, source: source)
        }
        return Program(statements: stmts, source: source)
    }

    // MARK: tokens

    mutating func skipNewlines() { while case .newline = tokens[pos].kind { pos += 1 } }

    /// The next significant token (skipping newlines inside brackets).
    mutating func peek() -> Token {
        if nesting > 0 { skipNewlines() }
        return tokens[pos]
    }

    @discardableResult mutating func next() -> Token {
        let t = peek()
        if t.kind != .eof { pos += 1 }
        return t
    }

    mutating func check(_ symbol: String) -> Bool {
        let t = peek()
        return t.kind == .symbol(symbol) || t.kind == .keyword(symbol)
    }

    mutating func match(_ symbol: String) -> Bool {
        if check(symbol) { next(); return true }
        return false
    }

    func describe(_ t: Token) -> String {
        switch t.kind {
        case .eof: return "end of input"
        case .newline: return "end of line"
        case .string: return "string \(t.text)"
        case .number: return "number \(t.text)"
        default: return "'\(t.text)'"
        }
    }

    func failure(_ message: String, at t: Token) -> Failure {
        Failure(diagnostic: Diagnostic(.parse, t.loc, message, incomplete: t.kind == .eof))
    }

    mutating func expect(_ symbol: String, _ what: String) throws -> Token {
        let t = peek()
        guard t.kind == .symbol(symbol) || t.kind == .keyword(symbol) else { throw failure("expected \(what), found \(describe(t))", at: t) }
        return next()
    }

    mutating func identifier(_ what: String) throws -> (String, SourceLocation) {
        let t = peek()
        guard case let .identifier(name) = t.kind else { throw failure("expected \(what), found \(describe(t))", at: t) }
        next()
        return (name, t.loc)
    }

    // MARK: statements

    mutating func parseStatements(untilBrace: Bool) -> [Stmt] {
        var out: [Stmt] = []
        while true {
            skipNewlines()
            let t = tokens[pos]
            if t.kind == .eof || (untilBrace && t.kind == .symbol("}")) { break }
            if !untilBrace && t.kind == .symbol("}") {
                diagnostics.append(Diagnostic(.parse, t.loc, "unexpected '}' with no open block"))
                pos += 1
                continue
            }
            do {
                out.append(try statement())
                try endOfStatement()
            } catch let f as Failure {
                diagnostics.append(f.diagnostic)
                synchronize(atTopLevel: !untilBrace)
            } catch {
                // Parsing functions throw only Failure; anything else is reported, not trapped on.
                diagnostics.append(Diagnostic(.parse, t.loc, "internal parser error: \(error)"))
                synchronize(atTopLevel: !untilBrace)
            }
        }
        return out
    }

    mutating func endOfStatement() throws {
        let t = tokens[pos]
        switch t.kind {
        case .newline: pos += 1
        case .eof, .symbol("}"): break
        default: throw failure("expected end of line after statement, found \(describe(t))", at: t)
        }
    }

    /// Skips to the start of the next line so parsing can resume. Inside a block a '}'
    /// also stops the skip (it closes the block); at top level it belongs to the broken
    /// statement (`fn f(x { ... }`) and is skipped with it.
    mutating func synchronize(atTopLevel: Bool) {
        nesting = 0
        while true {
            switch tokens[pos].kind {
            case .eof: return
            case .newline: pos += 1; return
            case .symbol("}") where !atTopLevel: return
            default: pos += 1
            }
        }
    }

    mutating func block() throws -> [Stmt] {
        let open = try expect("{", "'{' to open a block")
        depth += 1
        defer { depth -= 1 }
        guard depth <= Parser.maxDepth else { throw failure("blocks nested too deeply (more than \(Parser.maxDepth) levels)", at: open) }
        let saved = nesting
        nesting = 0
        defer { nesting = saved }
        let body = parseStatements(untilBrace: true)
        guard tokens[pos].kind == .symbol("}") else {
            throw Failure(diagnostic: Diagnostic(.parse, tokens[pos].loc, "expected '}' to close the block opened at \(open.loc.line):\(open.loc.column)", incomplete: true))
        }
        pos += 1
        return body
    }

    mutating func statement() throws -> Stmt {
        let t = peek()
        switch t.kind {
        case .keyword("let"):
            next()
            let (name, _) = try identifier("a name after 'let'")
            _ = try expect("=", "'=' after 'let \(name)'")
            skipNewlines()
            return Stmt(.letBinding(name, try expression()), t.loc)
        case .keyword("fn"):
            next()
            return Stmt(.function(try functionDecl(at: t.loc)), t.loc)
        case .keyword("for"):
            next()
            let (name, _) = try identifier("a loop variable after 'for'")
            _ = try expect("in", "'in' after 'for \(name)'")
            let seq = try expression()
            return Stmt(.forIn(name, seq, try block()), t.loc)
        case .keyword("if"):
            return try ifStatement()
        case .keyword("return"):
            next()
            let n = tokens[pos].kind
            if n == .newline || n == .eof || n == .symbol("}") { return Stmt(.returnValue(nil), t.loc) }
            return Stmt(.returnValue(try expression()), t.loc)
        default:
            let e = try expression()
            if check("=") {
                let eq = next()
                switch e.kind {
                case .name, .member, .index: break
                default: throw failure("cannot assign to this expression; assign to a name, a field or an element", at: eq)
                }
                skipNewlines()
                return Stmt(.assign(e, try expression()), eq.loc)
            }
            return Stmt(.expression(e), e.loc)
        }
    }

    mutating func ifStatement() throws -> Stmt {
        let t = next()
        // `else if` chains nest (each `else` holds the next `if`), so they count as blocks.
        depth += 1
        defer { depth -= 1 }
        guard depth <= Parser.maxDepth else { throw failure("'else if' chain or blocks nested too deeply (more than \(Parser.maxDepth) levels)", at: t) }
        let cond = try expression()
        let then = try block()
        var otherwise: [Stmt]? = nil
        if tokens[pos].kind == .keyword("else") {
            pos += 1
            otherwise = tokens[pos].kind == .keyword("if") ? [try ifStatement()] : try block()
        }
        return Stmt(.ifElse(cond, then, otherwise), t.loc)
    }

    mutating func functionDecl(at loc: SourceLocation) throws -> FunctionDecl {
        let (name, _) = try identifier("a function name after 'fn'")
        _ = try expect("(", "'(' after 'fn \(name)'")
        nesting += 1
        var params: [Parameter] = []
        var sawDefault = false
        while !check(")") {
            let (p, ploc) = try identifier("a parameter name")
            var def: Expr? = nil
            if match(":") { def = try expression(); sawDefault = true }
            else if sawDefault { throw Failure(diagnostic: Diagnostic(.parse, ploc, "parameter '\(p)' needs a default: it follows a parameter with one")) }
            if params.contains(where: { $0.name == p }) { throw Failure(diagnostic: Diagnostic(.parse, ploc, "duplicate parameter '\(p)'")) }
            params.append(Parameter(name: p, defaultValue: def, loc: ploc))
            if !match(",") { break }
        }
        _ = try expect(")", "')' after the parameters of '\(name)'")
        nesting -= 1
        return FunctionDecl(name: name, parameters: params, body: try block(), loc: loc)
    }
}
