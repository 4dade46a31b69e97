/// A model as a named graph: ONNX-shaped nodes (op type, attributes, named inputs and
/// outputs) over named values, executed by our own kernels with autograd.
///
/// One representation serves every source of models: ONNX import keeps the file's node
/// and value names, Swift builders create the same nodes, and ONNX export writes them back.
/// `forward` can capture any value, intervene on it, or stop early at it — everything the
/// explainers need (Grad-CAM's layer, CHIP's channel gates, VEbI's per-layer responses,
/// Noise Mask's feature maps).
public final class Graph: @unchecked Sendable {
    public var name: String
    /// Graph inputs that are not weights, with their declared shapes (-1 = dynamic).
    public var inputs: [ValueInfo]
    /// Names of the graph outputs (logits first).
    public var outputs: [String]
    /// Nodes in topological order.
    public private(set) var nodes: [GraphNode]
    /// Weights and constants by value name, as parameters: trainable ones are autograd
    /// leaves an optimizer updates in place, the rest (frozen) are plain tensors.
    public private(set) var parameters: [String: Parameter]
    /// Class names (from ONNX metadata_props "labels", or set by whoever built the graph).
    public var labels: [String]?
    /// Opset of the default ONNX domain the nodes follow.
    public var opset: Int
    /// Free-form metadata carried to and from ONNX metadata_props.
    public var metadata: [String: String]
    /// Weights and constant outputs that hold integers (shapes, axes, indices): we compute
    /// with them as Float32, and export writes them back as int64.
    public var integerValues: Set<String> = []
    /// Node lists of forward passes (full, and suffixes from a cut), computed once each.
    let planCache = PlanCache()

    public init(name: String, inputs: [ValueInfo], outputs: [String], nodes: [GraphNode],
                weights: [String: Tensor], trainable: Set<String> = [], labels: [String]? = nil,
                opset: Int = 17, metadata: [String: String] = [:]) throws {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = []
        self.parameters = Dictionary(uniqueKeysWithValues: weights.map { ($0.key, Parameter(name: $0.key, value: $0.value, frozen: !trainable.contains($0.key))) })
        self.labels = labels
        self.opset = opset
        self.metadata = metadata
        self.nodes = try Graph.topologicallySorted(nodes, available: Set(inputs.map(\.name)).union(weights.keys), graphName: name)
        for o in outputs where producer(of: o) == nil && parameters[o] == nil && !inputs.contains(where: { $0.name == o }) {
            throw GraphError.malformed("graph '\(name)': output '\(o)' is produced by no node")
        }
    }

    /// The node that produces value `name`, if any.
    public func producer(of value: String) -> GraphNode? { nodes.first { $0.outputs.contains(value) } }

    /// Resolves a user-facing layer name: a node name or a value name.
    /// Returns the value name to capture.
    public func resolveValue(_ layer: String) throws -> String {
        if nodes.contains(where: { $0.outputs.contains(layer) }) || inputs.contains(where: { $0.name == layer }) { return layer }
        if let n = nodes.first(where: { $0.name == layer }), let out = n.outputs.first { return out }
        let candidates = nodes.map(\.name) + nodes.flatMap(\.outputs)
        throw GraphError.unknownLayer(layer, suggestion: closestName(to: layer, in: candidates))
    }

    /// Weight values by name (a snapshot; use `weight(_:)` for single lookups).
    public var weights: [String: Tensor] { parameters.mapValues(\.value) }
    public func weight(_ name: String) -> Tensor? { parameters[name]?.value }

    /// Names of the weights training updates.
    public var trainable: Set<String> { Set(parameters.filter { !$0.value.isFrozen }.keys) }
    /// Trainable parameters in name order (what an optimizer takes).
    public var trainableParameters: [Parameter] {
        parameters.sorted { $0.key < $1.key }.map(\.value).filter { !$0.isFrozen }
    }

    /// Overwrites a weight's values in place (shape must match), keeping its autograd leaf.
    public func setWeight(_ name: String, _ value: Tensor) throws {
        guard let p = parameters[name] else { throw GraphError.malformed("graph '\(self.name)' has no weight '\(name)'") }
        guard p.shape == value.shape else {
            throw GraphError.malformed("weight '\(name)' has shape \(p.shape), got \(value.shape)")
        }
        p.assign(value)
    }

    /// Marks the named weights trainable (autograd leaves) and freezes the rest.
    public func setTrainable(_ names: Set<String>) {
        for (n, p) in parameters { p.isFrozen = !names.contains(n) }
    }

    /// Freezes every weight (explainers treat the classifier as fixed).
    public func freeze() { setTrainable([]) }

    /// An independent copy: same nodes, labels and metadata, the same weights with the same
    /// trainable set, in storage of its own (training the copy leaves this graph as it was:
    /// a fit that fine-tunes works on a copy).
    public func copy() throws -> Graph {
        let g = try Graph(name: name, inputs: inputs, outputs: outputs, nodes: nodes, weights: weights, trainable: trainable,
                          labels: labels, opset: opset, metadata: metadata)
        g.integerValues = integerValues
        return g
    }

    static func topologicallySorted(_ nodes: [GraphNode], available: Set<String>, graphName: String) throws -> [GraphNode] {
        var have = available
        have.insert("")
        var remaining = nodes, sorted: [GraphNode] = []
        sorted.reserveCapacity(nodes.count)
        var seenOutputs = Set<String>()
        for n in nodes {
            for o in n.outputs where !o.isEmpty {
                if !seenOutputs.insert(o).inserted { throw GraphError.malformed("graph '\(graphName)': value '\(o)' is produced twice (node '\(n.name)')") }
            }
        }
        while !remaining.isEmpty {
            var progressed = false
            var next: [GraphNode] = []
            for n in remaining {
                if n.inputs.allSatisfy({ have.contains($0) }) {
                    sorted.append(n); n.outputs.forEach { have.insert($0) }; progressed = true
                } else { next.append(n) }
            }
            if !progressed {
                let n = next[0]
                let missing = n.inputs.first { !have.contains($0) }!
                throw GraphError.malformed("graph '\(graphName)': node '\(n.name)' (\(n.opType)) reads '\(missing)', which nothing produces (or a cycle)")
            }
            remaining = next
        }
        return sorted
    }
}

public struct ValueInfo: Sendable, Equatable {
    public var name: String
    /// Declared shape; -1 marks a dynamic dimension (batch).
    public var shape: [Int]
    public init(name: String, shape: [Int]) { self.name = name; self.shape = shape }
}

/// Attribute values as ONNX has them (integers and floats widened to Swift's types).
public enum AttributeValue: Sendable, Equatable {
    case int(Int), float(Float), string(String), ints([Int]), floats([Float]), strings([String]), tensor(Tensor)

    public static func == (a: AttributeValue, b: AttributeValue) -> Bool {
        switch (a, b) {
        case let (.int(x), .int(y)): return x == y
        case let (.float(x), .float(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.ints(x), .ints(y)): return x == y
        case let (.floats(x), .floats(y)): return x == y
        case let (.strings(x), .strings(y)): return x == y
        case let (.tensor(x), .tensor(y)): return x.shape == y.shape && x.scalars == y.scalars
        default: return false
        }
    }
}

public struct GraphNode: Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    /// Value names read; "" marks an absent optional input.
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: AttributeValue]

    public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String],
                attributes: [String: AttributeValue] = [:]) {
        self.name = name; self.opType = opType; self.domain = domain
        self.inputs = inputs; self.outputs = outputs; self.attributes = attributes
    }

    public func int(_ key: String) -> Int? { if case let .int(v)? = attributes[key] { return v }; return nil }
    public func float(_ key: String) -> Float? {
        switch attributes[key] { case let .float(v)?: return v; case let .int(v)?: return Float(v); default: return nil }
    }
    public func ints(_ key: String) -> [Int]? { if case let .ints(v)? = attributes[key] { return v }; return nil }
    public func floats(_ key: String) -> [Float]? { if case let .floats(v)? = attributes[key] { return v }; return nil }
    public func string(_ key: String) -> String? { if case let .string(v)? = attributes[key] { return v }; return nil }
    public func tensor(_ key: String) -> Tensor? { if case let .tensor(v)? = attributes[key] { return v }; return nil }
}

public enum GraphError: Error, CustomStringConvertible, Equatable {
    case unsupportedOperator(op: String, node: String, opset: Int)
    case malformed(String)
    case unknownLayer(String, suggestion: String?)
    case badInput(String)
    /// `forward(from: cut, ...)` needs these values, which are not computed from the cut.
    case missingValues(cut: String, missing: [String])
    case cancelled

    public var description: String {
        switch self {
        case let .unsupportedOperator(op, node, opset): return "unsupported operator '\(op)' (node '\(node)', opset \(opset))"
        case let .malformed(m): return m
        case let .unknownLayer(l, s): return "unknown layer '\(l)'" + (s.map { "; did you mean '\($0)'?" } ?? "")
        case let .badInput(m): return m
        case let .missingValues(cut, missing):
            return "forward(from: '\(cut)'): the rest of the graph also reads " + missing.map { "'\($0)'" }.joined(separator: ", ")
                + ", not computed from '\(cut)'; pass \(missing.count == 1 ? "it" : "them") in values: (a cut at a block boundary needs none)"
        case .cancelled: return "cancelled"
        }
    }
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo.
public func closestName(to name: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var prev = Array(0...b.count), cur = prev
        for i in 1...a.count {
            cur[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
    let a = Array(name.lowercased())
    let scored = candidates.map { ($0, distance(a, Array($0.lowercased()))) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= Swift.max(2, a.count / 3) ? best.0 : nil
}
