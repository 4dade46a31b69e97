import Plugins
import Runtime

extension Builtins {
    static func target(_ v: Value?) throws -> Target {
        switch v {
        case nil, .none?: return .predicted
        case let .number(n)?:
            guard n == n.rounded(), n >= 0, n < 1e9 else { throw LangError.arguments("target must be a class index >= 0, a class name or \"predicted\", got \(formatNumber(n))") }
            return .index(Int(n))
        case .string("predicted")?: return .predicted
        case .string("second")?: return .ranked(2)
        case let .string(s)?: return .name(s)
        case let v?: throw LangError.arguments("target must be a class index, a class name or \"predicted\", got \(v.typeName)")
        }
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
                doc: "Saliency map(s) of x's target class by a method, or a record keyed by method for a list; other named arguments are the method's parameters (help(\"gradcam\")). Methods that learn from data take fit: a dataset (fitted once, cached) or a state from fit(...).") { a in
            let m = try a.model("model")
            let (images, _) = try batch(try a.value("x"))
            try checkInput(images, for: m)
            let (methods, isList) = try names(try a.value("method"), what: "method")
            let explainers = try methods.map { try a.interpreter.registry.explainer($0) }
            let scoreName = try a.string("score")
            guard let score = ScoreKind(rawValue: scoreName) else {
                throw LangError.arguments("score must be one of \(ScoreKind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), got \"\(scoreName)\"")
            }
            let params = try pluginParams(a.extra)
            let t = try target(a.values["target"]), s = try seed(a)
            var out = Record()
            for e in explainers {
                // With several methods, each gets only the parameters it declares (a shared
                // `layer:` for CAM-style methods should not break the gradient baseline).
                let own = isList ? params.filter { k, _ in e.parameters.contains { $0.name == k } } : params
                if isList, let unknown = params.keys.sorted().first(where: { k in !explainers.contains { $0.parameters.contains { $0.name == k } } }) {
                    throw PluginError.unknownParameter(plugin: methods.joined(separator: ", "), name: unknown, suggestion: closestName(to: unknown, in: explainers.flatMap { $0.parameters.map(\.name) }))
                }
                let state = try fitArgument(a["fit"], for: e, model: m.graph, params: own, seed: s, interpreter: a.interpreter)
                let map = try Plugins.explain(e, model: m.graph, images: images, target: t, params: own, score: score, seed: s,
                                              cancellation: a.interpreter.cancellation, fitted: state)
                out[e.name] = .saliency(MapValue(map: map, images: images))
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
