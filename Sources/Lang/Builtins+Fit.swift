import Foundation
import Plugins
import Runtime

/// The fit phase in the language: `fit(model, data, "method", ...)` gives a fitted state
/// (cached on disk by model, dataset, fit parameters and seed), which `explain(..., fit: f)`
/// uses; `explain`/`compare` also take `fit: <dataset>` and fit through the cache
/// themselves. `save(f, "x.salfit")` / `load("x.salfit")` move states between machines.
extension Builtins {
    static let fitting: [Builtin] = [
        Builtin("fit", [BuiltinParam("model"), BuiltinParam("data"), BuiltinParam("method"), BuiltinParam("seed", optional: true),
                        BuiltinParam("cache", default: .bool(true))],
                extraNamed: true,
                doc: "Fits a method that learns from a dataset (its fit phase) on model and data; reuses the cached state for the same model, data, fit parameters and seed (cache: false refits and does not save). Other named arguments are the method's parameters.") { a in
            let m = try a.model("model")
            guard case let .dataset(d)? = a.values["data"] else {
                throw LangError.arguments("'data' must be a dataset (dataset(...)), got \(a.values["data"]?.typeName ?? "nothing")")
            }
            let e = try a.interpreter.registry.explainer(try a.string("method"))
            return .fitted(try fitState(e, model: m.graph, dataset: d.dataset, params: try pluginParams(a.extra), seed: try seed(a),
                                        useCache: try a.bool("cache"), interpreter: a.interpreter))
        },
    ]

    /// Fits `e` (or loads its cached state) with a progress bar and one log line on stderr.
    static func fitState(_ e: any Explainer, model: Graph, dataset: any Dataset, params: [String: ParamValue], seed: UInt64,
                         useCache: Bool = true, interpreter: Interpreter) throws -> FitState {
        // The method reports its own total (examples x epochs), so the bar starts on the first report.
        let bar = LazyProgressBar("fit \(e.name)", quiet: interpreter.quiet)
        defer { bar.finish() }
        let progress: @Sendable (Int, Int) -> Void = { done, total in bar.update(done, total: total) }
        let quiet = interpreter.quiet
        let log: (String) -> Void = { line in
            if !quiet || line.hasPrefix("warning") { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        if !useCache {
            return try Plugins.fit(e, model: model, dataset: dataset, params: params, seed: seed,
                                   cancellation: interpreter.cancellation, progress: progress)
        }
        return try interpreter.fitCache.fitted(e, model: model, dataset: dataset, params: params, seed: seed,
                                               cancellation: interpreter.cancellation, progress: progress, log: log)
    }

    /// The state `explain`'s `fit:` argument gives for method `e`: nil for methods that do
    /// not fit; a fitted state as given; a dataset fitted through the cache.
    static func fitArgument(_ v: Value?, for e: any Explainer, model: Graph, params: [String: ParamValue], seed: UInt64,
                            interpreter: Interpreter) throws -> FitState? {
        guard e.capabilities.contains(.fits) else { return nil }
        switch v {
        case nil: return nil  // the host explains what is missing
        case let .fitted(s)?: return s
        case let .dataset(d)?: return try fitState(e, model: model, dataset: d.dataset, params: params, seed: seed, interpreter: interpreter)
        case let v?: throw LangError.arguments("fit: takes a dataset or a fitted state from fit(...), got \(v.typeName)")
        }
    }
}

extension FitState {
    /// "fitted chip on shapes-loc (800 examples) #..., 3 tensors, 12.5 s", with the graphs
    /// and a fine-tuned model when it holds them.
    var summary: String {
        func count(_ n: Int, _ what: String) -> String { "\(n) \(what)\(n == 1 ? "" : "s")" }
        return "fitted \(method) on \(dataset), \(count(tensors.count, "tensor"))"
            + (graphs.isEmpty ? "" : ", \(count(graphs.count, "graph")) (\(graphs.keys.sorted().joined(separator: ", ")))")
            + (model == nil ? "" : ", a fine-tuned model") + String(format: ", %.1f s", seconds)
    }

    /// What `f.<field>` reads in the language.
    static let fieldNames = ["method", "dataset", "params", "tensors", "scalars", "notes", "graphs", "graph", "model", "seconds", "key"]

    /// The language value of field `name`, nil for no such field.
    func field(_ name: String) -> Value? {
        switch name {
        case "method": return .string(method)
        case "dataset": return .string(dataset)
        case "params": return .record(Record(params.values.sorted { $0.key < $1.key }.map { ($0.key, Value($0.value)) }))
        case "tensors": return .record(Record(tensors.sorted { $0.key < $1.key }.map { ($0.key, .tensor($0.value)) }))
        case "scalars": return .record(Record(scalars.sorted { $0.key < $1.key }.map { ($0.key, .number($0.value)) }))
        case "notes": return .record(Record(notes.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        case "graphs": return .list(graphs.keys.sorted().map { .string($0) })
        case "graph": return .builtin(graphAccessor)
        case "model": return model.map { .model(ModelValue(graph: $0, source: "fit of \(method): fine-tuned model")) } ?? Value.none
        case "seconds": return .number(seconds)
        case "key": return .string(key)
        default: return nil
        }
    }

    /// `f.graph("decoder")`: a trained network of the state as a model value, usable with
    /// every builtin that takes a model (explain, layers, accuracy, save).
    private var graphAccessor: Builtin {
        let state = self
        return Builtin("graph", [BuiltinParam("name")],
                       doc: "A trained network of this fitted state as a model (f.graphs lists the names).") { a in
            let name = try a.string("name")
            return .model(ModelValue(graph: try state.graph(name), source: "fit of \(state.method): graph '\(name)'"))
        }
    }
}

/// A progress bar whose total is known only when work starts.
final class LazyProgressBar: @unchecked Sendable {
    private let label: String, quiet: Bool
    private var bar: ProgressBar?
    private let lock = NSLock()
    init(_ label: String, quiet: Bool) { self.label = label; self.quiet = quiet }
    func update(_ done: Int, total: Int) {
        let b: ProgressBar = lock.withLock {
            if let bar { return bar }
            let made = ProgressBar(label, total: total, quiet: quiet)
            bar = made
            return made
        }
        b.update(done)
    }
    func finish() { lock.withLock { bar }?.finish() }
}
