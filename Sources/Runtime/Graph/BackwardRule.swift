/// Which graph nodes a backward rule replaces the backward of.
public enum NodeSelector: Hashable, Sendable, CustomStringConvertible {
    /// One node, by its node name or by the name of a value it produces (what `capture` and
    /// `layers(m)` show).
    case node(String)
    /// Every node of an ONNX op type, spelt as ONNX does ("Relu", "Conv", "MaxPool", "Gemm").
    case opType(String)

    public var description: String {
        switch self {
        case let .node(n): return "node '\(n)'"
        case let .opType(t): return "op type '\(t)'"
        }
    }
}

/// The backward of one node: output gradient -> one gradient per node input (in the node's
/// input order, nil where an input is absent or needs none).
public typealias VectorJacobianProduct = (Tensor) -> [Tensor?]

/// A replacement for the backward (vector-Jacobian product) of graph nodes, chosen per pass
/// through `ForwardOptions.backwardRules`.
///
/// Design. Attribution methods that are "backprop with a modified rule" (guided backprop,
/// deconvnet, VEbI's stride-1 resampling, DeepLIFT's rescale, epsilon-LRP) differ from the
/// gradient only in the backward of some nodes. A rule is a forward-time `prepare` step that
/// sees the node (op type, attributes), its inputs and outputs, the reference pass's values at
/// the node, and the node's ordinary vector-Jacobian product; it returns the VJP to use
/// instead. Forward values never change: the node's kernel computes them as usual.
///
/// - Selection: `[NodeSelector: BackwardRule]`. `.node(name)` wins over `.opType(type)`, so
///   "guided everywhere except this ReLU" is two entries. `opTypes` lists the op types a rule
///   understands (a guided ReLU rule on a Conv is an error at forward time, not a silent
///   no-op); `appliesTo` lets a rule decline nodes where it equals the ordinary backward (the
///   stride-1 rule on stride-1 layers), which then run the ordinary code path unchanged.
/// - `prepare` runs during the forward pass and may throw (bad attributes, a missing
///   reference value): the error surfaces from `forward`, named after the node. The VJP it
///   returns runs during the backward pass and cannot throw.
/// - The VJP replaces the node's whole backward: it returns gradients for every input,
///   weights included. `BackwardRuleContext.ordinaryVJP` gives the true one, so a rule can
///   delegate (weights), wrap (epsilon-LRP: x * ordinaryVJP(r / (z + eps sign z))) or ignore
///   it (guided ReLU).
/// - Reference values: rules that compare with a baseline (DeepLIFT: multipliers
///   (y - y_ref) / (x - x_ref)) read `referenceInputs` / `referenceOutputs`, which come from
///   `ForwardOptions.reference`, filled by `Graph.referenceValues(_:options:)` (a no-grad pass on
///   the baseline that captures the inputs and outputs of every selected node).
/// - Only the node's first output carries the rule; further outputs (MaxPool's indices, batch
///   norm's running statistics) carry no gradient when a rule applies.
/// - A rule applies only where a gradient can flow (autograd recording and some input needing
///   one); elsewhere the kernel runs as usual, so rules cost nothing in no-grad passes.
public struct BackwardRule: Sendable {
    /// Shown in errors and in the tape's op names ("Relu[guided]").
    public let name: String
    /// Op types the rule understands; nil = any.
    public let opTypes: Set<String>?
    /// Whether the rule changes this node's backward; a declined node keeps its ordinary one.
    public let appliesTo: @Sendable (GraphNode) -> Bool
    /// Builds the node's VJP at forward time.
    public let prepare: @Sendable (BackwardRuleContext) throws -> VectorJacobianProduct

    public init(name: String, opTypes: Set<String>? = nil, appliesTo: @escaping @Sendable (GraphNode) -> Bool = { _ in true },
                prepare: @escaping @Sendable (BackwardRuleContext) throws -> VectorJacobianProduct) {
        self.name = name; self.opTypes = opTypes; self.appliesTo = appliesTo; self.prepare = prepare
    }
}

/// What a rule sees of its node during the forward pass. Tensors are detached (plain values).
public struct BackwardRuleContext {
    /// The kernel's view of the node: node, inputs, options, opset (internal so rules inside the
    /// runtime can reuse the kernels' attribute parsing).
    let kernel: KernelContext
    private let ordinary: VectorJacobianProduct

    public var node: GraphNode { kernel.node }
    public var opset: Int { kernel.opset }
    /// The node's inputs as its kernel saw them (nil for absent optional inputs).
    public let inputs: [Tensor?]
    /// The node's outputs.
    public let outputs: [Tensor]
    /// Per input: whether anything upstream of it needs a gradient (a rule may return nil for
    /// the others and skip their work).
    public let needsGradient: [Bool]
    /// Per input: whether it is one of the graph's weights (a parameter or constant), as opposed
    /// to an activation computed from the graph input; attribution rules redistribute their
    /// signal over activations only, whether or not the weights are being trained.
    public let isWeight: [Bool]
    /// Per input / output: its value in the reference pass (`ForwardOptions.reference`), or nil.
    /// Weights are their own reference.
    public let referenceInputs: [Tensor?]
    public let referenceOutputs: [Tensor?]

    init(kernel: KernelContext, inputs: [Tensor?], outputs: [Tensor], needsGradient: [Bool],
         reference: [String: Tensor], weights: (String) -> Tensor?, ordinary: @escaping VectorJacobianProduct) {
        self.kernel = kernel
        self.ordinary = ordinary
        self.inputs = inputs
        self.outputs = outputs
        self.needsGradient = needsGradient
        isWeight = kernel.node.inputs.map { !$0.isEmpty && weights($0) != nil }
        referenceInputs = kernel.node.inputs.map { $0.isEmpty ? nil : reference[$0] ?? weights($0) }
        referenceOutputs = kernel.node.outputs.map { reference[$0] }
    }

    /// The node's true vector-Jacobian product (what autograd does without a rule): output
    /// gradient -> one gradient per input, nil where none is needed.
    public func ordinaryVJP(_ g: Tensor) -> [Tensor?] { ordinary(g) }

    /// Input `i`, or an error naming the node (for rules that require it).
    public func input(_ i: Int) throws -> Tensor {
        guard i < inputs.count, let t = inputs[i] else { throw kernel.fail("is missing input \(i)") }
        return t
    }

    /// The reference value of input `i`, or an error saying how to provide it.
    public func referenceInput(_ i: Int, rule: String) throws -> Tensor {
        guard i < referenceInputs.count, let t = referenceInputs[i] else {
            throw GraphError.badInput("backward rule '\(rule)' at node '\(node.name)' needs the reference value of input \(i) ('\(i < node.inputs.count ? node.inputs[i] : "")'); set ForwardOptions.reference from Graph.referenceValues")
        }
        return t
    }

    /// The reference value of output `i`, or an error saying how to provide it.
    public func referenceOutput(_ i: Int, rule: String) throws -> Tensor {
        guard i < referenceOutputs.count, let t = referenceOutputs[i] else {
            throw GraphError.badInput("backward rule '\(rule)' at node '\(node.name)' needs the reference value of output \(i) ('\(i < node.outputs.count ? node.outputs[i] : "")'); set ForwardOptions.reference from Graph.referenceValues")
        }
        return t
    }
}

// MARK: - ReLU rules

extension BackwardRule {
    /// The backward of a ReLU under `rule` (guided backprop, deconvnet; `.standard` keeps the
    /// true gradient).
    public static func relu(_ rule: ReLURule) -> BackwardRule {
        BackwardRule(name: rule.rawValue, opTypes: ["Relu"]) { ctx in
            if rule == .standard { return ctx.ordinaryVJP }
            // The output (positive where the input is) rather than the input: the next layer
            // keeps the output anyway, so the input can be freed during the pass.
            let y = try ctx.outputs.first ?? ctx.input(0)
            return { g in [Tensor.reluBackward(g, input: y, rule: rule)] }
        }
    }

    /// Guided backprop's ReLU (Springenberg et al. 2015): pass where the input was positive
    /// and the incoming signal is positive.
    public static let guidedReLU = relu(.guided)
    /// Deconvnet's ReLU (Zeiler & Fergus 2014): pass where the incoming signal is positive.
    public static let deconvnetReLU = relu(.deconvnet)

    /// Every ReLU of the graph under `rule`: the rules of guided backprop and deconvnet.
    /// `.standard` gives no rules (the true gradient).
    public static func allReLUs(_ rule: ReLURule) -> [NodeSelector: BackwardRule] {
        rule == .standard ? [:] : [.opType("Relu"): relu(rule)]
    }
}

// MARK: - Applying rules in a forward pass

extension Graph {
    /// The rule of each node (by index in `nodes`) that `rules` select and that applies to it.
    /// Throws for a selector that names no node or op type, or a rule on an op it does not handle.
    func resolveBackwardRules(_ rules: [NodeSelector: BackwardRule]) throws -> [Int: BackwardRule] {
        guard !rules.isEmpty else { return [:] }
        var byName: [String: BackwardRule] = [:]
        for (selector, rule) in rules {
            switch selector {
            case let .node(n):
                guard let node = nodes.first(where: { $0.name == n || $0.outputs.contains(n) }) else {
                    throw GraphError.unknownLayer(n, suggestion: closestName(to: n, in: nodes.map(\.name) + nodes.flatMap(\.outputs)))
                }
                byName[node.name] = rule
            case let .opType(t):
                guard Kernels.table[t] != nil else {
                    throw GraphError.badInput("backward rule '\(rule.name)': no op type '\(t)'"
                                              + (closestName(to: t, in: Array(Kernels.table.keys)).map { "; did you mean '\($0)'?" } ?? ""))
                }
            }
        }
        var out: [Int: BackwardRule] = [:]
        for (i, node) in nodes.enumerated() {
            let byNode = byName[node.name] ?? node.outputs.lazy.compactMap { rules[.node($0)] }.first
            guard let rule = byNode ?? rules[.opType(node.opType)] else { continue }
            if let ops = rule.opTypes, !ops.contains(node.opType) {
                throw GraphError.badInput("backward rule '\(rule.name)' handles \(ops.sorted().joined(separator: ", ")) nodes; node '\(node.name)' is \(node.opType)")
            }
            if rule.appliesTo(node) { out[i] = rule }
        }
        return out
    }

    /// Runs `kernel` for a node under `rule`: the kernel computes the outputs on local copies
    /// of the inputs (so its own tape gives the ordinary VJP without walking the whole graph),
    /// and the first output is recorded on the real inputs with the rule's VJP.
    func runKernel(_ kernel: Kernel, rule: BackwardRule, context ctx: inout KernelContext,
                   reference: [String: Tensor]) throws -> [Tensor] {
        let ins = ctx.inputs
        let needs = ins.map { $0?.requiresGrad ?? false }
        guard Autograd.isRecording, needs.contains(true) else { return try kernel(&ctx) }
        let local: [Tensor?] = ins.map { t in t.map { $0.requiresGrad ? $0.detached().requiringGrad() : $0 } }
        var localCtx = KernelContext(node: ctx.node, inputs: local, options: ctx.options, opset: ctx.opset)
        let localOuts = try kernel(&localCtx)
        ctx.updates = localCtx.updates
        guard let first = localOuts.first else { return localOuts }
        let leaves = zip(local, needs).compactMap { $1 ? $0 : nil }
        let ordinary: VectorJacobianProduct = { g in
            var found = gradients(of: first, wrt: leaves, seed: g).makeIterator()
            return needs.map { $0 ? found.next() : nil }
        }
        let node = ctx.node
        let rctx = BackwardRuleContext(kernel: localCtx, inputs: ins.map { $0?.detached() }, outputs: localOuts.map { $0.detached() },
                                       needsGradient: needs, reference: reference, weights: { self.parameters[$0]?.value },
                                       ordinary: ordinary)
        let vjp = try rule.prepare(rctx)
        // The tape takes the present inputs only; the rule answers per node input.
        let present = ins.indices.filter { ins[$0] != nil }
        // unreachable from input: `present` holds exactly the indices whose input is not nil
        let recorded = first.detached().recording("\(node.opType)[\(rule.name)]", inputs: present.map { ins[$0]! }) { g in
            let all = vjp(g)
            return present.map { $0 < all.count && needs[$0] ? all[$0] : nil }
        }
        return [recorded] + localOuts.dropFirst().map { $0.detached() }
    }

    /// The values of a reference (baseline) pass that rules in `options.backwardRules` may read:
    /// the inputs and outputs of every node they select, from a no-grad forward of `feeds`
    /// with the same options (interventions, training) and no rules. Pass the result as
    /// `ForwardOptions.reference` of the pass whose backward uses the rules (DeepLIFT).
    public func referenceValues(_ feeds: [Tensor], options: ForwardOptions) throws -> [String: Tensor] {
        let selected = try resolveBackwardRules(options.backwardRules).keys
        var wanted = Set<String>()
        for i in selected {
            for v in nodes[i].inputs + nodes[i].outputs where !v.isEmpty && parameters[v] == nil { wanted.insert(v) }
        }
        var o = options
        o.backwardRules = [:]
        o.reference = [:]
        o.stopAt = nil
        o.capture = wanted.sorted()
        return try Autograd.noGrad { try forward(feeds, options: o).captured }
    }
}
