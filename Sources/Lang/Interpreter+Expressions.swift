import Foundation
import Plugins
import Runtime

extension Interpreter {
    /// Each kind of expression is evaluated by a function of its own, so that this one (the
    /// frame every level of recursion goes through) stays small: in debug builds a function
    /// gets a stack slot for every temporary of every case, and one big switch took 8 KB per
    /// level of `1 + 1 + ... + 1`.
    func evaluate(_ e: Expr, _ env: Environment) throws -> Value {
        // Every path of deep recursion (long expressions inside recursive calls, plugins
        // loading scripts) goes through here: stop while the stack has room for the error.
        if StackGuard.isLow { throw stackExhausted(at: e.loc) }
        switch e.kind {
        case let .number(n): return .number(n)
        case let .string(s): return .string(s)
        case let .bool(b): return .bool(b)
        case let .name(n): return try lookup(n, at: e.loc, env)
        case let .list(items): return try listExpr(items, e.loc, env)
        case let .record(fields): return try recordExpr(fields, e.loc, env)
        case let .unary(op, x): return try unaryExpr(op, x, e.loc, env)
        case let .binary(op, a, b): return try binaryExpr(op, a, b, e.loc, env)
        case let .range(a, b): return try rangeExpr(a, b, e.loc, env)
        case let .call(callee, args): return try callExpr(callee, args, e.loc, env)
        case let .member(base, field): return try member(try evaluate(base, env), field, at: e.loc)
        case let .index(base, i): return try index(try evaluate(base, env), try evaluate(i, env), at: i.loc)
        }
    }

    func stackExhausted(at loc: SourceLocation) -> Diagnostic {
        Diagnostic(.runtime, loc, "evaluation nested too deeply: the stack is nearly used up (recursion through deep expressions?)")
    }

    func lookup(_ n: String, at loc: SourceLocation, _ env: Environment) throws -> Value {
        if let v = env.lookup(n) { return v }
        if let b = Builtins.table[n] { return .builtin(b) }
        throw Diagnostic(.runtime, loc, unknownNameMessage(n, env))
    }

    func listExpr(_ items: [Expr], _ loc: SourceLocation, _ env: Environment) throws -> Value {
        try checkNesting(.list(try items.map { try evaluate($0, env) }), at: loc)
    }

    func recordExpr(_ fields: [(String, Expr)], _ loc: SourceLocation, _ env: Environment) throws -> Value {
        var r = Record()
        for (k, v) in fields { r[k] = try evaluate(v, env) }
        return try checkNesting(.record(r), at: loc)
    }

    func unaryExpr(_ op: UnaryOp, _ x: Expr, _ loc: SourceLocation, _ env: Environment) throws -> Value {
        let v = try evaluate(x, env)
        switch (op, v) {
        case let (.neg, .number(n)): return .number(-n)
        case (.neg, _):
            guard let t = v.asTensor else { throw Diagnostic(.runtime, loc, "cannot negate \(v.typeName)") }
            return .tensor(-t)
        case let (.not, .bool(b)): return .bool(!b)
        case (.not, _): throw Diagnostic(.runtime, loc, "'not' needs a bool, got \(v.typeName)")
        }
    }

    func binaryExpr(_ op: BinaryOp, _ a: Expr, _ b: Expr, _ loc: SourceLocation, _ env: Environment) throws -> Value {
        switch op {
        case .and:
            guard try truthy(try evaluate(a, env), at: a.loc, what: "left side of 'and'") else { return .bool(false) }
            return .bool(try truthy(try evaluate(b, env), at: b.loc, what: "right side of 'and'"))
        case .or:
            if try truthy(try evaluate(a, env), at: a.loc, what: "left side of 'or'") { return .bool(true) }
            return .bool(try truthy(try evaluate(b, env), at: b.loc, what: "right side of 'or'"))
        default:
            let x = try evaluate(a, env)
            return try binary(op, x, try evaluate(b, env), at: loc)
        }
    }

    func rangeExpr(_ a: Expr, _ b: Expr, _ loc: SourceLocation, _ env: Environment) throws -> Value {
        let (lo, hi) = try rangeBounds(a, b, env)
        guard hi - lo <= 10_000_000 else { throw Diagnostic(.runtime, loc, "range \(lo)..<\(hi) is too long to make a list; iterate it with 'for' instead") }
        return .list(lo < hi ? (lo..<hi).map { .number(Double($0)) } : [])
    }

    func callExpr(_ callee: Expr, _ args: [Argument], _ loc: SourceLocation, _ env: Environment) throws -> Value {
        if case .name("time") = callee.kind, env.lookup("time") == nil { return try timeCall(args, loc, env) }
        let f = try evaluate(callee, env)
        var values: [(String?, Value, SourceLocation)] = []
        for a in args { values.append((a.label, try evaluate(a.value, env), a.loc)) }
        return try call(f, values, at: loc)
    }

    func unknownNameMessage(_ n: String, _ env: Environment) -> String {
        "unknown name '\(n)'" + (closestName(to: n, in: env.allNames + Builtins.names).map { "; did you mean '\($0)'?" } ?? "")
    }

    /// `time(expr)` evaluates its argument and reports the wall time (a special form: the
    /// argument must be timed, not evaluated before the call).
    func timeCall(_ args: [Argument], _ loc: SourceLocation, _ env: Environment) throws -> Value {
        guard args.count == 1, args[0].label == nil else {
            throw Diagnostic(.runtime, loc, "wrong arguments to time: expected one expression", notes: [Builtins.table["time"]?.signature ?? "time(expr)"])
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let v = try evaluate(args[0].value, env)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        output(.text(String(format: "time: %.1f ms", ms)))
        return v
    }

    // MARK: operators

    func binary(_ op: BinaryOp, _ a: Value, _ b: Value, at loc: SourceLocation) throws -> Value {
        switch (op, a, b) {
        case let (_, .number(x), .number(y)):
            switch op {
            case .add: return .number(x + y)
            case .sub: return .number(x - y)
            case .mul: return .number(x * y)
            case .div: return .number(x / y)
            case .mod: return .number(x.truncatingRemainder(dividingBy: y))
            case .eq: return .bool(x == y)
            case .ne: return .bool(x != y)
            case .lt: return .bool(x < y)
            case .le: return .bool(x <= y)
            case .gt: return .bool(x > y)
            case .ge: return .bool(x >= y)
            case .and, .or: break
            }
        case let (.add, .string(x), y): return .string(x + y.printed)
        case let (.add, x, .string(y)) where !(x.asTensor != nil && !isNumber(x)): return .string(x.printed + y)
        case let (.add, .list(x), .list(y)): return .list(x + y)
        case let (.lt, .string(x), .string(y)): return .bool(x < y)
        case let (.gt, .string(x), .string(y)): return .bool(x > y)
        case (.eq, _, _) where a.asTensor == nil || b.asTensor == nil || (isNumber(a) && isNumber(b)): return .bool(equal(a, b))
        case (.ne, _, _) where a.asTensor == nil || b.asTensor == nil: return .bool(!equal(a, b))
        default: break
        }
        guard let x = a.asTensor, let y = b.asTensor else {
            throw Diagnostic(.runtime, loc, "cannot apply '\(op.rawValue)' to \(a.typeName) and \(b.typeName)")
        }
        guard let shape = broadcastShape(x.shape, y.shape) else {
            throw Diagnostic(.runtime, loc, "shapes \(formatShape(x.shape)) and \(formatShape(y.shape)) do not broadcast for '\(op.rawValue)'")
        }
        _ = shape
        switch op {
        case .add: return .tensor(x + y)
        case .sub: return .tensor(x - y)
        case .mul: return .tensor(x * y)
        case .div: return .tensor(x / y)
        case .gt: return .tensor(x.greater(y))
        case .ge: return .tensor(x.greaterEqual(y))
        case .lt: return .tensor(y.greater(x))
        case .le: return .tensor(y.greaterEqual(x))
        case .eq: return .bool(x.shape == y.shape && x.scalars == y.scalars)
        case .ne: return .bool(!(x.shape == y.shape && x.scalars == y.scalars))
        case .mod, .and, .or: throw Diagnostic(.runtime, loc, "'\(op.rawValue)' is not defined for tensors")
        }
    }

    func isNumber(_ v: Value) -> Bool { if case .number = v { return true }; return false }

    func equal(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case let (.list(x), .list(y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case let (.record(x), .record(y)): return x.keys == y.keys && zip(x.pairs, y.pairs).allSatisfy { equal($0.1, $1.1) }
        default:
            if let x = a.asTensor, let y = b.asTensor { return x.shape == y.shape && x.scalars == y.scalars }
            return false
        }
    }

    // MARK: calls

    func call(_ f: Value, _ args: [(String?, Value, SourceLocation)], at loc: SourceLocation) throws -> Value {
        if cancellation.isCancelled { throw Diagnostic(.runtime, loc, "cancelled") }
        switch f {
        case let .builtin(b): return try callBuiltin(b, args, at: loc)
        case let .function(fn): return try callFunction(fn, args, at: loc)
        default: throw Diagnostic(.runtime, loc, "\(f.typeName) is not callable")
        }
    }

    func callFunction(_ fn: UserFunction, _ args: [(String?, Value, SourceLocation)], at loc: SourceLocation) throws -> Value {
        let d = fn.decl
        let note = ["fn " + d.signature]
        let scope = Environment(parent: fn.closure)
        var given: [String: Value] = [:]
        var positional = 0
        for (label, v, aloc) in args {
            if let l = label {
                guard d.parameters.contains(where: { $0.name == l }) else {
                    throw Diagnostic(.runtime, aloc, "\(d.name) has no parameter '\(l)'" + (closestName(to: l, in: d.parameters.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""), notes: note)
                }
                guard given[l] == nil else { throw Diagnostic(.runtime, aloc, "argument '\(l)' of \(d.name) given twice", notes: note) }
                given[l] = v
            } else {
                guard positional < d.parameters.count else {
                    throw Diagnostic(.runtime, aloc, "\(d.name) takes \(d.parameters.count) argument\(d.parameters.count == 1 ? "" : "s"), got \(args.count)", notes: note)
                }
                given[d.parameters[positional].name] = v
                positional += 1
            }
        }
        for p in d.parameters {
            if let v = given[p.name] { scope.define(p.name, v); continue }
            guard let def = p.defaultValue else { throw Diagnostic(.runtime, loc, "missing argument '\(p.name)' in call to \(d.name)", notes: note) }
            scope.define(p.name, try evaluate(def, fn.closure))
        }
        depth += 1
        defer { depth -= 1 }
        guard depth <= Interpreter.maxDepth else { throw Diagnostic(.runtime, loc, "too many nested calls (more than \(Interpreter.maxDepth)) in \(d.name): is the recursion missing a base case?") }
        for s in d.body {
            if case .returned(let v) = try execute(s, scope) { return v }
        }
        return .none
    }

    func callBuiltin(_ b: Builtin, _ args: [(String?, Value, SourceLocation)], at loc: SourceLocation) throws -> Value {
        let note = [b.signature]
        var values: [String: Value] = [:]
        var rest: [Value] = []
        var extra: [(String, Value)] = []
        var positional = 0
        for (label, v, aloc) in args {
            if let l = label {
                if b.params.contains(where: { $0.name == l }) {
                    guard values[l] == nil else { throw Diagnostic(.runtime, aloc, "wrong arguments to \(b.name): '\(l)' given twice", notes: note) }
                    values[l] = v
                } else if b.extraNamed {
                    extra.append((l, v))
                } else {
                    throw Diagnostic(.runtime, aloc, "wrong arguments to \(b.name): no parameter '\(l)'" + (closestName(to: l, in: b.params.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""), notes: note)
                }
            } else if positional < b.params.count {
                values[b.params[positional].name] = v
                positional += 1
            } else if b.variadic {
                rest.append(v)
            } else {
                throw Diagnostic(.runtime, aloc, "wrong arguments to \(b.name): too many arguments (\(args.count))", notes: note)
            }
        }
        for p in b.params where values[p.name] == nil {
            if let d = p.defaultValue { values[p.name] = d }
            else if p.optional { values[p.name] = Value.none }
            else { throw Diagnostic(.runtime, loc, "wrong arguments to \(b.name): missing '\(p.name)'", notes: note) }
        }
        do {
            return try b.impl(CallArguments(values: values, rest: rest, extra: extra, interpreter: self, loc: loc, name: b.name))
        } catch let d as Diagnostic {
            throw d
        } catch let e as ScriptError {
            throw e.diagnostics.first ?? Diagnostic(.runtime, loc, "\(b.name) failed")
        } catch LangError.arguments(let m) {
            throw Diagnostic(.runtime, loc, "wrong arguments to \(b.name): \(m)", notes: note)
        } catch PluginError.cancelled {
            throw Diagnostic(.runtime, loc, "\(b.name): cancelled")
        } catch {
            throw Diagnostic(.runtime, loc, "\(b.name): \(error)")
        }
    }
}

/// NumPy broadcasting, checked before calling the runtime (whose ops trap on mismatches).
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? { Tensor.broadcastShape(a, b) }
