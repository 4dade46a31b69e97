/// How deeply lists, records and tables nest inside a value. Printing, comparing, encoding
/// and freeing a value all recurse through it, so a value built in a loop (`x = [x]`
/// 100,000 times) would overflow the stack in any of them. Values are kept at most
/// `Value.maxNesting` deep: list and record literals, element and field assignment and
/// `table` check the value they make, so every value anywhere stays within the limit.
extension Value {
    /// Far beyond what data needs (a record of lists of records is 3), far below what the
    /// recursive walkers can take on a 512 KB thread stack.
    static let maxNesting = 500

    /// The nesting depth (a number is 0, `[1]` is 1, `[[1], 2]` is 2), or `limit + 1` as
    /// soon as it is known to exceed `limit`. Iterative: it must not itself recurse.
    func nesting(upTo limit: Int = Value.maxNesting) -> Int {
        var deepest = 0
        var pending: [(Value, Int)] = [(self, 0)]
        while let (v, d) = pending.popLast() {
            let children: [Value]
            switch v {
            case let .list(items): children = items
            case let .record(r): children = r.keys.compactMap { r[$0] }
            case let .table(t): children = t.rows.flatMap { $0 }
            default: continue
            }
            deepest = Swift.max(deepest, d + 1)
            if deepest > limit { return limit + 1 }
            for c in children where c.isContainer { pending.append((c, d + 1)) }
        }
        return deepest
    }

    var isContainer: Bool {
        switch self {
        case .list, .record, .table: return true
        default: return false
        }
    }
}

extension Interpreter {
    /// `v` unchanged when it nests at most `Value.maxNesting - extra` deep (`extra`: the
    /// levels it is about to be put under), else a runtime error at `loc`.
    @discardableResult
    func checkNesting(_ v: Value, under extra: Int = 0, at loc: SourceLocation) throws -> Value {
        guard v.isContainer || extra > 0 else { return v }
        if v.nesting(upTo: Value.maxNesting) + extra > Value.maxNesting {
            throw Diagnostic(.runtime, loc, "value nested too deeply: lists, records and tables nest at most \(Value.maxNesting) levels")
        }
        return v
    }
}

extension Expr {
    /// `a` of `a.b` and `a[i]`; nil for anything else.
    var memberOrIndexBase: Expr? {
        switch kind {
        case let .member(b, _), let .index(b, _): return b
        default: return nil
        }
    }
}
