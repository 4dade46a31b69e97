import Foundation

/// One parameter of a builtin: required when it has no default; parameters after the
/// positional ones are usually given by name (`top: 5`).
public struct BuiltinParam: Sendable {
    public var name: String
    public var defaultValue: Value?
    /// Optional with no default (the builtin decides).
    public var optional: Bool
    public init(_ name: String, default d: Value? = nil, optional: Bool = false) {
        self.name = name; self.defaultValue = d; self.optional = optional || d != nil
    }
}

/// The arguments of one builtin call after binding: parameters by name, extra positional
/// values (variadic builtins), extra named values (plugin parameters).
public struct CallArguments {
    public var values: [String: Value]
    public var rest: [Value]
    public var extra: [(String, Value)]
    public let interpreter: Interpreter
    public let loc: SourceLocation
    public let name: String

    public subscript(_ n: String) -> Value? { values[n].flatMap { $0.isNone ? nil : $0 } }
}

/// An entry of the one builtin table: what `help`, `:help` and completion read.
public struct Builtin: Sendable {
    public var name: String
    public var params: [BuiltinParam]
    /// Takes any number of extra positional values (print).
    public var variadic: Bool
    /// Accepts named arguments beyond `params` (forwarded to plugins).
    public var extraNamed: Bool
    public var doc: String
    let impl: @Sendable (CallArguments) throws -> Value

    public init(_ name: String, _ params: [BuiltinParam], variadic: Bool = false, extraNamed: Bool = false, doc: String,
                _ impl: @escaping @Sendable (CallArguments) throws -> Value) {
        self.name = name; self.params = params; self.variadic = variadic; self.extraNamed = extraNamed; self.doc = doc; self.impl = impl
    }

    /// `predict(model, x, top: 5)`.
    public var signature: String {
        var parts = params.map { p -> String in
            if let d = p.defaultValue { return "\(p.name): \(d.summary)" }
            return p.optional ? "\(p.name): none" : p.name
        }
        if variadic { parts.append("...") }
        if extraNamed { parts.append("...params") }
        return "\(name)(" + parts.joined(separator: ", ") + ")"
    }
}

/// Errors builtins throw; the interpreter adds the call's location and name.
public enum LangError: Error, CustomStringConvertible {
    /// A general failure ("no such file").
    case message(String)
    /// The call itself is wrong: the rendered error shows the signature.
    case arguments(String)
    public var description: String { switch self { case let .message(m), let .arguments(m): return m } }
}
