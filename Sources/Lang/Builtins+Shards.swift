import Foundation
import Plugins
import Runtime

/// What `compare` does differently in the parts of a sharded pipeline run (`ShardMode`).
extension Builtins {
    /// The images `compare` explains, with their ground truth, labels (for datasets) and the
    /// index of the first one in the whole data: all of `x`, or in a shard only its share
    /// (`ShardSpec.range`), loaded without reading the other shards' examples.
    static func comparisonInput(_ x: Value, batchSize: Int, interpreter: Interpreter) throws
        -> (images: Tensor, truth: GroundTruth, labels: [Int]?, firstIndex: Int) {
        guard case let .shard(spec) = interpreter.sharding else {
            let (images, truth) = try batch(x)
            var labels: [Int]? = nil
            if case let .dataset(d) = x { labels = try (0..<d.dataset.count).map { try d.dataset.example($0).label } }
            return (images, GroundTruth(masks: truth.masks, boxes: truth.boxes, labels: labels), labels, 0)
        }
        if case let .dataset(d) = x, d.dataset.count > 0 {
            let r = spec.range(images: d.dataset.count, batchSize: batchSize)
            guard !r.isEmpty else {
                let shape = try d.dataset.example(0).image.shape
                return (Tensor(shape: [0] + shape, repeating: 0), GroundTruth(labels: []), [], r.lowerBound)
            }
            let b = try d.dataset.batch(Array(r))
            return (b.images, GroundTruth(masks: b.truth.masks, boxes: b.truth.boxes, labels: b.labels), b.labels, r.lowerBound)
        }
        let (all, truth) = try batch(x)
        let n = all.shape[0], r = spec.range(images: n, batchSize: batchSize)
        return (all.slice(axis: 0, r), truth.slice(r, of: n), nil, r.lowerBound)
    }

    /// `fit:`, the dataset that methods which learn from data are fitted on.
    static func fitDataset(_ a: CallArguments) throws -> (any Dataset)? {
        switch a["fit"] {
        case nil: return nil
        case let .dataset(d)?: return d.dataset
        case let v?: throw LangError.arguments("fit: takes the dataset that methods which learn from data are fitted on, got \(v.typeName)")
        }
    }

    /// How `compare` gets a fitting method's state: fitted, or loaded from the fit cache (a
    /// plain run, `--fit-only`); loaded from the cache only (a shard: fitting there would
    /// repeat the fit in every shard); only its key (a merge computes nothing, and a maps
    /// block's key holds the state's key).
    static func comparisonFitter(_ a: CallArguments, seed: UInt64) throws -> ((Graph, any Explainer, MethodSpec) throws -> FitState)? {
        guard let data = try fitDataset(a) else { return nil }
        let interpreter = a.interpreter
        switch interpreter.sharding {
        case .none, .fitOnly:
            return { graph, e, spec in try fitState(e, model: graph, dataset: data, params: spec.params, seed: seed, interpreter: interpreter) }
        case .shard:
            return { graph, e, spec in try cachedFitState(e, model: graph, dataset: data, params: spec.params, seed: seed, cache: interpreter.fitCache) }
        case .merge:
            return { graph, e, spec in
                let params = try Params.resolve(spec.params, schema: e.parameters, plugin: e.name)
                return FitState(method: e.name, key: try FitCache.key(e, model: graph, dataset: data, params: params, seed: seed))
            }
        }
    }

    /// A shard's fitted state: from the fit cache, or an error saying to run `--fit-only` first.
    static func cachedFitState(_ e: any Explainer, model: Graph, dataset: any Dataset, params given: [String: ParamValue],
                               seed: UInt64, cache: FitCache) throws -> FitState {
        let params = try Params.resolve(given, schema: e.parameters, plugin: e.name)
        let key = try FitCache.key(e, model: model, dataset: dataset, params: params, seed: seed)
        let file = cache.path(forKey: key, method: e.name)
        let hint = "a shard never fits; run `saliency-repl run PIPELINE --fit-only` first, with the same SALIENCY_CACHE_DIR as the shards"
        guard FileManager.default.fileExists(atPath: file) else {
            throw LangError.message("method '\(e.name)' has no fitted state in the fit cache (\(file)): \(hint)")
        }
        let state: FitState
        do { state = try FitState.load(path: file) } catch {
            throw LangError.message("the fitted state of '\(e.name)' in \(file) is unreadable (\(error)): \(hint)")
        }
        guard state.key == key && state.method == e.name else {
            throw LangError.message("\(file) holds another fit than '\(e.name)' needs here: \(hint)")
        }
        return state
    }

    /// `compare` in a `--fit-only` run: fits (or finds in the cache) every method that learns
    /// from data, on every model, and explains nothing.
    static func fitOnly(_ a: CallArguments, models: [(name: String, graph: Graph)]) throws -> Value {
        let specs = try pluginSpecs(try a.value("methods"), what: "method")
        let fitter = try comparisonFitter(a, seed: try seed(a))
        for m in models {
            for spec in specs {
                let e = try a.interpreter.registry.explainer(spec.name)
                guard e.capabilities.contains(.fits) else { continue }
                guard let fitter else {
                    throw LangError.arguments("method '\(e.name)' learns from a dataset before it explains: give the step fit: <dataset>")
                }
                _ = try fitter(m.graph, e, spec)
            }
        }
        return .none
    }
}
