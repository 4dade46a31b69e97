import Runtime

/// A parameter value as plugins receive it (from the language, pipelines or Swift).
public enum ParamValue: Sendable, Equatable, CustomStringConvertible {
    case int(Int), float(Double), string(String), bool(Bool), list([ParamValue]), tensor(Tensor)

    public static func == (a: ParamValue, b: ParamValue) -> Bool {
        switch (a, b) {
        case let (.int(x), .int(y)): return x == y
        case let (.float(x), .float(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case let (.list(x), .list(y)): return x == y
        case let (.tensor(x), .tensor(y)): return x.shape == y.shape && x.scalars == y.scalars
        default: return false
        }
    }

    public var description: String {
        switch self {
        case let .int(v): return String(v)
        case let .float(v): return v == v.rounded() && Swift.abs(v) < 1e15 ? String(format: "%.1f", v) : String(v)
        case let .string(v): return "\"\(v)\""
        case let .bool(v): return String(v)
        case let .list(v): return "[" + v.map(\.description).joined(separator: ", ") + "]"
        case let .tensor(t): return "tensor\(t.shape)"
        }
    }
}

/// The declared type of a plugin parameter.
public enum ParamType: Sendable, Equatable, CustomStringConvertible {
    case int, float, bool, string
    /// One of a fixed set of strings.
    case choice([String])
    /// A layer (node or value) name of the model; validated against the model at run time.
    case layer
    /// A tensor value (a baseline image, for instance).
    case tensor
    /// A list of numbers.
    case numbers

    public var description: String {
        switch self {
        case .int: return "int"
        case .float: return "float"
        case .bool: return "bool"
        case .string: return "string"
        case let .choice(c): return c.map { "\"\($0)\"" }.joined(separator: " | ")
        case .layer: return "layer"
        case .tensor: return "tensor"
        case .numbers: return "list of numbers"
        }
    }
}

/// When a parameter of a method takes effect.
public enum ParamPhase: String, Sendable, CaseIterable {
    /// Read by the method's fit: what it learns depends on it. The fit cache key covers it,
    /// the fitted state keeps its value, and an explain call may repeat that value but not
    /// change it (`FitState.settle`).
    case fit
    /// Read when explaining (every parameter of a method without a fit phase, and of
    /// metrics and datasets).
    case explain
}

/// One entry of a plugin's parameter schema: what `:help`, tab completion, pipeline
/// validation and the plugin itself all read.
public struct ParamSpec: Sendable {
    public let name: String
    public let type: ParamType
    /// nil: the parameter is optional with no default (the plugin decides, e.g. "last conv layer").
    public let defaultValue: ParamValue?
    public let range: ClosedRange<Double>?
    /// `.fit` for what a fitting method's fit reads; `.explain` otherwise.
    public let phase: ParamPhase
    public let doc: String

    public init(_ name: String, _ type: ParamType, default defaultValue: ParamValue? = nil,
                range: ClosedRange<Double>? = nil, phase: ParamPhase = .explain, doc: String) {
        self.name = name; self.type = type; self.defaultValue = defaultValue; self.range = range; self.phase = phase; self.doc = doc
    }

    /// "steps: int = 50 in 1...10000  (doc)"
    public var signature: String {
        var s = "\(name): \(type)"
        if let d = defaultValue { s += " = \(d)" }
        if let r = range { s += " in \(fmtBound(r.lowerBound))...\(fmtBound(r.upperBound))" }
        return s
    }
}

private func fmtBound(_ v: Double) -> String { v == v.rounded() && Swift.abs(v) < 1e12 ? String(Int(v)) : String(v) }

public enum PluginError: Error, CustomStringConvertible, Equatable {
    case unknownPlugin(kind: String, name: String, suggestion: String?)
    case unknownParameter(plugin: String, name: String, suggestion: String?)
    case wrongType(plugin: String, name: String, expected: String, got: String)
    case outOfRange(plugin: String, name: String, value: String, range: String)
    case invalid(String)
    /// A plugin read a parameter it does not declare, one without a value, or as the wrong
    /// type: a bug in the plugin, reported instead of trapping.
    case parameterAccess(plugin: String, name: String, problem: String)
    case cancelled

    public var description: String {
        switch self {
        case let .unknownPlugin(kind, name, s): return "unknown \(kind) '\(name)'" + (s.map { "; did you mean '\($0)'?" } ?? "")
        case let .unknownParameter(p, n, s): return "'\(p)' has no parameter '\(n)'" + (s.map { "; did you mean '\($0)'?" } ?? "")
        case let .wrongType(p, n, e, g): return "parameter '\(n)' of '\(p)' expects \(e), got \(g)"
        case let .outOfRange(p, n, v, r): return "parameter '\(n)' of '\(p)' is \(v), outside \(r)"
        case let .invalid(m): return m
        case let .parameterAccess(p, n, why): return "'\(p)' cannot read its parameter '\(n)': \(why)"
        case .cancelled: return "cancelled"
        }
    }
}

/// Resolved, validated parameters: every schema entry with a value (given or default).
///
/// The accessors throw `PluginError.parameterAccess` naming the plugin and the parameter
/// when a plugin reads a name its schema does not declare (a misspelling), a required
/// value that is missing, or a value of another type; `string`, `tensor` and `numbers`
/// return nil for a declared optional parameter that was not given.
public struct Params: Sendable, Equatable, CustomStringConvertible {
    public private(set) var values: [String: ParamValue]
    /// Whose parameters these are (error messages).
    public let plugin: String
    /// The names the plugin's schema declares; nil when built without a schema (then any
    /// absent name is "not given").
    let declared: Set<String>?

    public init(_ values: [String: ParamValue] = [:], plugin: String = "plugin") {
        self.values = values; self.plugin = plugin; self.declared = nil
    }

    init(_ values: [String: ParamValue], plugin: String, declared: Set<String>) {
        self.values = values; self.plugin = plugin; self.declared = declared
    }

    /// Equal values (who they belong to does not count).
    public static func == (a: Params, b: Params) -> Bool { a.values == b.values }

    public subscript(_ name: String) -> ParamValue? { values[name] }

    /// The value of `name`, nil when it is declared (or no schema is known) but not given.
    func lookup(_ name: String) throws -> ParamValue? {
        if let v = values[name] { return v }
        if let declared, !declared.contains(name) {
            let hint = closestName(to: name, in: declared.sorted()).map { "; did you mean '\($0)'?" } ?? ""
            throw PluginError.parameterAccess(plugin: plugin, name: name, problem: "its schema declares no such parameter\(hint)")
        }
        return nil
    }

    func required(_ name: String) throws -> ParamValue {
        guard let v = try lookup(name) else {
            throw PluginError.parameterAccess(plugin: plugin, name: name, problem: "it has no value (no default, and none was given)")
        }
        return v
    }

    func wrongType(_ name: String, _ v: ParamValue, _ type: String) -> PluginError {
        .parameterAccess(plugin: plugin, name: name, problem: "it is \(Params.typeName(v)), not \(type)")
    }

    public func int(_ name: String) throws -> Int {
        switch try required(name) {
        case let .int(v): return v
        case let .float(v) where v == v.rounded() && v >= Double(Int.min) && v < Double(Int.max): return Int(v)
        case let v: throw wrongType(name, v, "an int")
        }
    }
    public func float(_ name: String) throws -> Double {
        switch try required(name) {
        case let .float(v): return v
        case let .int(v): return Double(v)
        case let v: throw wrongType(name, v, "a float")
        }
    }
    public func bool(_ name: String) throws -> Bool {
        switch try required(name) {
        case let .bool(v): return v
        case let v: throw wrongType(name, v, "a bool")
        }
    }
    public func string(_ name: String) throws -> String? {
        switch try lookup(name) {
        case nil: return nil
        case let .string(v)?: return v
        case let v?: throw wrongType(name, v, "a string")
        }
    }
    public func tensor(_ name: String) throws -> Tensor? {
        switch try lookup(name) {
        case nil: return nil
        case let .tensor(v)?: return v
        case let v?: throw wrongType(name, v, "a tensor")
        }
    }
    public func numbers(_ name: String) throws -> [Double]? {
        switch try lookup(name) {
        case nil: return nil
        case let .list(items)?:
            return try items.map { item -> Double in
                switch item {
                case let .int(i): return Double(i)
                case let .float(f): return f
                default: throw wrongType(name, .list(items), "a list of numbers")
                }
            }
        case let v?: throw wrongType(name, v, "a list of numbers")
        }
    }
    public mutating func set(_ name: String, _ v: ParamValue) { values[name] = v }

    /// "steps=50, baseline=\"zeros\"" in name order.
    public var description: String { values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") }

    /// Checks `given` against `schema` (names, types, ranges) and fills in defaults.
    public static func resolve(_ given: [String: ParamValue], schema: [ParamSpec], plugin: String) throws -> Params {
        var out: [String: ParamValue] = [:]
        let names = schema.map(\.name)
        for (k, v) in given {
            guard let spec = schema.first(where: { $0.name == k }) else {
                throw PluginError.unknownParameter(plugin: plugin, name: k, suggestion: closestName(to: k, in: names))
            }
            out[k] = try check(v, spec: spec, plugin: plugin)
        }
        for spec in schema where out[spec.name] == nil {
            if let d = spec.defaultValue { out[spec.name] = d }
        }
        return Params(out, plugin: plugin, declared: Set(names))
    }

    /// Checks one value against its spec (type, range, choices), converting int <-> float where exact.
    public static func check(_ v: ParamValue, spec: ParamSpec, plugin: String) throws -> ParamValue {
        func wrong() -> PluginError { .wrongType(plugin: plugin, name: spec.name, expected: spec.type.description, got: typeName(v)) }
        var value = v
        switch (spec.type, v) {
        case (.int, .int), (.float, .float), (.bool, .bool), (.string, .string), (.layer, .string), (.tensor, .tensor): break
        case (.int, .float(let f)):
            // Whole and within Int's range (1e300 and inf are whole too, and would trap).
            guard f == f.rounded(), f >= Double(Int.min), f < Double(Int.max) else { throw wrong() }
            value = .int(Int(f))
        case (.float, .int(let i)): value = .float(Double(i))
        case (.choice(let options), .string(let s)):
            guard options.contains(s) else {
                throw PluginError.invalid("parameter '\(spec.name)' of '\(plugin)' must be one of \(spec.type), got \"\(s)\""
                    + (closestName(to: s, in: options).map { "; did you mean \"\($0)\"?" } ?? ""))
            }
        case (.numbers, .list(let items)):
            guard items.allSatisfy({ if case .int = $0 { return true }; if case .float = $0 { return true }; return false }) else { throw wrong() }
        default: throw wrong()
        }
        if let r = spec.range {
            let x: Double? = { if case let .int(i) = value { return Double(i) }; if case let .float(f) = value { return f }; return nil }()
            if let x, !r.contains(x) {
                throw PluginError.outOfRange(plugin: plugin, name: spec.name, value: value.description, range: "\(fmtBound(r.lowerBound))...\(fmtBound(r.upperBound))")
            }
        }
        return value
    }

    static func typeName(_ v: ParamValue) -> String {
        switch v {
        case .int: return "an int"
        case .float: return "a float"
        case .bool: return "a bool"
        case .string: return "a string"
        case .list: return "a list"
        case .tensor: return "a tensor"
        }
    }
}
