/// Binding powers, loosest first. `not` sits between `and` and comparisons so
/// `not a == b` reads as `not (a == b)`, as in Python.
enum Precedence: Int, Comparable {
    case lowest = 0, pipe, or, and, not, comparison, range, sum, product, prefix, postfix
    static func < (a: Precedence, b: Precedence) -> Bool { a.rawValue < b.rawValue }
}

extension Parser {
    func infixPrecedence(_ t: Token) -> Precedence? {
        switch t.kind {
        case .symbol("|>"): return .pipe
        case .keyword("or"): return .or
        case .keyword("and"): return .and
        case .symbol("=="), .symbol("!="), .symbol("<"), .symbol("<="), .symbol(">"), .symbol(">="): return .comparison
        case .symbol("..<"): return .range
        case .symbol("+"), .symbol("-"): return .sum
        case .symbol("*"), .symbol("/"), .symbol("%"): return .product
        case .symbol("("), .symbol("."), .symbol("["): return .postfix
        default: return nil
        }
    }

    mutating func expression(_ minimum: Precedence = .lowest) throws -> Expr {
        // Deeply nested input ("((((...") must be an error, not a stack overflow.
        depth += 1
        defer { depth -= 1 }
        guard depth <= Parser.maxDepth else { throw failure("expression nested too deeply (more than \(Parser.maxDepth) levels)", at: peek()) }
        var left = try prefix()
        while true {
            let t = peek()
            guard let prec = infixPrecedence(t), prec > minimum else { break }
            left = try infix(left, t, prec)
            // `1 + 1 + ... + 1` grows the tree by a level per operator without nesting the
            // parser: the height is checked here, not by `depth`.
            guard left.height <= Parser.maxHeight else {
                throw failure("expression too long or nested too deeply (a tree of more than \(Parser.maxHeight) levels); split it into several statements", at: t)
            }
        }
        return left
    }

    mutating func prefix() throws -> Expr {
        let t = next()
        switch t.kind {
        case let .number(v): return Expr(.number(v), t.loc)
        case let .string(s): return Expr(.string(s), t.loc)
        case .keyword("true"): return Expr(.bool(true), t.loc)
        case .keyword("false"): return Expr(.bool(false), t.loc)
        case let .identifier(n): return Expr(.name(n), t.loc)
        case .symbol("-"): return Expr(.unary(.neg, try expression(.prefix)), t.loc)
        case .keyword("not"): return Expr(.unary(.not, try expression(.not)), t.loc)
        case .symbol("("):
            nesting += 1
            let e = try expression()
            _ = try expect(")", "')' to close the '(' at \(t.loc.line):\(t.loc.column)")
            nesting -= 1
            return e
        case .symbol("["):
            nesting += 1
            var items: [Expr] = []
            while !check("]") {
                items.append(try expression())
                if !match(",") { break }
            }
            _ = try expect("]", "']' or ',' in the list opened at \(t.loc.line):\(t.loc.column)")
            nesting -= 1
            return Expr(.list(items), t.loc)
        case .symbol("{"):
            nesting += 1
            var fields: [(String, Expr)] = []
            while !check("}") {
                let k = next()
                let key: String
                switch k.kind {
                case let .identifier(s), let .string(s): key = s
                case let .keyword(s): key = s
                default: throw failure("expected a field name in the record, found \(describe(k))", at: k)
                }
                if fields.contains(where: { $0.0 == key }) { throw failure("duplicate field '\(key)' in record", at: k) }
                _ = try expect(":", "':' after field '\(key)'")
                fields.append((key, try expression()))
                if !match(",") { break }
            }
            _ = try expect("}", "'}' or ',' in the record opened at \(t.loc.line):\(t.loc.column)")
            nesting -= 1
            return Expr(.record(fields), t.loc)
        default:
            throw failure("expected an expression, found \(describe(t))", at: t)
        }
    }

    mutating func infix(_ left: Expr, _ t: Token, _ prec: Precedence) throws -> Expr {
        next()
        switch t.kind {
        case .symbol("("):
            return Expr(.call(left, try arguments(open: t)), left.loc)
        case .symbol("."):
            let n = next()
            switch n.kind {
            case let .identifier(s), let .keyword(s): return Expr(.member(left, s), n.loc)
            default: throw failure("expected a field name after '.', found \(describe(n))", at: n)
            }
        case .symbol("["):
            nesting += 1
            let i = try expression()
            _ = try expect("]", "']' after the index")
            nesting -= 1
            return Expr(.index(left, i), t.loc)
        default: break
        }
        // Binary operators: the right operand may start on the next line.
        skipNewlines()
        let right = try expression(prec)
        switch t.kind {
        case .symbol("|>"):
            // `x |> f(a)` is `f(x, a)`; `x |> f` is `f(x)`.
            let piped = Argument(label: nil, value: left, loc: left.loc)
            if case let .call(f, args) = right.kind { return Expr(.call(f, [piped] + args), right.loc) }
            return Expr(.call(right, [piped]), right.loc)
        case .symbol("..<"): return Expr(.range(left, right), t.loc)
        case .keyword("and"): return Expr(.binary(.and, left, right), t.loc)
        case .keyword("or"): return Expr(.binary(.or, left, right), t.loc)
        case let .symbol(s):
            guard let op = BinaryOp(rawValue: s) else { throw failure("unknown operator '\(s)'", at: t) }
            return Expr(.binary(op, left, right), t.loc)
        default: throw failure("unexpected \(describe(t))", at: t)
        }
    }

    mutating func arguments(open: Token) throws -> [Argument] {
        nesting += 1
        var args: [Argument] = []
        var named = Set<String>()
        while !check(")") {
            let start = peek()
            var label: String? = nil
            if case let .identifier(s) = start.kind, tokens.count > pos + 1, tokens[pos + 1].kind == .symbol(":") {
                if named.contains(s) { throw failure("argument '\(s)' given twice", at: start) }
                label = s; named.insert(s)
                next(); next()
            } else if !named.isEmpty {
                throw failure("positional argument after named arguments", at: start)
            }
            args.append(Argument(label: label, value: try expression(), loc: start.loc))
            if !match(",") { break }
        }
        _ = try expect(")", "')' or ',' in the call opened at \(open.loc.line):\(open.loc.column)")
        nesting -= 1
        return args
    }
}
