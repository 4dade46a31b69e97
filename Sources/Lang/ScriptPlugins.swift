import Foundation
import Plugins
import Runtime

// Explanation methods written in the language.
//
//     fn grad_x_input(model, x, target, params) {
//       fn score(v) { return pick(logits(model, v), target) }
//       return grad(score, x) * x
//     }
//     register_method("gxi", grad_x_input, summary: "gradient x input", returns: "attribution")
//     explain(m, img, "gxi")
//
// The function's contract (what `register_method` documents and checks):
//   model   the model being explained;
//   x       the batch [N, C, H, W] (detached: use grad(f, x) for input gradients);
//   target  the resolved class index of each image, a list of N numbers;
//   params  a record with every declared parameter, defaults applied, values validated by
//           the host's `Params.resolve` (a parameter declared without a default is none);
//   info    (only if the function declares a fifth parameter) {method, score, seed}: the
//           method's name, the `score:` the caller asked for ("logit", "prob", "logprob";
//           pass it to pick(..., score: info.score)) and a seed drawn from the explain
//           call's seeded generator (for randn), so a given explain seed reproduces the map.
// It returns a tensor [N, 1, H, W] (the map, kept as is: sign and scale are the method's)
// or [N, C, H, W] (an attribution; the map is then the channel max of |attribution|, the
// convention of the built-in gradient methods). `returns: "map"` or `"attribution"` makes
// the choice explicit; with the default "auto" a [N, 1, H, W] result is the map, which for
// one-channel models is ambiguous, so gradient-style methods should say "attribution".

/// The interpreter a script method runs in. The interpreter is not Sendable (environments,
/// the call depth, the output closure are plain mutable state), but `Explainer` must be.
/// This is safe because a script method only ever runs on the interpreter's own thread:
/// the host calls `explain` synchronously from the `explain`/`compare`/`metric` builtin (or
/// a pipeline step) that the interpreter is executing, and `Comparison` runs its methods one
/// after another on the calling thread. The lock only serialises script-method calls with
/// each other (should a future host run methods on worker threads, they would wait rather
/// than race); it cannot guard against another thread calling while the interpreter runs
/// ordinary code, which no host path does. It is recursive because a script method may
/// itself call `explain` with another script method.
final class ScriptInterpreterHandle: @unchecked Sendable {
    let interpreter: Interpreter
    private let lock = NSRecursiveLock()
    init(_ interpreter: Interpreter) { self.interpreter = interpreter }
    func withLock<R>(_ body: (Interpreter) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(interpreter)
    }
}

/// Every script text any interpreter in the process ran, by file name: the fallback that
/// lets an error inside a script method show its line and caret even when the method was
/// defined by another interpreter (a plugin file run by a loader) than the one reporting.
enum ScriptSources {
    private static let book = SourceBook()
    final class SourceBook: @unchecked Sendable {
        let lock = NSLock()
        var texts: [String: SourceText] = [:]
    }
    static func remember(_ s: SourceText) { book.lock.withLock { book.texts[s.file] = s } }
    static func lookup(_ file: String) -> SourceText? { book.lock.withLock { book.texts[file] } }
}

extension Interpreter {
    /// The text of `file` as this interpreter ran it, else as any interpreter did.
    func sourceText(for file: String) -> SourceText? { sources[file] ?? ScriptSources.lookup(file) }
}

/// An `Explainer` whose `explain` is a user function. It holds the interpreter strongly: a
/// plugin file may be run in a short-lived interpreter and its methods must keep working;
/// the cost is that a session's registry keeps that session alive (one per process).
struct ScriptExplainer: Explainer {
    /// How the function's result is read.
    enum Returns: String, CaseIterable { case auto, map, attribution }

    let name: String
    let summary: String
    let reference: String
    let parameters: [ParamSpec]
    let capabilities: Capabilities
    let returns: Returns
    let function: UserFunction
    let handle: ScriptInterpreterHandle

    var definedAt: SourceLocation { function.decl.loc }
    var functionDescription: String { "fn \(function.decl.signature) at \(definedAt)" }

    func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let (n, c, h, w) = (ctx.images.shape[0], ctx.images.shape[1], ctx.images.shape[2], ctx.images.shape[3])
        var params = Record()
        for spec in parameters { params[spec.name] = ctx.params[spec.name].map(Value.init) ?? Value.none }
        var args: [(String?, Value, SourceLocation)] = [
            (nil, .model(ModelValue(graph: ctx.model, source: ctx.model.name)), definedAt),
            (nil, .tensor(ctx.images), definedAt),
            (nil, .list(ctx.targets.map { .number(Double($0)) }), definedAt),
            (nil, .record(params), definedAt),
        ]
        if function.decl.parameters.count >= 5 {
            // 53 bits so the seed survives the trip through a Double exactly.
            let seed = Double(ctx.rng.next() >> 11)
            args.append((nil, .record(Record([("method", .string(name)), ("score", .string(ctx.score.rawValue)), ("seed", .number(seed))])), definedAt))
        }
        let result: Value
        do {
            result = try handle.withLock { interp in try interp.call(.function(function), args, at: definedAt) }
        } catch var d as Diagnostic {
            // The error points into the method's own source (its file, line and caret); the
            // note says which method was running, since the caller only wrote its name.
            d.notes.append("in script method '\(name)' (\(functionDescription))")
            throw d
        }
        let what = "method '\(name)' (\(functionDescription))"
        let expected = c == 1 ? "a tensor [\(n), 1, \(h), \(w)]" : "a tensor [\(n), 1, \(h), \(w)] (a map) or [\(n), \(c), \(h), \(w)] (an attribution)"
        guard !result.isNumberValue, let t = result.asTensor else {
            throw PluginError.invalid("\(what) must return \(expected), got \(result.typeName)")
        }
        let mapShape = [n, 1, h, w], attrShape = [n, c, h, w]
        let asMap = returns != .attribution && t.shape == mapShape
        let asAttribution = !asMap && returns != .map && t.shape == attrShape
        guard asMap || asAttribution else {
            let wanted: String
            switch returns {
            case .auto: wanted = c == 1 ? formatShape(mapShape) : "\(formatShape(mapShape)) (a map) or \(formatShape(attrShape)) (an attribution)"
            case .map: wanted = "\(formatShape(mapShape)) (returns: \"map\")"
            case .attribution: wanted = "\(formatShape(attrShape)) (returns: \"attribution\")"
            }
            throw PluginError.invalid("\(what) returned a tensor of shape \(formatShape(t.shape)); expected \(wanted)")
        }
        let value = t.detached()
        return asMap ? Explanation(map: value) : Explanation(map: channelMaxAbs(value), attribution: value)
    }
}

extension Builtins {
    /// Parameter names `explain(...)` itself takes: a plugin parameter of that name could
    /// never receive a value from a call.
    static let reservedParameterNames: Set<String> = ["model", "x", "method", "target", "score", "seed", "label"]

    /// Names of the methods the host ships, for the "shadows a built-in" warning.
    static let builtinMethodNames: Set<String> = Set(Registry().explainers.map(\.name))

    /// What a script method may declare (not "fits": scripts have no fit phase).
    static let capabilityNames = PluginCatalog.capabilityNames.filter { $0.0 != "fits" }

    static let scriptPlugins: [Builtin] = [
        Builtin("register_method", [BuiltinParam("name"), BuiltinParam("fn"), BuiltinParam("params", default: .record(Record())),
                                    BuiltinParam("summary", default: .string("")), BuiltinParam("reference", default: .string("")),
                                    BuiltinParam("returns", default: .string("auto")), BuiltinParam("capabilities", optional: true)],
                doc: """
                Registers fn(model, x, target, params[, info]) as an explanation method usable like a built-in \
                (explain, compare, pipelines, help). params: {sigma: 0.5} or {sigma: {default: 0.5, min: 0, max: 10, doc: "..."}} \
                (also type: "int" | "float" | "bool" | "string" | "layer" | "tensor" | "numbers", choices: [...]); fn returns \
                [N, 1, H, W] (the map) or [N, C, H, W] (an attribution, map = channel max of |a|); returns: "map" | "attribution" \
                says which. A fifth parameter gets {method, score, seed}. capabilities: ["gradients", "layer", "batched", \
                "stochastic"] (default gradients, batched; "layer" is added for a layer parameter). Registering a name again \
                replaces that method; a built-in's name shadows it (with a warning).
                """) { a in
            let name = try a.string("name")
            guard isMethodName(name) else {
                throw LangError.arguments("a method name is letters, digits, '_' and '-', starting with a letter; got \"\(name)\"")
            }
            guard case let .function(fn)? = a.values["fn"] else {
                throw LangError.arguments("'fn' must be a function defined with fn name(model, x, target, params), got \(a.values["fn"]?.typeName ?? "nothing")")
            }
            let declared = fn.decl.parameters
            let required = declared.filter { $0.defaultValue == nil }.count
            guard declared.count >= 4, required <= 5 else {
                throw LangError.arguments("'fn' must take (model, x, target, params) and optionally info; \(fn.decl.name) takes \(declared.count) parameter\(declared.count == 1 ? "" : "s") (\(fn.decl.signature))")
            }
            guard case let .record(schema)? = a.values["params"] else {
                throw LangError.arguments("'params' must be a record like {sigma: 0.5}, got \(a.values["params"]?.typeName ?? "nothing")")
            }
            let specs = try schema.pairs.map { try paramSpec($0.0, $0.1, method: name) }
            let returnsName = try a.string("returns")
            guard let returns = ScriptExplainer.Returns(rawValue: returnsName) else {
                throw LangError.arguments("returns must be \"auto\", \"map\" or \"attribution\", got \"\(returnsName)\"")
            }
            var caps: Capabilities = [.needsGradients, .batched]
            if let v = a["capabilities"] {
                guard case let .list(items) = v else { throw LangError.arguments("'capabilities' must be a list of names, got \(v.typeName)") }
                caps = []
                for item in items {
                    let names = capabilityNames.map(\.0)
                    guard case let .string(s) = item, let c = capabilityNames.first(where: { $0.0 == s })?.1 else {
                        let shown = item.summary
                        throw LangError.arguments("unknown capability \(shown) (one of \(names.map { "\"\($0)\"" }.joined(separator: ", ")))"
                            + ({ if case let .string(s) = item { return closestName(to: s, in: names).map { "; did you mean \"\($0)\"?" } ?? "" }; return "" }()))
                    }
                    caps.insert(c)
                }
            }
            if specs.contains(where: { $0.type == .layer }) { caps.insert(.layerChoice) }
            let summary = try a.string("summary")
            let reference = try a.string("reference")
            let registry = a.interpreter.registry
            if let old = try? registry.explainer(name), !(old is ScriptExplainer) {
                let kind = builtinMethodNames.contains(name) ? "the built-in method" : "the plugin method"
                a.interpreter.output(.text("warning: register_method: '\(name)' shadows \(kind) of that name in this session"))
            }
            registry.register(ScriptExplainer(
                name: name, summary: summary.isEmpty ? "script method \(fn.decl.name)" : summary,
                reference: reference.isEmpty ? "script: fn \(fn.decl.signature) at \(fn.decl.loc)" : reference,
                parameters: specs, capabilities: caps, returns: returns, function: fn, handle: ScriptInterpreterHandle(a.interpreter)))
            return .none
        },
        Builtin("pick", [BuiltinParam("scores"), BuiltinParam("target"), BuiltinParam("score", default: .string("logit"))],
                doc: "The target class's score summed over the batch: sum over i of scores[i, target[i]] (score: \"prob\" or \"logprob\" applies softmax or log-softmax first); differentiable, the scalar grad(f, x) wants.") { a in
            let s = try a.tensor("scores")
            guard s.rank == 2, s.shape[1] >= 1 else { throw LangError.arguments("'scores' must be [N, classes] (from logits), got \(formatShape(s.shape))") }
            let (n, k) = (s.shape[0], s.shape[1])
            let targets: [Int]
            switch try a.value("target") {
            case .number: targets = [Int](repeating: try a.int("target"), count: n)
            case let .list(items):
                targets = try items.map { v in
                    guard case let .number(x) = v, x == x.rounded(), Swift.abs(x) < 1e9 else { throw LangError.arguments("'target' must be class indices, got \(v.summary)") }
                    return Int(x)
                }
                guard targets.count == n else { throw LangError.arguments("'target' has \(targets.count) classes for \(n) rows of scores") }
            case let v: throw LangError.arguments("'target' must be a class index or a list of them (one per image), got \(v.typeName)")
            }
            if let bad = targets.first(where: { $0 < 0 || $0 >= k }) { throw LangError.arguments("target \(bad) is out of range: the scores have \(k) classes") }
            let kindName = try a.string("score")
            guard let kind = ScoreKind(rawValue: kindName) else {
                throw LangError.arguments("score must be one of \(ScoreKind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), got \"\(kindName)\"")
            }
            var onehot = [Float](repeating: 0, count: n * k)
            for i in 0..<n { onehot[i * k + targets[i]] = 1 }
            let values: Tensor
            switch kind {
            case .logit: values = s
            case .prob: values = s.softmax(axis: 1)
            case .logprob: values = s.logSoftmax(axis: 1)
            }
            return reduced((values * Tensor(shape: [n, k], data: onehot)).sum())
        },
        Builtin("activations", [BuiltinParam("model"), BuiltinParam("x"), BuiltinParam("layers")],
                doc: "One forward pass capturing layers (a name or a list): a record {logits, <layer>: tensor, ...}. The captured values take part in autograd, so grad_wrt(pick(r.logits, target), r.conv2) gives layer gradients (Grad-CAM in script code).") { a in
            let m = try a.model("model")
            let images: Tensor
            if case let .tensor(t)? = a.values["x"], t.rank == 4 { images = t } else { images = try batch(try a.value("x")).images }
            try checkInput(images, for: m)
            let (layers, _) = try names(try a.value("layers"), what: "layer")
            let known = Set(m.graph.nodes.flatMap { [$0.name] + $0.outputs } + m.graph.inputs.map(\.name))
            for l in layers {
                guard l != "logits" else { throw LangError.arguments("'logits' names the model output in the result; capture that layer by its output value name") }
                guard known.contains(l) else {
                    throw LangError.message("the model has no layer '\(l)'" + (closestName(to: l, in: known.sorted()).map { "; did you mean '\($0)'?" } ?? "") + " (layers(model) lists them)")
                }
            }
            let r = try m.graph.forward(images, options: ForwardOptions(capture: layers))
            // Two names of one value (a node and its output) are captured once, under the first.
            let captured = try layers.map { l -> (String, Value) in
                guard let t = r.captured[l] else { throw LangError.arguments("'\(l)' names the same value as another layer in the list; list it once") }
                return (l, .tensor(t))
            }
            return .record(Record([("logits", .tensor(r.output))] + captured))
        },
        Builtin("grad_wrt", [BuiltinParam("y"), BuiltinParam("x")],
                doc: "Gradient of the scalar y with respect to x, both from one differentiable computation (x a layer from activations(...), y e.g. pick(r.logits, target)); zeros where y does not depend on x.") { a in
            if try a.value("y").isNumberValue {
                throw LangError.message("y is a plain number, so it does not depend on x; compute it from activations(...) values, e.g. pick(r.logits, target)")
            }
            guard let y = a.values["y"]?.asTensor, y.count == 1 else {
                throw LangError.arguments("'y' must be a single number computed from x (e.g. pick(r.logits, target)), got \(a.values["y"]?.summary ?? "nothing")")
            }
            guard y.requiresGrad else { throw LangError.message("y does not depend on anything differentiable, so it has no gradient") }
            let x = try a.tensor("x")
            guard x.requiresGrad else {
                throw LangError.arguments("'x' does not take part in autograd; use a layer from activations(model, x, layer), or grad(f, x) for the input")
            }
            return .tensor(gradient(of: y.reshaped([]), wrt: x))
        },
        unary("relu", "Elementwise max(x, 0).") { $0.relu() },
        Builtin("resize", [BuiltinParam("x"), BuiltinParam("size")],
                doc: "Bilinear resize of [N, C, H, W] to size [h, w] (align_corners=False, PyTorch's F.interpolate), differentiable: a layer map to the input's size.") { a in
            let t = try a.tensor("x")
            guard t.rank == 4, t.count > 0 else { throw LangError.arguments("'x' must be [N, C, H, W], got \(formatShape(t.shape))") }
            let hw = try a.shape("size")
            guard hw.count == 2, hw.allSatisfy({ $0 >= 1 && $0 <= 8192 }) else { throw LangError.arguments("size must be [height, width] with sides in 1...8192, got \(formatShape(hw))") }
            return .tensor(Array(t.shape[2...]) == hw ? t : t.upsampleBilinear(size: hw, alignCorners: false))
        },
        Builtin("randn", [BuiltinParam("shape"), BuiltinParam("seed", default: .number(0))],
                doc: "Standard normal noise of a shape from the seeded generator (the same seed gives the same tensor); in a script method use info.seed + i.") { a in
            let s = try a.number("seed")
            guard s >= 0, s == s.rounded(), s < 9.007_199_254_740_992e15 else { throw LangError.arguments("seed must be a whole number >= 0, got \(formatNumber(s))") }
            var rng = RandomGenerator(seed: UInt64(s))
            return .tensor(Tensor.normal(try checkedShape(a.shape("shape")), rng: &rng))
        },
    ]

    static func isMethodName(_ s: String) -> Bool {
        guard let f = s.first, f.isLetter, f.isASCII else { return false }
        return s.allSatisfy { ($0.isLetter || $0.isNumber) && $0.isASCII || $0 == "_" || $0 == "-" }
    }

    /// One declared parameter: `sigma: 0.5` (a float with that default) or the full form
    /// `sigma: {default: 0.5, min: 0, max: 10, doc: "...", type: "float", choices: [...]}`.
    /// Whole-number defaults are floats unless `type: "int"` says otherwise: every number in
    /// the language is a double, and an int parameter would reject `sigma: 0.5` later.
    static func paramSpec(_ name: String, _ v: Value, method: String) throws -> ParamSpec {
        guard isMethodName(name) && !name.contains("-") else { throw LangError.arguments("parameter name '\(name)' is not a valid name") }
        guard !reservedParameterNames.contains(name) else {
            throw LangError.arguments("parameter name '\(name)' is taken by explain(...) itself; choose another")
        }
        var fields = Record()
        if case let .record(r) = v { fields = r } else { fields["default"] = v }
        let allowed = ["default", "type", "min", "max", "choices", "doc"]
        for k in fields.keys where !allowed.contains(k) {
            throw LangError.arguments("parameter '\(name)': unknown field '\(k)'" + (closestName(to: k, in: allowed).map { "; did you mean '\($0)'?" } ?? "")
                                      + " (fields: \(allowed.joined(separator: ", ")))")
        }
        let given = fields["default"].flatMap { $0.isNone ? nil : $0 }
        var defaultValue: ParamValue? = nil
        if let g = given {
            guard let p = g.paramValue else { throw LangError.arguments("parameter '\(name)': a default cannot be \(g.typeName)") }
            defaultValue = p
        }
        var choices: [String]? = nil
        if let cv = fields["choices"] {
            guard case let .list(items) = cv, !items.isEmpty else { throw LangError.arguments("parameter '\(name)': choices must be a non-empty list of strings") }
            choices = try items.map { item in
                guard case let .string(s) = item else { throw LangError.arguments("parameter '\(name)': choices must be strings, got \(item.typeName)") }
                return s
            }
        }
        let type: ParamType
        if let tv = fields["type"] {
            guard case let .string(t) = tv else { throw LangError.arguments("parameter '\(name)': type must be a string, got \(tv.typeName)") }
            let types: [String: ParamType] = ["int": .int, "float": .float, "number": .float, "bool": .bool, "string": .string,
                                             "layer": .layer, "tensor": .tensor, "numbers": .numbers]
            if t == "choice" || (t == "string" && choices != nil) {
                guard let c = choices else { throw LangError.arguments("parameter '\(name)': type \"choice\" needs choices: [...]") }
                type = .choice(c)
            } else {
                guard let known = types[t] else {
                    throw LangError.arguments("parameter '\(name)': unknown type \"\(t)\"" + (closestName(to: t, in: Array(types.keys) + ["choice"]).map { "; did you mean \"\($0)\"?" } ?? "")
                                              + " (int, float, bool, string, choice, layer, tensor, numbers)")
                }
                guard choices == nil else { throw LangError.arguments("parameter '\(name)': choices go with type \"string\" or \"choice\", not \"\(t)\"") }
                type = known
            }
        } else if let c = choices {
            type = .choice(c)
        } else {
            switch defaultValue {
            case .int?, .float?: type = .float
            case .bool?: type = .bool
            case .string?: type = .string
            case .tensor?: type = .tensor
            case .list?: type = .numbers
            case nil: throw LangError.arguments("parameter '\(name)' needs a default or a type: {type: \"layer\", doc: \"...\"}")
            }
        }
        var range: ClosedRange<Double>? = nil
        if fields["min"] != nil || fields["max"] != nil {
            guard type == .int || type == .float else { throw LangError.arguments("parameter '\(name)': min and max need a number parameter, not \(type)") }
            func bound(_ k: String, _ fallback: Double) throws -> Double {
                guard let b = fields[k] else { return fallback }
                guard case let .number(x) = b, x.isFinite else { throw LangError.arguments("parameter '\(name)': \(k) must be a number, got \(b.summary)") }
                return x
            }
            let lo = try bound("min", -.infinity), hi = try bound("max", .infinity)
            guard lo <= hi else { throw LangError.arguments("parameter '\(name)': min \(formatNumber(lo)) is above max \(formatNumber(hi))") }
            range = lo...hi
        }
        var doc = ""
        if let d = fields["doc"] {
            guard case let .string(s) = d else { throw LangError.arguments("parameter '\(name)': doc must be a string, got \(d.typeName)") }
            doc = s
        }
        let unchecked = ParamSpec(name, type, default: nil, range: range, doc: doc)
        let checked = try defaultValue.map { d -> ParamValue in
            do { return try Params.check(d, spec: unchecked, plugin: method) } catch { throw LangError.arguments("the default of \(error)") }
        }
        return ParamSpec(name, type, default: checked, range: range, doc: doc)
    }
}

extension Value {
    var isNumberValue: Bool { if case .number = self { return true }; return false }
}
