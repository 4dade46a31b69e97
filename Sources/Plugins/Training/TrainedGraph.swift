import Runtime

/// Names of the weights training can update: every weight a node reads as learnable data,
/// leaving out integer constants (shapes, axes), batch-norm running statistics (buffers the
/// forward pass updates, not gradients) and the constant operands of ops whose later inputs
/// are settings rather than data (Resize's scales, Reshape's shape, Pad's pads, ...).
public func trainableWeightNames(_ graph: Graph) -> Set<String> {
    var buffers = graph.integerValues
    var used = Set<String>()
    for n in graph.nodes {
        if n.opType == "BatchNormalization", n.inputs.count >= 5 { buffers.insert(n.inputs[3]); buffers.insert(n.inputs[4]) }
        let dataInputs = settingsFrom[n.opType].map { n.inputs.prefix($0) } ?? n.inputs[...]
        used.formUnion(dataInputs)
    }
    return Set(graph.weights.keys.filter { used.contains($0) && !buffers.contains($0) })
}

/// Op type -> index of its first input that is a setting, not data (no gradient flows there).
private let settingsFrom: [String: Int] = [
    "Resize": 1, "Upsample": 1, "Reshape": 1, "Pad": 1, "Expand": 1, "Tile": 1, "Slice": 1, "Squeeze": 1,
    "Unsqueeze": 1, "ReduceMean": 1, "ReduceSum": 1, "ReduceMax": 1, "Clip": 1, "Shape": 1, "Gather": 1,
]

/// One graph the training loop updates: all its learnable weights, or a named subset of
/// them ("train layer3 and fc only").
public struct TrainedGraph {
    /// The graph's key in checkpoints and messages ("student", "generator"): unique per loop.
    public let name: String
    public let graph: Graph
    /// The weights that get gradients and optimizer steps, sorted.
    public let weights: [String]

    /// Every learnable weight of the graph (`trainableWeightNames`).
    public init(_ graph: Graph, name: String? = nil) {
        self.name = name ?? graph.name
        self.graph = graph
        self.weights = trainableWeightNames(graph).sorted()
    }

    /// Only the learnable weights `selectors` pick: each selector is a weight name
    /// ("fc.weight") or a node name, which selects the weights of that node and of every node
    /// under it in dotted naming ("layer3" selects "layer3.0.conv1.weight" and the rest of
    /// layer3, not "layer30"). A selector that picks nothing is an error with a suggestion.
    public init(_ graph: Graph, name: String? = nil, only selectors: [String]) throws {
        let learnable = trainableWeightNames(graph)
        var picked = Set<String>()
        for s in selectors {
            var hit = learnable.contains(s) ? [s] : []
            for node in graph.nodes where node.name == s || node.name.hasPrefix(s + ".") {
                hit.append(contentsOf: node.inputs.filter { learnable.contains($0) })
            }
            guard !hit.isEmpty else {
                // Node names and their dotted prefixes ("layer1", "layer1.0"), then weights.
                let prefixes = graph.nodes.flatMap { n in
                    n.name.split(separator: ".").indices.map { n.name.split(separator: ".")[...$0].joined(separator: ".") }
                }
                let candidates = prefixes + learnable.sorted()
                throw PluginError.invalid("graph '\(graph.name)' has no learnable weights under '\(s)'"
                    + (closestName(to: s, in: candidates).map { "; did you mean '\($0)'?" } ?? ""))
            }
            picked.formUnion(hit)
        }
        self.name = name ?? graph.name
        self.graph = graph
        self.weights = picked.sorted()
    }
}
