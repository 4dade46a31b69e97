import Foundation
import Plugins
import Runtime

/// Comparisons: several methods (and models) over the same images, then metrics. A YAML
/// pipeline's explain and metric steps lower to exactly these calls.
extension Builtins {
    /// `gradcam`, `{gradcam: {layer: "conv5"}}` or `{method: "gradcam", layer: "conv5"}`, or a list of these.
    static func pluginSpecs(_ v: Value, what: String) throws -> [MethodSpec] {
        func one(_ v: Value) throws -> MethodSpec {
            switch v {
            case let .string(s): return MethodSpec(s)
            case let .record(r) where r.keys.count == 1:
                let (name, value) = r.pairs[0]
                var params: [(String, Value)] = []
                switch value {
                case let .record(p): params = p.pairs
                case .none: break
                default: throw LangError.arguments("the parameters of \(what) '\(name)' must be a record, got \(value.typeName)")
                }
                return try labelled(name, params)
            case let .record(r) where r[what] != nil:
                guard case let .string(name)? = r[what] else { throw LangError.arguments("'\(what)' must be a name") }
                return try labelled(name, r.pairs.filter { $0.0 != what })
            default:
                throw LangError.arguments("a \(what) is a name, {name: {parameters}} or {\(what): name, parameters...}; got \(v.typeName)")
            }
        }
        /// `label:` names the entry in tables and montages; the rest are the plugin's parameters.
        func labelled(_ name: String, _ pairs: [(String, Value)]) throws -> MethodSpec {
            var label: String? = nil
            if let l = pairs.first(where: { $0.0 == "label" })?.1 {
                guard case let .string(s) = l else { throw LangError.arguments("'label' of \(what) '\(name)' must be a string") }
                label = s
            }
            return MethodSpec(name, params: try pluginParams(pairs.filter { $0.0 != "label" }), label: label)
        }
        if case let .list(items) = v {
            guard !items.isEmpty else { throw LangError.arguments("the list of \(what)s is empty") }
            let specs = try items.map(one)
            let names = specs.map(\.displayName)
            if let dup = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
                throw LangError.arguments("\(what) '\(dup)' appears twice; give each a different label: {\(dup): {label: \"...\", ...}}")
            }
            return specs
        }
        return [try one(v)]
    }

    static func models(_ v: Value) throws -> [(name: String, graph: Graph)] {
        let items: [Value]
        if case let .list(l) = v { items = l } else { items = [v] }
        guard !items.isEmpty else { throw LangError.arguments("the list of models is empty") }
        var seen: [String: Int] = [:]
        return try items.map { item in
            guard case let .model(m) = item else { throw LangError.arguments("'models' must be a model or a list of models, got \(item.typeName)") }
            var name = (m.source as NSString).lastPathComponent
            if name.hasSuffix(".onnx") { name = String(name.dropLast(5)) }
            let count = seen[name, default: 0] + 1
            seen[name] = count
            if count > 1 { name += "#\(count)" }
            return (name, m.graph)
        }
    }

    static let comparing: [Builtin] = [
        Builtin("compare", [BuiltinParam("models"), BuiltinParam("x"), BuiltinParam("methods"), BuiltinParam("target", optional: true),
                            BuiltinParam("score", default: .string("logit")), BuiltinParam("seed", optional: true),
                            BuiltinParam("batch", default: .number(16)), BuiltinParam("name", default: .string("comparison")),
                            BuiltinParam("fit", optional: true)],
                doc: "Every method on every model over the same images (a dataset, images or a tensor): a comparison to score and save. Methods that learn from data are fitted on the fit: dataset (once per model, cached).") { a in
            let ms = try models(try a.value("models"))
            if case .fitOnly = a.interpreter.sharding { return try fitOnly(a, models: ms) }
            let batchSize = try a.int("batch")
            guard batchSize >= 1 else { throw LangError.arguments("batch must be >= 1") }
            let (images, truth, labels, firstIndex) = try comparisonInput(try a.value("x"), batchSize: batchSize, interpreter: a.interpreter)
            for m in ms { try checkInput(images, for: ModelValue(graph: m.graph, source: m.name), from: a.values["x"]) }
            let specs = try pluginSpecs(try a.value("methods"), what: "method")
            let scoreName = try a.string("score")
            guard let score = ScoreKind(rawValue: scoreName) else {
                throw LangError.arguments("score must be one of \(ScoreKind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), got \"\(scoreName)\"")
            }
            let name = try a.string("name")
            let runSeed = try seed(a)
            let fitter = try comparisonFitter(a, seed: runSeed)
            let x = try a.value("x")
            // Class names come from the data only when no model has its own.
            let classNames = ms.allSatisfy({ $0.graph.labels == nil }) ? ms.first.flatMap { borrowedClassNames(x, model: $0.graph) } : nil
            var t = try target(a.values["target"], labels: labels, classNames: classNames)
            // A list of targets for the whole data, in one shard of a sharded run: the shard's share.
            if case let .each(ts) = t, ts.count > images.shape[0], firstIndex + images.shape[0] <= ts.count {
                t = .each(Array(ts[firstIndex..<(firstIndex + images.shape[0])]))
            }
            let bar = ProgressBar("explain \(name)", total: ms.count * specs.count * images.shape[0], quiet: a.interpreter.quiet)
            var maps = try Comparison.explainAll(models: ms, methods: specs, images: images, labels: labels, groundTruth: truth,
                                                 target: t, score: score, seed: runSeed,
                                                 registry: a.interpreter.registry, batchSize: batchSize, firstIndex: firstIndex,
                                                 cancellation: a.interpreter.cancellation,
                                                 cache: a.interpreter.comparisonCache(images: images.shape[0], batchSize: batchSize),
                                                 progress: { _, done, _ in bar.update(done) }, fitter: fitter, fitDataset: try fitDataset(a))
            bar.finish()
            for i in maps.entries.indices { maps.entries[i].saliency = naming(maps.entries[i].saliency, classNames) }
            return .comparison(ComparisonValue(name: name, maps: maps, scores: nil))
        },
        Builtin("score", [BuiltinParam("comparison"), BuiltinParam("metrics")],
                doc: "Scores every map of a comparison with every metric: per-image values, mean, std and 95% CI (table(c) shows them).") { a in
            guard case var .comparison(c)? = a.values["comparison"] else {
                throw LangError.arguments("'comparison' must be the result of compare(...), got \(a.values["comparison"]?.typeName ?? "nothing")")
            }
            let specs = try pluginSpecs(try a.value("metrics"), what: "metric")
            let bar = ProgressBar("metric \(c.name)", total: c.maps.entries.count * specs.count, quiet: a.interpreter.quiet)
            let scores = try Comparison.score(c.maps, metrics: specs, registry: a.interpreter.registry,
                                              cancellation: a.interpreter.cancellation,
                                              cache: a.interpreter.comparisonCache(images: c.maps.images.shape[0], batchSize: c.maps.batchSize)) { _, done, _ in
                bar.update(done)
            }
            bar.finish()
            for w in nanWarnings(scores, maps: c.maps) { a.interpreter.output(.text(w)) }
            if var old = c.scores {
                old.rows += scores.rows
                old.curves.merge(scores.curves) { _, b in b }
                old.bounds.merge(scores.bounds) { _, b in b }
                c.scores = old
            } else {
                c.scores = scores
            }
            return .comparison(c)
        },
    ]
}

extension Builtins {
    /// One warning per (model, method, metric) whose values are NaN for some images, with the
    /// likeliest reason: a constant map (no ranking, no spread: correlations and
    /// normalisations are undefined), else that the metric itself found the value undefined.
    static func nanWarnings(_ scores: ComparisonScores, maps: ComparisonMaps) -> [String] {
        var nan: [String: [Int]] = [:], total: [String: Int] = [:], order: [String] = []
        for r in scores.rows {
            let key = "\(r.model)\u{0}\(r.method)\u{0}\(r.metric)"
            if total[key] == nil { order.append(key) }
            total[key, default: 0] += 1
            if r.value.isNaN { nan[key, default: []].append(r.image - maps.firstIndex) }
        }
        return order.compactMap { key in
            guard let images = nan[key], let n = total[key] else { return nil }
            let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
            let entry = maps.entries.first { $0.model == parts[0] && $0.method == parts[1] }
            let constant = entry.map { e in
                images.filter { i in
                    guard i >= 0 && i < e.saliency.count else { return false }
                    let s = e.saliency.map.select(axis: 0, i).scalars
                    return s.min() == s.max()
                }.count
            } ?? 0
            let why = constant == images.count
                ? "the map is constant on those images, so the metric has nothing to rank or compare"
                : constant > 0 ? "\(constant) of them have a constant map; for the others the metric found its value undefined"
                : "the metric found its value undefined there (see help(\"\(parts[2])\"))"
            return "warning: \(parts[2]) of \(parts[1])\(Set(maps.entries.map(\.model)).count > 1 ? " on \(parts[0])" : ""): \(images.count) of \(n) values are NaN (\(why)); the mean and CI are over the other \(n - images.count)"
        }
    }
}
