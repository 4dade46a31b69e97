import Plugins
import Runtime

extension Builtins {
    /// The `target:` argument: nothing or "predicted", a class index, a class name, "label"
    /// (each image's ground-truth label), or one of these per image (a list, or a 1-D tensor
    /// of class indices: Captum's `target=labels`). Class names resolve through the model's
    /// labels, or through `classNames` (a dataset's classes) when the model has none.
    static func target(_ v: Value?, labels: [Int]? = nil, classNames: [String]? = nil) throws -> Target {
        func one(_ v: Value, perImage: Bool) throws -> Target {
            switch v {
            case .none: return .predicted
            case let .number(n):
                guard n == n.rounded(), n >= 0, n < 1e9 else { throw LangError.arguments("target must be a class index >= 0, a class name or \"predicted\", got \(formatNumber(n))") }
                return .index(Int(n))
            case .string("predicted"): return .predicted
            case .string("second"): return .ranked(2)
            case .string("label") where !perImage:
                guard let labels else {
                    throw LangError.arguments("target \"label\" explains each image's ground-truth class, but x has no labels (give a dataset, or images taken from one)")
                }
                return .each(labels.map { .index($0) })
            case let .string(s):
                if let classNames, let i = classNames.firstIndex(of: s) { return .index(i) }
                return .name(s)
            case let .list(items) where !perImage:
                guard !items.isEmpty else { throw LangError.arguments("target is an empty list; give one target per image") }
                return .each(try items.map { try one($0, perImage: true) })
            case let .tensor(t) where !perImage && t.rank <= 1:
                return .each(try t.scalars.map { try one(.number(Double($0)), perImage: true) })
            case let v:
                throw LangError.arguments("target must be a class index, a class name, \"predicted\", \"label\" or a list with one of these per image, got \(perImage ? "a list holding " : "")\(v.typeName)")
            }
        }
        return try one(v ?? .none, perImage: false)
    }

    /// Ground-truth labels of `x` when it has them: a dataset's, or those of images taken from one.
    static func labels(of x: Value) throws -> [Int]? {
        switch x {
        case let .dataset(d):
            // A folder of images without class subfolders has no labels.
            return d.dataset.classNames.isEmpty ? nil : try (0..<d.dataset.count).map { try d.dataset.label($0) }
        case let .image(i): return i.label.map { [$0] }
        case let .list(items):
            let ls = try items.map { try labels(of: $0) }
            return ls.allSatisfy { $0 != nil } ? ls.flatMap { $0 ?? [] } : nil
        default: return nil
        }
    }

    /// The class names a model without labels borrows from the data it explains (a folder
    /// dataset's subfolder names); nil when the model has its own labels or x is no dataset.
    static func borrowedClassNames(_ x: Value, model: Graph) -> [String]? {
        guard model.labels == nil, case let .dataset(d) = x, !d.dataset.classNames.isEmpty else { return nil }
        return d.dataset.classNames
    }

    /// Names a map's targets by borrowed class names (the map has none from the model).
    static func naming(_ map: SaliencyMap, _ classNames: [String]?) -> SaliencyMap {
        guard map.targetNames == nil, let classNames else { return map }
        var m = map
        m.targetNames = map.targets.map { $0 < classNames.count ? classNames[$0] : String($0) }
        return m
    }

    static func pluginParams(_ extra: [(String, Value)]) throws -> [String: ParamValue] {
        var out: [String: ParamValue] = [:]
        for (k, v) in extra {
            guard let p = v.paramValue else { throw LangError.arguments("parameter '\(k)' cannot be \(v.typeName)") }
            out[k] = p
        }
        return out
    }

    /// Method names from a string or a list of strings; `isList` says which was given.
    static func names(_ v: Value, what: String) throws -> (names: [String], isList: Bool) {
        switch v {
        case let .string(s): return ([s], false)
        case let .list(l):
            let n = try l.map { v -> String in
                guard case let .string(s) = v else { throw LangError.arguments("\(what) names must be strings, got \(v.typeName)") }
                return s
            }
            guard !n.isEmpty else { throw LangError.arguments("the list of \(what)s is empty") }
            return (n, true)
        default: throw LangError.arguments("'\(what)' must be a name in quotes or a list of names, got \(v.typeName)")
        }
    }

    static func seed(_ a: CallArguments) throws -> UInt64 {
        guard a["seed"] != nil else { return a.interpreter.seed }
        let s = try a.int("seed")
        guard s >= 0 else { throw LangError.arguments("seed must be >= 0") }
        return UInt64(s)
    }

    static let explaining: [Builtin] = [
        Builtin("explain", [BuiltinParam("model"), BuiltinParam("x"), BuiltinParam("method"), BuiltinParam("target", optional: true),
                            BuiltinParam("score", default: .string("logit")), BuiltinParam("seed", optional: true), BuiltinParam("fit", optional: true)],
                extraNamed: true,
                doc: "Saliency map(s) of x's target class (target: \"predicted\" (default), a class index or name, \"label\" for each image's ground truth, or a list/tensor with one per image) by a method, or a record keyed by method for a list; other named arguments are the method's parameters (help(\"gradcam\")). Methods that learn from data take fit: a dataset (fitted once, cached) or a state from fit(...).") { a in
            let m = try a.model("model")
            let (images, _) = try batch(try a.value("x"))
            try checkInput(images, for: m, from: a.values["x"])
            let (methods, isList) = try names(try a.value("method"), what: "method")
            let explainers = try methods.map { try a.interpreter.registry.explainer($0) }
            let scoreName = try a.string("score")
            guard let score = ScoreKind(rawValue: scoreName) else {
                throw LangError.arguments("score must be one of \(ScoreKind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), got \"\(scoreName)\"")
            }
            let params = try pluginParams(a.extra)
            let x = try a.value("x"), classNames = borrowedClassNames(x, model: m.graph)
            let needsLabels: Bool = { if case .string("label")? = a.values["target"] { return true }; return false }()
            let t = try target(a.values["target"], labels: needsLabels ? try labels(of: x) : nil, classNames: classNames), s = try seed(a)
            var out = Record()
            // Counts images x methods, ticking within a call as the method reports its steps
            // (RISE's masks, IG's steps, occlusion's windows); silent off a terminal.
            let n = images.shape[0], total = explainers.count * n
            let bar = ProgressBar("explain", total: total, quiet: a.interpreter.quiet)
            defer { bar.finish() }
            for (k, e) in explainers.enumerated() {
                // With several methods, each gets only the parameters it declares (a shared
                // `layer:` for CAM-style methods should not break the gradient baseline).
                let own = isList ? params.filter { k, _ in e.parameters.contains { $0.name == k } } : params
                if isList, let unknown = params.keys.sorted().first(where: { k in !explainers.contains { $0.parameters.contains { $0.name == k } } }) {
                    throw PluginError.unknownParameter(plugin: methods.joined(separator: ", "), name: unknown, suggestion: closestName(to: unknown, in: explainers.flatMap { $0.parameters.map(\.name) }))
                }
                let state = try fitArgument(a["fit"], for: e, model: m.graph, params: own, seed: s, interpreter: a.interpreter)
                let map = try Plugins.explain(e, model: m.graph, images: images, target: t, params: own, score: score, seed: s,
                                              cancellation: a.interpreter.cancellation,
                                              progress: { step, steps in bar.update(k * n + n * Swift.min(step, steps) / Swift.max(steps, 1)) },
                                              fitted: state)
                out[e.name] = .saliency(MapValue(map: naming(map, classNames), images: images))
            }
            // unreachable from input: Set for every method in the loop above.
            return isList ? .record(out) : out[explainers[0].name]!
        },
        Builtin("metric", [BuiltinParam("metric"), BuiltinParam("model"), BuiltinParam("x"), BuiltinParam("map"), BuiltinParam("seed", optional: true),
                           BuiltinParam("fit", optional: true)],
                extraNamed: true,
                doc: "Scores saliency maps: a number per image for one metric, a record for a list of metrics, a table (method x metric, mean over images) for a record of maps. fit: the dataset a fitting method was fitted on, for metrics that re-explain on a changed model and refit (sanity_randomization).") { a in
            let m = try a.model("model")
            let (images, truth) = try batch(try a.value("x"))
            let (names, isList) = try names(try a.value("metric"), what: "metric")
            let metrics = try names.map { try a.interpreter.registry.metric($0) }
            let params = try pluginParams(a.extra)
            let s = try seed(a)
            let fitData: (any Dataset)?
            switch a["fit"] {
            case nil: fitData = nil
            case let .dataset(d)?: fitData = d.dataset
            case .fitted?:
                throw LangError.arguments("fit: takes the dataset the method was fitted on, not a fitted state: metrics that re-explain change the model's weights and must fit again")
            case let v?: throw LangError.arguments("fit: takes the dataset the method was fitted on, got \(v.typeName)")
            }
            func score(_ map: MapValue) throws -> [String: [Double]] {
                guard map.map.count == images.shape[0] else {
                    throw LangError.message("the map explains \(map.map.count) images but x has \(images.shape[0])")
                }
                var r: [String: [Double]] = [:]
                for metric in metrics {
                    let own = isList ? params.filter { k, _ in metric.parameters.contains { $0.name == k } } : params
                    let explainer = try? a.interpreter.registry.explainer(map.map.method)
                    r[metric.name] = try evaluate(metric, model: m.graph, images: images, saliency: map.map, params: own, groundTruth: truth,
                                                  seed: s, cancellation: a.interpreter.cancellation, explainer: explainer,
                                                  fitDataset: fitData).values
                }
                return r
            }
            // `score` fills r[m.name] for every metric, looked up by these very names (the
            // registry's keys are the plugins' names), so the lookups below always succeed.
            func perImage(_ v: [Double]) -> Value { v.count == 1 ? .number(v[0]) : .list(v.map { .number($0) }) }
            switch try a.value("map") {
            case let .saliency(map):
                let r = try score(map)
                // unreachable from input: see the comment on perImage: score fills every name
                return isList ? .record(Record(names.map { ($0, perImage(r[$0]!)) })) : perImage(r[names[0]]!)
            case let .record(maps):
                var rows: [[Value]] = []
                for (method, v) in maps.pairs {
                    guard case let .saliency(map) = v else { throw LangError.arguments("map record field '\(method)' is \(v.typeName), not a saliency map") }
                    let r = try score(map)
                    // unreachable from input: see the comment on perImage: score fills every name
                    rows.append([.string(method)] + names.map { n in .number(r[n]!.reduce(0, +) / Double(max(r[n]!.count, 1))) })
                }
                return .table(Table(columns: ["method"] + names, rows: rows))
            case let v:
                throw LangError.arguments("'map' must be a saliency map or a record of maps (from explain with a list), got \(v.typeName)")
            }
        },
    ]
}
