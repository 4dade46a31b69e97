import Synchronization

/// The nodes one kind of forward pass runs, in order, with when each value can be released.
/// Plans are pure functions of the graph's (immutable) nodes and the pass's names, so a graph
/// caches them: CHIP runs the same suffix thousands of times.
struct ExecutionPlan: Sendable {
    /// Indices into `Graph.nodes`, in topological order.
    let nodes: [Int]
    /// Value name -> position in `nodes` of its last reader; graph outputs stay to the end.
    let lastUse: [String: Int]
    /// Position of an Add whose output's only reader in the whole graph is a ReLU later in
    /// this plan -> that ReLU's position: an inference pass computes relu(a + b) in one loop
    /// (ResNet's residual joins).
    let addReLUPairs: [Int: Int]
    /// The same for a BatchNormalization (conv -> BN -> ReLU stacks): relu(x * a + b) in one
    /// pass, in place.
    let batchNormReLUPairs: [Int: Int]

    init(nodes: [Int], graph: Graph) {
        self.nodes = nodes
        var last: [String: Int] = [:]
        for (k, i) in nodes.enumerated() { for v in graph.nodes[i].inputs { last[v] = k } }
        for o in graph.outputs { last[o] = Int.max }
        lastUse = last
        let pairs = ExecutionPlan.reluPairs(nodes: nodes, graph: graph)
        addReLUPairs = pairs.filter { graph.nodes[nodes[$0.key]].opType == "Add" }
        batchNormReLUPairs = pairs.filter { graph.nodes[nodes[$0.key]].opType == "BatchNormalization" }
    }

    /// Position of an Add (two inputs) or a BatchNormalization (five) whose one output's only
    /// reader in the whole graph is a ReLU later in the plan -> that ReLU's position.
    private static func reluPairs(nodes plan: [Int], graph: Graph) -> [Int: Int] {
        func isDefault(_ n: GraphNode) -> Bool { n.domain.isEmpty || n.domain == "ai.onnx" }
        var readers: [String: Int] = [:]
        for n in graph.nodes { for v in n.inputs where !v.isEmpty { readers[v, default: 0] += 1 } }
        var position: [Int: Int] = [:]
        for (k, i) in plan.enumerated() { position[i] = k }
        var producer: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() { for o in n.outputs where !o.isEmpty { producer[o] = i } }
        let fusable = ["Add": 2, "BatchNormalization": 5]
        var pairs: [Int: Int] = [:]
        for (k, i) in plan.enumerated() {
            let relu = graph.nodes[i]
            guard relu.opType == "Relu", isDefault(relu), relu.inputs.count == 1, relu.outputs.count == 1 else { continue }
            let v = relu.inputs[0]
            guard readers[v] == 1, !graph.outputs.contains(v), let p = producer[v], let kp = position[p], kp < k else { continue }
            let first = graph.nodes[p]
            guard isDefault(first), fusable[first.opType] == first.inputs.count, first.outputs == [v] else { continue }
            pairs[kp] = k
        }
        return pairs
    }
}

/// What a plan depends on besides the nodes: the cut, the names supplied with it, and the
/// values asked for (outputs or stopAt, and captures).
enum PlanKey: Hashable, Sendable {
    case full(outputs: [String])
    case suffix(from: String, supplied: [String], targets: [String], outputs: [String])
}

/// A graph's plan cache. Bounded: keys vary with capture lists, and a long session must not
/// accumulate them without limit.
final class PlanCache: Sendable {
    private let plans = Mutex<[PlanKey: ExecutionPlan]>([:])
    static let capacity = 64

    /// Plans held (tests check that repeated passes reuse theirs).
    var count: Int { plans.withLock { $0.count } }

    func plan(_ key: PlanKey, build: () throws -> ExecutionPlan) rethrows -> ExecutionPlan {
        if let p = plans.withLock({ $0[key] }) { return p }
        let p = try build()
        plans.withLock { cache in
            if cache.count >= PlanCache.capacity { cache.removeAll(keepingCapacity: true) }
            cache[key] = p
        }
        return p
    }
}

extension Graph {
    /// Every node in order (the ordinary forward pass runs them all, up to `stopAt`).
    var fullPlan: ExecutionPlan {
        planCache.plan(.full(outputs: outputs)) { ExecutionPlan(nodes: Array(nodes.indices), graph: self) }
    }

    /// The nodes that compute `targets` from `cut` and the `supplied` values: the nodes
    /// downstream of the cut, the constant-only nodes they read (shape constants of imported
    /// graphs), and whatever the supplied values make computable. Throws `missingValues`
    /// naming what the rest of the graph reads from before the cut that nobody supplied.
    func suffixPlan(cut: String, supplied: Set<String>, targets: [String]) throws -> ExecutionPlan {
        var downstream: Set<String> = [cut]
        var isDownstream = [Bool](repeating: false, count: nodes.count)
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            for o in n.outputs where !o.isEmpty { producer[o] = i }
            if n.inputs.contains(where: downstream.contains) {
                isDownstream[i] = true
                n.outputs.forEach { downstream.insert($0) }
            }
        }
        if let bad = supplied.sorted().first(where: downstream.contains) {
            throw GraphError.badInput("forward(from: '\(cut)'): '\(bad)' is computed from '\(cut)', so it cannot be supplied; supply only values from before the cut")
        }
        var resolved: [String: Bool] = [:]
        var included = Set<Int>()
        var missing: [String] = []
        func noteMissing(_ v: String) { if !missing.contains(v) { missing.append(v) } }
        // Depth is bounded by the graph's depth (a few hundred nodes for the largest CNNs).
        func resolve(_ v: String) -> Bool {
            if v.isEmpty || v == cut || supplied.contains(v) || parameters[v] != nil { return true }
            if let r = resolved[v] { return r }
            guard let p = producer[v] else { resolved[v] = false; return false }
            var ok = true
            for i in nodes[p].inputs where !resolve(i) {
                ok = false
                // Name the values at the cut's frontier: what a downstream node reads directly.
                if isDownstream[p] && !downstream.contains(i) { noteMissing(i) }
            }
            if ok { included.insert(p) }
            for o in nodes[p].outputs { resolved[o] = ok }
            return ok
        }
        for t in targets where !resolve(t) && !downstream.contains(t) { noteMissing(t) }
        guard missing.isEmpty else { throw GraphError.missingValues(cut: cut, missing: missing) }
        return ExecutionPlan(nodes: included.sorted(), graph: self)
    }

    /// Runs the graph from `layer` on: the nodes after it get `value` as the layer's output
    /// (CHIP captures layer L once and evaluates thousands of gated copies of it through the
    /// rest of the network). Every other option applies as in `forward(_:options:)`: captures,
    /// interventions (one at `layer` itself applies to `value`, so a gate at L works exactly
    /// as in a full pass), backward rules, stopAt, training.
    ///
    /// `values` supplies what the rest of the graph reads that is not computed from `layer`:
    /// a residual branch from before the cut, a second graph input. Supplying the graph input
    /// instead makes the suffix recompute such branches from it. Anything needed but neither
    /// computed from `layer` nor supplied is a `GraphError.missingValues` error naming it (a cut
    /// at a block boundary of a ResNet needs nothing else). `value` and `values` are the raw
    /// outputs of their nodes; interventions named at them apply on top, as in the full pass.
    ///
    /// Only the needed nodes run; the list is computed once per (layer, supplied names,
    /// requested values) and cached on the graph. Gradients flow from the outputs to `value`
    /// (and to `values`) when they take part in autograd (`requiringGrad()`).
    public func forward(from layer: String, value: Tensor, values: [String: Tensor] = [:],
                        options: ForwardOptions = ForwardOptions()) throws -> ForwardResult {
        let cut = try resolveValue(layer)
        var supplied: [(String, Tensor)] = [(cut, value)]
        for (name, t) in values.sorted(by: { $0.key < $1.key }) {
            let v = try resolveValue(name)
            guard !supplied.contains(where: { $0.0 == v }) else {
                throw GraphError.badInput("forward(from: '\(layer)'): '\(name)' is supplied twice (it is '\(v)')")
            }
            supplied.append((v, t))
        }
        let stop = try options.stopAt.map(resolveValue)
        let targets = (stop.map { [$0] } ?? outputs) + (try options.capture.map(resolveValue))
        let names = Set(supplied.dropFirst().map(\.0))
        let key = PlanKey.suffix(from: cut, supplied: names.sorted(), targets: Array(Set(targets)).sorted(), outputs: outputs)
        let plan = try planCache.plan(key) { try suffixPlan(cut: cut, supplied: names, targets: targets) }
        return try run(plan, initial: supplied, options: options)
    }
}
