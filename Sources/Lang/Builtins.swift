import Foundation
import Plugins
import Runtime

/// The one table of builtins: `help`, `:help`, tab completion and argument checking all
/// read it. Families are defined in Builtins+*.swift.
public enum Builtins {
    public static let all: [Builtin] = core + tensors + models + training + ablating + explaining + fitting + comparing + outputs + pluginLoading + scriptPlugins
    public static let table: [String: Builtin] = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    public static let names: [String] = all.map(\.name)

    static let core: [Builtin] = [
        Builtin("print", [], variadic: true, doc: "Prints values separated by spaces (strings without quotes, tables aligned).") { a in
            a.interpreter.output(.text(a.rest.map(\.printed).joined(separator: " ")))
            return .none
        },
        Builtin("help", [BuiltinParam("name", optional: true)], doc: "Shows a builtin's signature and doc, or a plugin's parameters; help() lists builtins.") { a in
            a.interpreter.output(.text(try helpText(a["name"], registry: a.interpreter.registry)))
            return .none
        },
        Builtin("seed", [BuiltinParam("n")], doc: "Sets the seed explain and metric calls use when they get no seed: argument.") { a in
            let n = try a.int("n")
            guard n >= 0 else { throw LangError.arguments("seed must be >= 0, got \(n)") }
            a.interpreter.seed = UInt64(n)
            return .none
        },
        Builtin("time", [BuiltinParam("expr")], doc: "Evaluates expr, prints the wall time in ms, returns its value.") { a in a.values["expr"] ?? .none },
        Builtin("len", [BuiltinParam("value")], doc: "Number of items of a list, string, record, table or dataset.") { a in
            switch try a.value("value") {
            case let .list(l): return .number(Double(l.count))
            case let .string(s): return .number(Double(s.count))
            case let .record(r): return .number(Double(r.keys.count))
            case let .table(t): return .number(Double(t.rows.count))
            case let .dataset(d): return .number(Double(d.dataset.count))
            case let v: throw LangError.arguments("len takes a list, string, record, table or dataset, got \(v.typeName)")
            }
        },
        Builtin("str", [BuiltinParam("value")], doc: "The value as text (what print shows).") { a in .string(try a.value("value").printed) },
        Builtin("keys", [BuiltinParam("record")], doc: "Field names of a record, in order.") { a in
            guard case let .record(r) = try a.value("record") else { throw LangError.arguments("keys takes a record, got \(a.values["record"]?.typeName ?? "nothing")") }
            return .list(r.keys.map { .string($0) })
        },
        Builtin("table", [BuiltinParam("rows")], doc: "A table from a list of records (columns in first-seen order) or a record of equal-length lists.") { a in
            try a.interpreter.checkNesting(.table(try makeTable(try a.value("rows"))), at: a.loc)
        },
        Builtin("methods", [], doc: "Table of the registered explanation methods.") { a in
            .table(Table(columns: ["method", "summary"], rows: a.interpreter.registry.explainers.map { [.string($0.name), .string($0.summary)] }))
        },
        Builtin("metrics", [], doc: "Table of the registered metrics.") { a in
            .table(Table(columns: ["metric", "direction", "summary"], rows: a.interpreter.registry.metrics.map { [.string($0.name), .string($0.direction.rawValue), .string($0.summary)] }))
        },
        Builtin("datasets", [], doc: "Table of the registered datasets.") { a in
            .table(Table(columns: ["dataset", "summary"], rows: a.interpreter.registry.datasets.map { [.string($0.name), .string($0.summary)] }))
        },
    ]

    static func helpText(_ v: Value?, registry: Registry) throws -> String {
        guard let v else {
            return "builtins:\n" + all.map { "  \($0.signature)\n      \($0.doc)" }.joined(separator: "\n")
        }
        let name: String
        switch v {
        case let .builtin(b): return "\(b.signature)\n  \(b.doc)"
        case let .function(f): return "fn \(f.decl.signature)"
        case let .string(s): name = s
        default: throw LangError.arguments("help takes a builtin or a name in quotes, got \(v.typeName)")
        }
        if let b = table[name] { return "\(b.signature)\n  \(b.doc)" }
        if let e = try? registry.explainer(name) { return PluginCatalog.describe(e) }
        if let m = try? registry.metric(name) { return PluginCatalog.describe(m) }
        if let d = try? registry.dataset(name) { return PluginCatalog.describe(d) }
        let candidates = names + registry.explainers.map(\.name) + registry.metrics.map(\.name) + registry.datasets.map(\.name)
        throw LangError.message("no builtin, method, metric or dataset named '\(name)'" + (closestName(to: name, in: candidates).map { "; did you mean '\($0)'?" } ?? ""))
    }

    static func makeTable(_ v: Value) throws -> Table {
        switch v {
        case let .table(t): return t
        case let .comparison(c): return c.table
        case let .list(items) where !items.isEmpty && items.allSatisfy({ if case .comparison = $0 { return true }; return false }):
            let tables = items.map { if case let .comparison(c) = $0 { return c.table }; return Table(columns: [], rows: []) }
            return Table(columns: tables[0].columns, rows: tables.flatMap(\.rows))
        case let .list(items):
            var columns: [String] = []
            var records: [Record] = []
            for item in items {
                guard case let .record(r) = item else { throw LangError.arguments("table rows must be records, got \(item.typeName)") }
                for k in r.keys where !columns.contains(k) { columns.append(k) }
                records.append(r)
            }
            return Table(columns: columns, rows: records.map { r in columns.map { r[$0] ?? .none } })
        case let .record(r):
            var n: Int? = nil
            for (k, col) in r.pairs {
                guard case let .list(l) = col else { throw LangError.arguments("column '\(k)' must be a list, got \(col.typeName)") }
                if let m = n, m != l.count { throw LangError.arguments("column '\(k)' has \(l.count) values, others have \(m)") }
                n = l.count
            }
            let cols = r.pairs.map { p -> [Value] in if case let .list(l) = p.1 { return l }; return [] }
            return Table(columns: r.keys, rows: (0..<(n ?? 0)).map { i in cols.map { $0[i] } })
        default:
            throw LangError.arguments("table takes a list of records or a record of lists, got \(v.typeName)")
        }
    }
}

extension CallArguments {
    /// The bound value of parameter `n` (none included). The interpreter binds every
    /// required parameter before a builtin runs, so this throws only for a builtin that
    /// reads a name it does not declare.
    func value(_ n: String) throws -> Value {
        guard let v = values[n] else { throw LangError.message("\(name) reads an argument '\(n)' it does not declare") }
        return v
    }
    func number(_ n: String) throws -> Double {
        guard case let .number(x)? = values[n] else { throw LangError.arguments("'\(n)' must be a number, got \(values[n]?.typeName ?? "nothing")") }
        return x
    }
    func int(_ n: String) throws -> Int {
        let x = try number(n)
        guard x == x.rounded(), Swift.abs(x) < 1e15 else { throw LangError.arguments("'\(n)' must be a whole number, got \(formatNumber(x))") }
        return Int(x)
    }
    func string(_ n: String) throws -> String {
        guard case let .string(s)? = values[n] else { throw LangError.arguments("'\(n)' must be a string, got \(values[n]?.typeName ?? "nothing")") }
        return s
    }
    func bool(_ n: String) throws -> Bool {
        guard case let .bool(b)? = values[n] else { throw LangError.arguments("'\(n)' must be a bool, got \(values[n]?.typeName ?? "nothing")") }
        return b
    }
    func tensor(_ n: String) throws -> Tensor {
        guard let t = values[n]?.asTensor else { throw LangError.arguments("'\(n)' must be a tensor, got \(values[n]?.typeName ?? "nothing")") }
        return t
    }
    func model(_ n: String) throws -> ModelValue {
        guard case let .model(m)? = values[n] else { throw LangError.arguments("'\(n)' must be a model, got \(values[n]?.typeName ?? "nothing")") }
        return m
    }
    func shape(_ n: String) throws -> [Int] {
        guard case let .list(l)? = values[n] else { throw LangError.arguments("'\(n)' must be a list of whole numbers, got \(values[n]?.typeName ?? "nothing")") }
        return try l.map { v in
            guard case let .number(x) = v, x == x.rounded(), x >= 0, x < 1e9 else { throw LangError.arguments("'\(n)' must be a list of whole numbers >= 0, got \(v.summary)") }
            return Int(x)
        }
    }
    /// Paths relative to the script's directory.
    func path(_ n: String) throws -> String {
        let p = try string(n)
        let base = interpreter.baseDirectory
        return p.hasPrefix("/") || base.isEmpty ? p : (base as NSString).appendingPathComponent(p)
    }
}
