import Foundation
import Plugins
import Runtime

/// A validated pipeline: every reference resolves to an earlier step, every plugin and
/// parameter exists with the right type, `${params.x}` is substituted.
public struct Pipeline: Sendable {
    public var file: String
    public var source: String
    public var version: Int
    public var name: String
    public var seed: UInt64
    public var threads: Int?
    public var params: [String: YAMLValue]
    public var plugins: [String]
    public var steps: [PipelineStep]
}

public struct PipelineStep: Sendable {
    public var kind: StepKind
    public var index: Int
    public var position: YAMLPosition
    /// Arguments after substitution, in file order.
    public var args: [(name: String, value: YAMLValue)]
    public var binding: String?

    public func arg(_ name: String) -> YAMLValue? { args.first { $0.name == name }?.value }
}

/// Validates a pipeline file against `PipelineSchema` and the plugin registry, collecting
/// every problem with its key path and position before anything runs.
public struct PipelineValidator {
    public let registry: Registry
    public var overrides: [String: String]
    private var diagnostics: [PipelineDiagnostic] = []

    /// Runs `.sal` plugins of `plugins:` (and receives compiled ones into its registry);
    /// pass the interpreter that will run the pipeline so script plugins' functions live there.
    public var pluginInterpreter: Interpreter?

    public init(registry: Registry = .shared, overrides: [String: String] = [:], pluginInterpreter: Interpreter? = nil) {
        self.registry = registry
        self.overrides = overrides
        self.pluginInterpreter = pluginInterpreter
    }

    mutating func interpreterForPlugins() -> Interpreter {
        if let i = pluginInterpreter, i.registry === registry { return i }
        let i = Interpreter(registry: registry)
        pluginInterpreter = i
        return i
    }

    public mutating func validate(source: String, file: String) throws -> Pipeline {
        try validate(root: YAMLValue.parse(source, file: file), source: source, file: file)
    }

    /// Validates `root`, the tree `YAMLValue.parse` made of `source` (nil: the file is empty),
    /// for a caller that has read the tree already and need not parse the file twice.
    public mutating func validate(root: YAMLValue?, source: String, file: String) throws -> Pipeline {
        diagnostics = []
        guard let root else {
            throw PipelineError([PipelineDiagnostic(YAMLPosition(file: file, line: 1, column: 1), "", "the pipeline file is empty")])
        }
        guard case let .map(pairs, _) = root else {
            throw PipelineError([PipelineDiagnostic(root.position, "", "a pipeline is a mapping with 'steps:' (and optionally version, name, seed, threads, params, plugins); found \(root.kindName)")])
        }
        var seen = Set<String>()
        for p in pairs {
            if !seen.insert(p.key).inserted { error(p.keyPosition, p.key, "duplicate key '\(p.key)'") }
            if !PipelineSchema.topLevel.contains(where: { $0.name == p.key }) {
                error(p.keyPosition, p.key, "unknown key '\(p.key)'" + suggestion(p.key, PipelineSchema.topLevel.map(\.name)))
            }
        }
        let version = root["version"].flatMap { intValue($0, "version") } ?? 1
        if version != 1, let v = root["version"] { error(v.position, "version", "unsupported pipeline version \(version) (this is version 1)") }
        let name = root["name"].flatMap { stringValue($0, "name") } ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let seed = root["seed"].flatMap { intValue($0, "seed") }.map { UInt64(max($0, 0)) } ?? 0
        let threads = root["threads"].flatMap { intValue($0, "threads") }
        if let t = threads, t < 1, let v = root["threads"] { error(v.position, "threads", "threads must be at least 1, got \(t)") }

        // params, with --set overrides applied (override values are YAML scalars).
        var params: [String: YAMLValue] = [:]
        if let p = root["params"] {
            if case let .map(items, _) = p { for i in items { params[i.key] = i.value } }
            else { error(p.position, "params", "params must be a mapping of names to values, found \(p.kindName)") }
        }
        for (k, v) in overrides {
            let key = k.hasPrefix("params.") ? String(k.dropFirst("params.".count)) : k
            guard k.hasPrefix("params.") else {
                error(YAMLPosition(file: "--set", line: 1, column: 1), k, "--set \(k): only params.NAME can be set"
                      + (params[key] != nil ? "; did you mean 'params.\(key)'?" : suggestion(key, params.keys.map { "params." + $0 })))
                continue
            }
            // A name the pipeline never reads is a typo (scripts reject unknown --set names too).
            guard params[key] != nil else {
                error(YAMLPosition(file: "--set", line: 1, column: 1), k, "--set \(k): the pipeline has no parameter '\(key)'"
                      + (params.isEmpty ? " (it declares no params:)" : suggestion(key, Array(params.keys)).nilIfEmpty ?? " (it has: \(params.keys.sorted().joined(separator: ", ")))"))
                continue
            }
            params[key] = .scalar(v, YAMLPosition(file: "--set \(k)", line: 1, column: 1), quoted: false)
        }
        // Plugins load before the steps are checked: their methods must be known by then.
        var plugins: [String] = []
        if let p = root["plugins"] {
            if case let .list(items, _) = p {
                for (i, item) in items.enumerated() {
                    guard let path = stringValue(item, "plugins[\(i)]") else { continue }
                    let resolved = PluginLoader.resolve(path, relativeTo: (file as NSString).deletingLastPathComponent)
                    do {
                        try PluginLoader.load(resolved, into: interpreterForPlugins())
                        plugins.append(resolved)
                    } catch let e as ScriptError {
                        // The script's first diagnostic line (file:line:col: message) keeps the caret on the YAML item.
                        let first = e.description.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
                        error(item.position, "plugins[\(i)]", "plugin script failed: \(first)")
                    } catch {
                        self.error(item.position, "plugins[\(i)]", "\(error)")
                    }
                }
            } else {
                error(p.position, "plugins", "plugins must be a list of plugin paths (.so, .dylib or .sal), found \(p.kindName)")
            }
        }

        var steps: [PipelineStep] = []
        var bound: [String: Int] = [:]  // name -> step index
        if let s = root["steps"] {
            if case let .list(items, _) = s {
                if items.isEmpty { error(s.position, "steps", "steps is empty: nothing to run") }
                for (i, item) in items.enumerated() {
                    if let step = validateStep(item, index: i, params: params, bound: &bound) { steps.append(step) }
                }
            } else {
                error(s.position, "steps", "steps must be a list of steps (- load: ..., - explain: ...), found \(s.kindName)")
            }
        } else {
            error(root.position, "", "missing key 'steps'")
        }
        if !diagnostics.isEmpty {
            throw PipelineError(diagnostics.sorted { ($0.position.line, $0.position.column) < ($1.position.line, $1.position.column) })
        }
        return Pipeline(file: file, source: source, version: version, name: name, seed: seed, threads: threads,
                        params: params, plugins: plugins, steps: steps)
    }

    // MARK: steps

    mutating func validateStep(_ item: YAMLValue, index i: Int, params: [String: YAMLValue], bound: inout [String: Int]) -> PipelineStep? {
        let path = "steps[\(i)]"
        guard case let .map(pairs, pos) = item, pairs.count == 1, let only = pairs.first else {
            if case let .map(pairs, _) = item, pairs.count > 1 {
                error(pairs[1].keyPosition, path, "a step has exactly one kind (\(StepKind.allCases.map(\.rawValue).joined(separator: ", "))); found '\(pairs[0].key)' and '\(pairs[1].key)' (indent the arguments under the step kind)")
            } else {
                error(item.position, path, "a step is '- KIND: {arguments}' with KIND one of \(StepKind.allCases.map(\.rawValue).joined(separator: ", ")); found \(item.kindName)")
            }
            return nil
        }
        guard let kind = StepKind(rawValue: only.key), let schema = PipelineSchema.steps[kind] else {
            error(only.keyPosition, path, "unknown step '\(only.key)'" + suggestion(only.key, StepKind.allCases.map(\.rawValue)))
            return nil
        }
        let stepPath = "\(path).\(kind.rawValue)"
        guard case let .map(argPairs, _) = only.value else {
            error(only.value.position, stepPath, "the arguments of '\(kind.rawValue)' must be a mapping (name: value), found \(only.value.kindName)")
            return nil
        }
        var args: [(name: String, value: YAMLValue)] = []
        var names = Set<String>()
        for a in argPairs {
            let argPath = "\(stepPath).\(a.key)"
            if !names.insert(a.key).inserted { error(a.keyPosition, argPath, "duplicate argument '\(a.key)'"); continue }
            guard let spec = schema.args.first(where: { $0.name == a.key }) else {
                error(a.keyPosition, argPath, "'\(kind.rawValue)' has no argument '\(a.key)'" + suggestion(a.key, schema.args.map(\.name)))
                continue
            }
            let value = substitute(a.value, params: params, path: argPath)
            checkType(value, spec: spec, path: argPath, bound: bound, stepIndex: i)
            args.append((a.key, value))
        }
        for spec in schema.args where spec.required && !names.contains(spec.name) {
            error(pos, stepPath, "'\(kind.rawValue)' is missing its argument '\(spec.name)' (\(spec.doc))")
        }
        for group in schema.exactlyOne {
            let given = group.filter(names.contains)
            if given.count != 1 {
                error(pos, stepPath, "'\(kind.rawValue)' needs exactly one of " + group.map { "'\($0)'" }.joined(separator: " or ")
                      + (given.isEmpty ? "" : ", found " + given.map { "'\($0)'" }.joined(separator: " and ")))
            }
        }
        if kind == .save, case let .scalar(file, fpos, _)? = args.first(where: { $0.name == "path" })?.value {
            if let problem = SavePath.lexicalProblem(file) { error(fpos, "\(stepPath).path", problem) }
            let ext = (file as NSString).pathExtension.lowercased()
            if !Builtins.saveExtensions.contains(ext) {
                error(fpos, "\(stepPath).path", "cannot save to '.\(ext)' files; use " + Builtins.saveExtensions.map { "." + $0 }.joined(separator: ", ")
                      + (closestName(to: ext, in: Builtins.saveExtensions).map { "; did you mean '.\($0)'?" } ?? ""))
            }
        }
        if kind == .load, let d = args.first(where: { $0.name == "dataset" })?.value, case let .scalar(dname, dpos, _) = d {
            do { _ = try registry.dataset(dname) } catch { self.error(dpos, "\(stepPath).dataset", "\(error)") }
        }
        var binding: String?
        if let a = args.first(where: { $0.name == "as" })?.value, case let .scalar(n, p, _) = a {
            if !isIdentifier(n) { error(p, "\(stepPath).as", "'\(n)' is not a valid name (letters, digits and _, not starting with a digit)") }
            else if let earlier = bound[n] { error(p, "\(stepPath).as", "'\(n)' is already bound by steps[\(earlier)]") }
            else { bound[n] = i; binding = n }
        }
        return PipelineStep(kind: kind, index: i, position: pos, args: args, binding: binding)
    }

    mutating func checkType(_ v: YAMLValue, spec: ArgSpec, path: String, bound: [String: Int], stepIndex: Int) {
        func expect(_ ok: Bool) { if !ok { error(v.position, path, "'\(spec.name)' expects \(spec.type), found \(v.kindName)") } }
        switch spec.type {
        case .string: if case .scalar = v { expect(true) } else { expect(false) }
        case .int: expect(intValue(v, nil) != nil)
        case .number: if case let .scalar(s, _, q) = v { expect(!q && Double(s) != nil) } else { expect(false) }
        case .bool: if case let .scalar(s, _, q) = v { expect(!q && ["true", "false"].contains(s.lowercased())) } else { expect(false) }
        case .any: break
        case let .choice(options):
            if case let .scalar(s, p, _) = v {
                if !options.contains(s) { error(p, path, "'\(spec.name)' must be one of \(options.joined(separator: ", ")), found '\(s)'" + suggestion(s, options)) }
            } else { expect(false) }
        case .size:
            switch v {
            case .scalar: expect(intValue(v, nil).map { $0 > 0 } ?? false)
            case let .list(items, _): expect(items.count == 2 && items.allSatisfy { intValue($0, nil).map { $0 > 0 } ?? false })
            default: expect(false)
            }
        case .reference: checkReference(v, path: path, bound: bound)
        case .references:
            if case let .list(items, _) = v {
                if items.isEmpty { error(v.position, path, "'\(spec.name)' is an empty list") }
                for (k, it) in items.enumerated() { checkReference(it, path: "\(path)[\(k)]", bound: bound) }
            } else { checkReference(v, path: path, bound: bound) }
        case .methods: checkPlugins(v, path: path, kind: "method")
        case .metrics: checkPlugins(v, path: path, kind: "metric")
        }
    }

    mutating func checkReference(_ v: YAMLValue, path: String, bound: [String: Int]) {
        guard case let .scalar(n, p, _) = v else {
            error(v.position, path, "expected the name of an earlier result, found \(v.kindName)"); return
        }
        if bound[n] == nil {
            error(p, path, "'\(n)' is not the name of an earlier result" + suggestion(n, Array(bound.keys))
                  + (bound.isEmpty ? " (bind results with 'as: NAME')" : ""))
        }
    }

    /// `name`, `{name: {param: value}}`, or a list of these; names and parameters are checked
    /// against the registry's schemas (types, ranges, unknown names with suggestions).
    mutating func checkPlugins(_ v: YAMLValue, path: String, kind: String) {
        switch v {
        case let .list(items, _):
            if items.isEmpty { error(v.position, path, "the list of \(kind)s is empty") }
            for (k, it) in items.enumerated() { checkPlugins(it, path: "\(path)[\(k)]", kind: kind) }
        case let .scalar(name, p, _):
            checkPlugin(name, at: p, params: [], path: path, kind: kind)
        case let .map(pairs, _):
            guard pairs.count == 1, let only = pairs.first else {
                error(v.position, path, "write one \(kind) per list item: {\(kind): {parameters}}"); return
            }
            var given: [(String, YAMLValue, YAMLPosition)] = []
            switch only.value {
            case let .map(ps, _): given = ps.map { ($0.key, $0.value, $0.keyPosition) }
            case .scalar("", _, _): break
            default: error(only.value.position, "\(path).\(only.key)", "the parameters of '\(only.key)' must be a mapping, found \(only.value.kindName)")
            }
            checkPlugin(only.key, at: only.keyPosition, params: given, path: "\(path).\(only.key)", kind: kind)
        }
    }

    mutating func checkPlugin(_ name: String, at p: YAMLPosition, params: [(String, YAMLValue, YAMLPosition)], path: String, kind: String) {
        let schema: [ParamSpec]
        do {
            schema = kind == "method" ? try registry.explainer(name).parameters : try registry.metric(name).parameters
        } catch {
            self.error(p, path, "\(error)"); return
        }
        for (k, value, kp) in params {
            if k == "label" {
                if case .scalar = value { continue }
                error(value.position, "\(path).label", "'label' must be a string, found \(value.kindName)"); continue
            }
            guard let spec = schema.first(where: { $0.name == k }) else {
                error(kp, "\(path).\(k)", "'\(name)' has no parameter '\(k)'" + suggestion(k, schema.map(\.name))); continue
            }
            do { _ = try Params.check(paramValue(value), spec: spec, plugin: name) }
            catch { self.error(value.position, "\(path).\(k)", "\(error)") }
        }
    }

    // MARK: helpers

    /// Replaces `${params.NAME}` in scalars; a whole-scalar reference keeps the param's type.
    mutating func substitute(_ v: YAMLValue, params: [String: YAMLValue], path: String) -> YAMLValue {
        switch v {
        case let .scalar(s, p, q):
            guard s.contains("${") else { return v }
            if s.hasPrefix("${params."), s.hasSuffix("}"), !s.dropFirst(2).dropLast().contains("$") {
                let key = String(s.dropFirst("${params.".count).dropLast())
                guard let value = params[key] else {
                    error(p, path, "unknown parameter '\(key)' in \(s)" + suggestion(key, Array(params.keys))); return v
                }
                return relocate(value, to: p)
            }
            var out = s, failed = false
            while let r = out.range(of: "${params.") , let end = out[r.upperBound...].firstIndex(of: "}") {
                let key = String(out[r.upperBound..<end])
                guard let value = params[key], case let .scalar(text, _, _) = value else {
                    error(p, path, "unknown parameter '\(key)' in \(s)" + suggestion(key, Array(params.keys))); failed = true; break
                }
                out.replaceSubrange(r.lowerBound...end, with: text)
            }
            if !failed && out.contains("${") { error(p, path, "cannot substitute '\(s)': write ${params.NAME}") }
            return .scalar(out, p, quoted: q)
        case let .list(items, p): return .list(items.map { substitute($0, params: params, path: path) }, p)
        case let .map(pairs, p):
            return .map(pairs.map { ($0.key, $0.keyPosition, substitute($0.value, params: params, path: "\(path).\($0.key)")) }, p)
        }
    }

    func relocate(_ v: YAMLValue, to p: YAMLPosition) -> YAMLValue {
        switch v {
        case let .scalar(s, _, q): return .scalar(s, p, quoted: q)
        case let .list(items, _): return .list(items, p)
        case let .map(pairs, _): return .map(pairs, p)
        }
    }

    mutating func intValue(_ v: YAMLValue, _ key: String?) -> Int? {
        if case let .scalar(s, _, q) = v, !q, let i = Int(s) { return i }
        if let key { error(v.position, key, "'\(key)' expects an integer, found \(v.kindName)") }
        return nil
    }

    mutating func stringValue(_ v: YAMLValue, _ key: String) -> String? {
        if case let .scalar(s, _, _) = v { return s }
        error(v.position, key, "'\(key)' expects a string, found \(v.kindName)")
        return nil
    }

    mutating func error(_ p: YAMLPosition, _ path: String, _ message: String) {
        diagnostics.append(PipelineDiagnostic(p, path, message))
    }

    func suggestion(_ name: String, _ candidates: [String]) -> String {
        closestName(to: name, in: candidates).map { "; did you mean '\($0)'?" } ?? ""
    }

    func isIdentifier(_ s: String) -> Bool {
        guard let f = s.first, f.isLetter || f == "_" else { return false }
        return s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
    }
}

/// A YAML value as a plugin parameter value (numbers, booleans, strings, lists).
public func paramValue(_ v: YAMLValue) -> ParamValue {
    switch v {
    case let .scalar(s, _, quoted):
        if !quoted {
            if let i = Int(s) { return .int(i) }
            if let d = Double(s) { return .float(d) }
            if s.lowercased() == "true" { return .bool(true) }
            if s.lowercased() == "false" { return .bool(false) }
        }
        return .string(s)
    case let .list(items, _): return .list(items.map(paramValue))
    case let .map(pairs, _): return .string("{" + pairs.map(\.key).joined(separator: ", ") + "}")
    }
}

extension String {
    /// nil for "", so a missing suggestion can fall back to a list.
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
