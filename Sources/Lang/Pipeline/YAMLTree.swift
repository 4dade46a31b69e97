import Yams

/// A YAML value with its source position, as the pipeline validator walks it. Yams gives
/// line:column for syntax errors only; composing the node tree keeps every node's `Mark`, so
/// type and missing-key errors point at the right place too.
public indirect enum YAMLValue: Sendable, Equatable {
    case scalar(String, YAMLPosition, quoted: Bool)
    case list([YAMLValue], YAMLPosition)
    /// Keys in file order (duplicates are reported by the validator).
    case map([(key: String, keyPosition: YAMLPosition, value: YAMLValue)], YAMLPosition)

    public static func == (a: YAMLValue, b: YAMLValue) -> Bool {
        switch (a, b) {
        case let (.scalar(x, p, q), .scalar(y, r, s)): return x == y && p == r && q == s
        case let (.list(x, p), .list(y, r)): return x == y && p == r
        case let (.map(x, p), .map(y, r)):
            return p == r && x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public var position: YAMLPosition {
        switch self { case let .scalar(_, p, _), let .list(_, p), let .map(_, p): return p }
    }

    /// What a user would call this value's type in an error message.
    public var kindName: String {
        switch self {
        case let .scalar(s, _, quoted):
            if quoted { return "a string" }
            if Int(s) != nil { return "an integer" }
            if Double(s) != nil { return "a number" }
            if ["true", "false", "yes", "no"].contains(s.lowercased()) { return "a boolean" }
            if s.isEmpty || s == "~" || s == "null" { return "nothing" }
            return "a string"
        case .list: return "a list"
        case .map: return "a mapping"
        }
    }

    public subscript(key: String) -> YAMLValue? {
        if case let .map(pairs, _) = self { return pairs.first { $0.key == key }?.value }
        return nil
    }

    /// Parses YAML text, keeping positions. Syntax errors come back as a diagnostic.
    public static func parse(_ text: String, file: String) throws -> YAMLValue? {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw PipelineError([PipelineDiagnostic.yamlSyntax(e, file: file)])
        }
        guard let node else { return nil }
        var budget = maxNodes
        return try convert(node, file: file, budget: &budget)
    }

    /// Values a pipeline file may expand to. Yams resolves an alias (`*a`) to the very node
    /// its anchor (`&a`) names, so composing is linear in the file; walking the result as a
    /// tree is not: eight levels of nine aliases each are 550 bytes and 9^8 nodes. A real
    /// pipeline has a few hundred.
    public static let maxNodes = 100_000

    static func convert(_ node: Node, file: String, budget: inout Int) throws -> YAMLValue {
        func pos(_ m: Mark?) -> YAMLPosition { YAMLPosition(file: file, line: m?.line ?? 1, column: m?.column ?? 1) }
        budget -= 1
        guard budget >= 0 else {
            throw PipelineError([PipelineDiagnostic(pos(node.mark), "", "the file expands to more than \(maxNodes) YAML values (aliases repeat what their anchors name, and nested aliases multiply); write the values out or use fewer aliases")])
        }
        switch node {
        case let .scalar(s):
            let quoted = s.style == .singleQuoted || s.style == .doubleQuoted || s.style == .literal || s.style == .folded
            return .scalar(s.string, pos(s.mark), quoted: quoted)
        case let .sequence(seq):
            var items: [YAMLValue] = []
            for item in seq { items.append(try convert(item, file: file, budget: &budget)) }
            return .list(items, pos(seq.mark))
        case let .mapping(map):
            var pairs: [(key: String, keyPosition: YAMLPosition, value: YAMLValue)] = []
            for pair in map {
                let keyText: String
                // Not the key's description: an aliased key may stand for an enormous tree.
                switch pair.key {
                case let .scalar(k): keyText = k.string
                case .sequence: keyText = "[...]"
                case .mapping: keyText = "{...}"
                case .alias: keyText = "*alias"
                }
                pairs.append((keyText, pos(pair.key.mark), try convert(pair.value, file: file, budget: &budget)))
            }
            return .map(pairs, pos(map.mark))
        case let .alias(a):
            return .scalar("", pos(a.mark), quoted: false)
        }
    }
}

/// file:line:column (1-based).
public struct YAMLPosition: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public init(file: String, line: Int, column: Int) { self.file = file; self.line = line; self.column = column }
    public var description: String { "\(file):\(line):\(column)" }
}
