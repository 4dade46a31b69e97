import Foundation
import Plugins
import Runtime

/// What a script or cell shows: text, pictures (RGB [3, H, W] in [0, 1]) and tables. The
/// front end decides how to draw them (terminal, notebook HTML).
public enum OutputItem: Sendable {
    case text(String)
    case image(Tensor, caption: String)
    case table(Table)
}

/// A tree-walking interpreter over the AST. One instance is one session: globals persist
/// across `run` calls (REPL cells), so does the seed.
public final class Interpreter {
    public let globals = Environment()
    public let registry: Registry
    /// Cancelled by Ctrl-C in the REPL; loops, calls and plugins poll it.
    public let cancellation: CancellationToken
    /// Seed for explain/metric calls that do not pass `seed:` (set with `seed(n)`).
    public var seed: UInt64 = 0
    /// No progress bars (pipelines' --quiet; they are also off when stderr is not a terminal).
    public var quiet = false
    /// Values given on the command line (`exec script.sal --set name=value`), read by `params`.
    public var scriptParameters: [String: String] = [:]
    /// `train` and `accuracy` check their arguments and data but do not compute (exec --dry-run).
    public var dryRun = false
    /// The pipeline being run, for reports (nil in scripts and the REPL).
    public var pipeline: Pipeline?
    /// Finished comparison blocks of a pipeline run (`run --resume`); nil in scripts and the
    /// REPL, where `compare` and `score` always compute.
    public var resumeCache: ResumeCache?
    /// A sharded pipeline run's part in it (`run --shard`, `run --fit-only`, `merge`).
    public var sharding: ShardMode = .none
    public var output: (OutputItem) -> Void
    /// Where fitted states are cached (see FitCache; `SALIENCY_CACHE_DIR` moves it).
    public var fitCache = FitCache(directory: FitCache.defaultDirectory)
    /// Directory relative paths in scripts resolve against ("" = current directory).
    public var baseDirectory: String = ""
    var depth = 0
    static let maxDepth = 200
    /// The `.sal` plugins being loaded right now, outermost first (canonical paths): breaks
    /// cycles of plugins that load each other.
    var pluginsLoading: [String] = []
    /// Every text run in this session by file name, so an error inside a function defined in
    /// another file or cell (a script method called by explain) still shows its line and caret.
    var sources: [String: SourceText] = [:]

    public init(registry: Registry = .shared, cancellation: CancellationToken = CancellationToken(),
                output: @escaping (OutputItem) -> Void = { if case let .text(s) = $0 { print(s) } }) {
        self.registry = registry; self.cancellation = cancellation; self.output = output
    }

    /// Defines a global (the front ends' `args`, tests' fixtures).
    public func define(_ name: String, _ value: Value) { globals.define(name, value) }

    public var builtinNames: [String] { Builtins.names }
    public var variableNames: [String] { globals.allNames }

    /// Parses, checks names, and runs `text`. Returns the value of the last statement when
    /// it is a bare expression (what the REPL prints), else `.none`.
    @discardableResult
    public func run(_ text: String, file: String = "<input>", predefined: [String] = []) throws -> Value {
        let source = SourceText(file: file, text: text)
        sources[file] = source
        ScriptSources.remember(source)
        let program = try Parser.parse(source)
        try Resolver(known: Set(globals.allNames + Builtins.names + predefined)).check(program)
        do {
            // Top-level functions are hoisted so a script can call helpers defined below.
            for s in program.statements { if case let .function(d) = s.kind { globals.define(d.name, .function(UserFunction(decl: d, closure: globals))) } }
            var last: Value = .none
            for s in program.statements {
                last = .none
                if case let .expression(e) = s.kind { last = try evaluate(e, globals) }
                else if case .returned = try execute(s, globals) {
                    throw Diagnostic(.runtime, s.loc, "'return' outside a function")
                }
            }
            return last
        } catch let d as Diagnostic {
            throw ScriptError([d], source: d.loc.file == file ? source : sourceText(for: d.loc.file) ?? source)
        }
    }

    // MARK: statements

    enum Flow { case normal, returned(Value) }

    func execute(_ s: Stmt, _ env: Environment) throws -> Flow {
        switch s.kind {
        case let .letBinding(name, e):
            env.define(name, try evaluate(e, env))
        case let .assign(target, e):
            try assign(target, try evaluate(e, env), env)
        case let .expression(e):
            _ = try evaluate(e, env)
        case let .function(decl):
            env.define(decl.name, .function(UserFunction(decl: decl, closure: env)))
        case let .returnValue(e):
            return .returned(try e.map { try evaluate($0, env) } ?? .none)
        case let .ifElse(cond, then, otherwise):
            if try truthy(try evaluate(cond, env), at: cond.loc, what: "'if' condition") {
                return try executeBlock(then, env)
            } else if let o = otherwise {
                return try executeBlock(o, env)
            }
        case let .forIn(name, seq, body):
            return try executeFor(name, seq, body, env)
        }
        return .normal
    }

    func executeBlock(_ body: [Stmt], _ env: Environment) throws -> Flow {
        let scope = Environment(parent: env)
        for s in body {
            if case .returned(let v) = try execute(s, scope) { return .returned(v) }
        }
        return .normal
    }

    func executeFor(_ name: String, _ seq: Expr, _ body: [Stmt], _ env: Environment) throws -> Flow {
        func iteration(_ v: Value) throws -> Flow {
            if cancellation.isCancelled { throw Diagnostic(.runtime, seq.loc, "cancelled") }
            let scope = Environment(parent: env)
            scope.define(name, v)
            for s in body { if case .returned(let r) = try execute(s, scope) { return .returned(r) } }
            return .normal
        }
        // Ranges iterate lazily: `for i in 0..<100000000` must not build a list first.
        if case let .range(a, b) = seq.kind {
            let (lo, hi) = try rangeBounds(a, b, env)
            var i = lo
            while i < hi {
                if case .returned(let r) = try iteration(.number(Double(i))) { return .returned(r) }
                i += 1
            }
            return .normal
        }
        let items: [Value]
        switch try evaluate(seq, env) {
        case let .list(l): items = l
        case let .table(t): items = t.records.map { .record($0) }
        case let .record(r): items = r.keys.map { .string($0) }
        case let .dataset(d):
            for i in 0..<d.dataset.count {
                if case .returned(let r) = try iteration(try datasetImage(d, i, at: seq.loc)) { return .returned(r) }
            }
            return .normal
        case let .string(s): items = s.map { .string(String($0)) }
        case let other: throw Diagnostic(.runtime, seq.loc, "cannot iterate over \(other.typeName); 'for' takes a list, a range, a table, a record or a dataset")
        }
        for v in items { if case .returned(let r) = try iteration(v) { return .returned(r) } }
        return .normal
    }

    func rangeBounds(_ a: Expr, _ b: Expr, _ env: Environment) throws -> (Int, Int) {
        (try integer(try evaluate(a, env), at: a.loc, what: "range start"), try integer(try evaluate(b, env), at: b.loc, what: "range end"))
    }

    func assign(_ target: Expr, _ value: Value, _ env: Environment) throws {
        // The value goes under as many levels as the target has fields and indices (a plain
        // name adds none: every value already is within the limit).
        var levels = 0, t = target
        while let base = t.memberOrIndexBase { levels += 1; t = base }
        if levels > 0 { try checkNesting(value, under: levels, at: target.loc) }
        try assignChecked(target, value, env)
    }

    private func assignChecked(_ target: Expr, _ value: Value, _ env: Environment) throws {
        switch target.kind {
        case let .name(n):
            guard env.assign(n, value) else {
                throw Diagnostic(.runtime, target.loc, "cannot assign to '\(n)': it is not defined; use 'let \(n) = ...' to define it")
            }
        case let .member(base, field):
            guard case var .record(r) = try evaluate(base, env) else {
                throw Diagnostic(.runtime, target.loc, "can only set fields of records")
            }
            r[field] = value
            try assignChecked(base, .record(r), env)
        case let .index(base, ie):
            let idx = try evaluate(ie, env)
            switch (try evaluate(base, env), idx) {
            case (.list(var l), _):
                let i = try listIndex(idx, count: l.count, at: ie.loc)
                l[i] = value
                try assignChecked(base, .list(l), env)
            case (.record(var r), .string(let k)):
                r[k] = value
                try assignChecked(base, .record(r), env)
            case let (b, _):
                throw Diagnostic(.runtime, target.loc, "cannot assign an element of \(b.typeName) indexed by \(idx.typeName)")
            }
        default:
            throw Diagnostic(.runtime, target.loc, "cannot assign to this expression")
        }
    }

    // MARK: helpers

    func truthy(_ v: Value, at loc: SourceLocation, what: String) throws -> Bool {
        guard case let .bool(b) = v else { throw Diagnostic(.runtime, loc, "\(what) must be a bool, got \(v.typeName)") }
        return b
    }

    func integer(_ v: Value, at loc: SourceLocation, what: String) throws -> Int {
        guard case let .number(n) = v, n == n.rounded(), Swift.abs(n) < 1e15 else {
            throw Diagnostic(.runtime, loc, "\(what) must be a whole number, got \(v.summary)")
        }
        return Int(n)
    }

    func listIndex(_ v: Value, count: Int, at loc: SourceLocation) throws -> Int {
        var i = try integer(v, at: loc, what: "index")
        if i < 0 { i += count }
        guard i >= 0 && i < count else { throw Diagnostic(.runtime, loc, "index \(formatNumber(Double(i < 0 ? i - count : i))) is out of range (0..<\(count))") }
        return i
    }

    func datasetImage(_ d: DatasetValue, _ i: Int, at loc: SourceLocation) throws -> Value {
        do {
            let ex = try d.dataset.example(i)
            let names = d.dataset.classNames
            return .image(ImageValue(tensor: ex.image.reshaped([1] + ex.image.shape), source: d.dataset.itemName(i) ?? "\(d.dataset.name)/\(d.split)[\(i)]",
                                     label: ex.label >= 0 ? ex.label : nil, labelName: ex.label >= 0 && ex.label < names.count ? names[ex.label] : nil,
                                     mask: ex.mask.map { $0.reshaped([1] + $0.shape) }, box: ex.box))
        } catch {
            throw Diagnostic(.runtime, loc, "dataset \(d.dataset.name): \(error)")
        }
    }
}
