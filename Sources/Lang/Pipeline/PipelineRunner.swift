import Foundation
import Plugins
import Runtime

/// Runs a validated pipeline through the language: each step is lowered to the same call a
/// script would make (`dataset(...)`, `model(...)`, `compare(...)`, `score(...)`,
/// `save(...)`), with source locations pointing into the YAML file, so runtime errors show
/// the pipeline's own line and caret.
public struct PipelineRunner {
    public let pipeline: Pipeline
    public var outputDirectory: String
    public var quiet: Bool
    /// Reuse the finished blocks of an earlier run from `OUT/.resume` (`--resume`). Blocks are
    /// stored either way, so any run can be resumed.
    public var resume: Bool
    /// This run's part in a sharded run (`--shard`, `--fit-only`, `merge`); see `ShardMode`.
    public var sharding: ShardMode = .none

    public init(pipeline: Pipeline, outputDirectory: String, quiet: Bool = false, resume: Bool = false) {
        self.pipeline = pipeline; self.outputDirectory = outputDirectory; self.quiet = quiet; self.resume = resume
    }

    /// Where finished blocks are kept: `OUT/.resume`.
    public var resumeDirectory: String { ResumeCache.directory(forOutput: outputDirectory) }

    var pipelineDirectory: String { (pipeline.file as NSString).deletingLastPathComponent }

    func loc(_ p: YAMLPosition) -> SourceLocation { SourceLocation(file: p.file, line: p.line, column: p.column) }

    /// A literal YAML value as an expression: numbers, booleans, strings, lists, records.
    func literal(_ v: YAMLValue) -> Expr {
        switch v {
        case let .scalar(s, p, quoted):
            if !quoted, let d = Double(s) { return Expr(.number(d), loc(p)) }
            if !quoted, s == "true" || s == "false" { return Expr(.bool(s == "true"), loc(p)) }
            return Expr(.string(s), loc(p))
        case let .list(items, p): return Expr(.list(items.map(literal)), loc(p))
        case let .map(pairs, p): return Expr(.record(pairs.map { ($0.key, literal($0.value)) }), loc(p))
        }
    }

    func reference(_ v: YAMLValue) -> Expr {
        switch v {
        case let .scalar(s, p, _): return Expr(.name(s), loc(p))
        case let .list(items, p): return Expr(.list(items.map(reference)), loc(p))
        default: return literal(v)
        }
    }

    func path(_ v: YAMLValue, under base: String) -> Expr {
        guard case let .scalar(s, p, _) = v else { return literal(v) }
        let full = s.hasPrefix("/") || base.isEmpty ? s : (base as NSString).appendingPathComponent(s)
        return Expr(.string(full), loc(p))
    }

    func call(_ name: String, _ positional: [Expr], _ named: [(String, Expr)], at p: YAMLPosition) -> Expr {
        let l = loc(p)
        let args = positional.map { Argument(label: nil, value: $0, loc: $0.loc) } + named.map { Argument(label: $0.0, value: $0.1, loc: $0.1.loc) }
        return Expr(.call(Expr(.name(name), l), args), l)
    }

    /// An argument PipelineSchema requires (or one of an exactlyOne group): the validator has
    /// reported its absence before anything runs.
    func required(_ step: PipelineStep, _ name: String, or other: String? = nil) -> YAMLValue {
        // unreachable from input: validation guarantees the argument (see above)
        (step.arg(name) ?? other.flatMap(step.arg))!
    }

    /// The statement one step lowers to.
    public func lower(_ step: PipelineStep) -> Stmt {
        let p = step.position
        let expr: Expr
        switch step.kind {
        case .load:
            if let d = step.arg("dataset") {
                var named: [(String, Expr)] = []
                for key in ["split", "limit", "size", "gray"] { if let v = step.arg(key) { named.append((key, literal(v))) } }
                if case let .map(pairs, _)? = step.arg("options") { named += pairs.map { ($0.key, literal($0.value)) } }
                expr = call("dataset", [literal(d)], named, at: p)
            } else {
                var named: [(String, Expr)] = []
                for key in ["size", "gray"] { if let v = step.arg(key) { named.append((key, literal(v))) } }
                expr = call("load", [path(required(step, "path"), under: pipelineDirectory)], named, at: p)
            }
        case .model:
            expr = call("model", [path(required(step, "path"), under: pipelineDirectory)], [], at: p)
        case .explain:
            var named: [(String, Expr)] = [("name", Expr(.string(step.binding ?? "explain\(step.index)"), loc(p)))]
            for key in ["target", "score", "batch"] { if let v = step.arg(key) { named.append((key, literal(v))) } }
            named.append(("seed", Expr(.number(Double(pipeline.seed)), loc(p))))
            if let f = step.arg("fit") { named.append(("fit", reference(f))) }
            expr = call("compare", [reference(required(step, "models", or: "model")), reference(required(step, "data")), literal(required(step, "methods"))],
                        named, at: p)
        case .metric:
            expr = call("score", [reference(required(step, "maps")), literal(required(step, "metrics"))], [], at: p)
        case .save:
            expr = call("save", [reference(required(step, "value")), path(required(step, "path"), under: outputDirectory)],
                        step.arg("rows").map { [("rows", literal($0))] } ?? [], at: p)
        }
        if let name = step.binding { return Stmt(.letBinding(name, expr), loc(p)) }
        return Stmt(.expression(expr), loc(p))
    }

    /// What `--dry-run` prints: the steps and how much work they are.
    public func plan() -> String {
        var lines = ["pipeline \(pipeline.name) (\(pipeline.file)), seed \(pipeline.seed), \(pipeline.steps.count) steps:"]
        if !pipeline.plugins.isEmpty { lines.append("  plugins (loaded): " + pipeline.plugins.joined(separator: ", ")) }
        var images: [String: String] = [:], maps: [String: (count: String, methods: Int, models: Int)] = [:]
        var totalMaps = 0, totalEvals = 0, exact = true
        for s in pipeline.steps {
            var line = "  [\(s.index + 1)] \(s.kind.rawValue)"
            switch s.kind {
            case .load:
                let limit: String
                if case let .scalar(l, _, _)? = s.arg("limit") { limit = l } else { limit = "all" }
                if case let .scalar(d, _, _)? = s.arg("dataset") { line += " dataset \(d) (\(limit) examples)" } else { line += " file" }
                if let b = s.binding { images[b] = s.arg("dataset") == nil ? "1" : limit }
            case .model:
                if case let .scalar(m, _, _)? = s.arg("path") { line += " \(m)" }
            case .explain:
                let methods: Int, models: Int
                if case let .list(l, _)? = s.arg("methods") { methods = l.count } else { methods = 1 }
                if case let .list(l, _)? = s.arg("models") ?? s.arg("model") { models = l.count } else { models = 1 }
                var n = "?"
                if case let .scalar(d, _, _)? = s.arg("data") { n = images[d] ?? "?" }
                line += ": \(methods) method(s) x \(models) model(s) x \(n) image(s)"
                if let k = Int(n) { totalMaps += methods * models * k } else { exact = false }
                if let b = s.binding { maps[b] = (n, methods, models) }
            case .metric:
                let metrics: Int
                if case let .list(l, _)? = s.arg("metrics") { metrics = l.count } else { metrics = 1 }
                if case let .scalar(m, _, _)? = s.arg("maps"), let info = maps[m] {
                    line += ": \(metrics) metric(s) on \(info.methods * info.models) method/model pair(s) x \(info.count) image(s)"
                    if let k = Int(info.count) { totalEvals += metrics * info.methods * info.models * k } else { exact = false }
                }
            case .save:
                if case let .scalar(p, _, _)? = s.arg("path") { line += " -> \((outputDirectory as NSString).appendingPathComponent(p))" }
            }
            if let b = s.binding { line += "  as \(b)" }
            lines.append(line)
        }
        lines.append("\(exact ? "" : "at least ")\(totalMaps) saliency maps, \(totalEvals) metric evaluations (per image)")
        return lines.joined(separator: "\n")
    }

    /// What `--dry-run --resume` adds to the plan: how many of this configuration's blocks are
    /// already complete. Loads the data and models (cheap) to compute the keys, but computes
    /// and writes nothing; a block whose maps are missing counts its scores as missing too.
    public func probeResume(interpreter: Interpreter) -> String {
        let cache = ResumeCache(directory: resumeDirectory, reuse: true, probe: true, warn: { _ in })
        interpreter.seed = pipeline.seed
        interpreter.quiet = true
        interpreter.pipeline = pipeline
        interpreter.resumeCache = cache
        for step in pipeline.steps where step.kind != .save {
            do {
                _ = try interpreter.execute(lower(step), interpreter.globals)
            } catch {
                return "resume: cannot check the blocks in \(resumeDirectory): step \(step.index + 1) fails (\(error))"
            }
        }
        return "resume: \(cache.reused) of \(cache.reused + cache.missing) block(s) complete in \(resumeDirectory), \(cache.missing) to compute"
    }

    /// Runs every step in order. Returns the scored comparisons (for the final summary).
    /// Explain and metric steps go through a `ResumeCache` in `OUT/.resume` (left on
    /// `interpreter.resumeCache` for the caller's final counts); `warn` gets its warnings.
    @discardableResult
    public func run(interpreter: Interpreter, log: (String) -> Void = { print($0) },
                    warn: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws -> [ComparisonValue] {
        if let t = pipeline.threads { Threads.set(t) }
        interpreter.seed = pipeline.seed
        interpreter.quiet = quiet
        interpreter.pipeline = pipeline
        // Nothing may be written outside the output directory; checked before any compute and
        // again before each save (a symlink may appear while the run computes).
        try checkSavePaths()
        let cache = ResumeCache(directory: resumeDirectory, reuse: resume, warn: warn)
        interpreter.resumeCache = cache
        interpreter.sharding = sharding
        try FileManager.default.createDirectory(atPath: outputDirectory.isEmpty ? "." : outputDirectory, withIntermediateDirectories: true)
        let source = SourceText(file: pipeline.file, text: pipeline.source)
        var scored: [String: ComparisonValue] = [:], order: [String] = []
        var layersChecked = false
        for step in stepsToRun {
            if step.kind == .explain && !layersChecked {
                layersChecked = true
                let problems = layerDiagnostics(interpreter: interpreter)
                if !problems.isEmpty { throw ScriptError(problems, source: source) }
            }
            let t0 = Date()
            let (reused0, computed0) = (cache.reused, cache.computed)
            let stmt = lower(step)
            if step.kind == .save { try checkSavePaths() }
            do {
                _ = try interpreter.execute(stmt, interpreter.globals)
            } catch let d as Diagnostic {
                throw ScriptError([d], source: d.loc.file == source.file ? source : interpreter.sourceText(for: d.loc.file) ?? source)
            }
            var note = ""
            if let b = step.binding, case let .comparison(c)? = interpreter.globals.lookup(b) {
                note = ": " + c.summary
                if c.scores != nil { if scored[b] == nil { order.append(b) }; scored[b] = c }
            }
            if resume && (step.kind == .explain || step.kind == .metric) {
                note += (note.isEmpty ? ": " : "; ") + "\(cache.reused - reused0) reused, \(cache.computed - computed0) computed"
            }
            log("[\(step.index + 1)/\(pipeline.steps.count)] \(step.kind.rawValue)\(step.binding.map { " \($0)" } ?? "")\(note) (\(String(format: "%.1f", Date().timeIntervalSince(t0))) s)")
        }
        return order.compactMap { scored[$0] }
    }

    /// The steps this run executes, in order: all of them, less those its sharding mode skips;
    /// a merge runs the saves last, so a shard that cannot be read stops it before anything
    /// is written (saves only read results, so their order does not change what they write).
    var stepsToRun: [PipelineStep] {
        let steps = pipeline.steps.filter { sharding.runs($0.kind) }
        guard case .merge = sharding else { return steps }
        return steps.filter { $0.kind != .save } + steps.filter { $0.kind == .save }
    }
}
