import Runtime

/// The static pass between parsing and running: every name a script reads must be bound
/// somewhere (a `let`, `fn`, `for` variable or parameter in the script, an existing session
/// variable, or a builtin). Typos are caught before anything runs — a long explain call
/// should not execute only for the next line to fail on `explian`.
///
/// The check is deliberately flow-insensitive (a name bound anywhere counts as known):
/// functions may call functions defined further down, and the interpreter still reports a
/// use before definition at run time.
struct Resolver {
    var known: Set<String>
    var diagnostics: [Diagnostic] = []

    init(known: Set<String>) { self.known = known }

    func check(_ program: Program) throws {
        var r = self
        r.collect(program.statements)
        for s in program.statements { r.visit(s) }
        if !r.diagnostics.isEmpty { throw ScriptError(r.diagnostics, source: program.source) }
    }

    mutating func collect(_ stmts: [Stmt]) {
        for s in stmts {
            switch s.kind {
            case let .letBinding(n, _): known.insert(n)
            case let .function(d):
                known.insert(d.name)
                d.parameters.forEach { known.insert($0.name) }
                collect(d.body)
            case let .forIn(n, _, body): known.insert(n); collect(body)
            case let .ifElse(_, a, b): collect(a); collect(b ?? [])
            default: break
            }
        }
    }

    mutating func visit(_ s: Stmt) {
        switch s.kind {
        case let .letBinding(_, e), let .expression(e): visit(e)
        case let .assign(t, e): visit(t); visit(e)
        case let .forIn(_, e, body): visit(e); body.forEach { visit($0) }
        case let .ifElse(c, a, b): visit(c); a.forEach { visit($0) }; (b ?? []).forEach { visit($0) }
        case let .function(d):
            d.parameters.forEach { if let e = $0.defaultValue { visit(e) } }
            d.body.forEach { visit($0) }
        case let .returnValue(e): if let e { visit(e) }
        }
    }

    mutating func visit(_ e: Expr) {
        switch e.kind {
        case .number, .string, .bool: break
        case let .name(n):
            if !known.contains(n) {
                diagnostics.append(Diagnostic(.parse, e.loc, "unknown name '\(n)'" + (closestName(to: n, in: Array(known)).map { "; did you mean '\($0)'?" } ?? "")))
            }
        case let .list(items): items.forEach { visit($0) }
        case let .record(fields): fields.forEach { visit($0.1) }
        case let .unary(_, x): visit(x)
        case let .binary(_, a, b), let .range(a, b), let .index(a, b): visit(a); visit(b)
        case let .call(f, args): visit(f); args.forEach { visit($0.value) }
        case let .member(b, _): visit(b)
        }
    }
}
