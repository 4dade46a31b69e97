import Dispatch

/// What to do to a value as it flows through the graph.
public enum Intervention: Sendable {
    /// Multiply channel c of an [N, C, ...] value by gates[c] (gates may be a differentiable
    /// tensor of shape [C] or [N, C]: CHIP's channel gates).
    case scaleChannels(Tensor)
    /// Zero the listed channels (filter ablation).
    case zeroChannels([Int])
    /// Replace the value outright (same shape).
    case replace(Tensor)
    /// Anything else, as a function of the value.
    case transform(@Sendable (Tensor) -> Tensor)

    func apply(to x: Tensor, value: String) throws -> Tensor {
        switch self {
        case let .scaleChannels(g):
            guard x.rank >= 2 else { throw GraphError.badInput("cannot gate channels of '\(value)' with shape \(x.shape)") }
            let c = x.shape[1]
            guard g.count == c || g.shape == [x.shape[0], c] else {
                throw GraphError.badInput("gates for '\(value)' have shape \(g.shape); the layer has \(c) channels")
            }
            let gs = (g.rank == 2 ? [x.shape[0], c] : [1, c]) + [Int](repeating: 1, count: x.rank - 2)
            return x * g.reshaped(gs)
        case let .zeroChannels(list):
            guard x.rank >= 2 else { throw GraphError.badInput("cannot zero channels of '\(value)' with shape \(x.shape)") }
            let c = x.shape[1]
            if let bad = list.first(where: { $0 < 0 || $0 >= c }) {
                throw GraphError.badInput("channel \(bad) out of range for '\(value)' with \(c) channels")
            }
            var gates = [Float](repeating: 1, count: c)
            for i in list { gates[i] = 0 }
            return x * Tensor(shape: [1, c] + [Int](repeating: 1, count: x.rank - 2), data: gates)
        case let .replace(t):
            guard t.shape == x.shape else { throw GraphError.badInput("replacement for '\(value)' has shape \(t.shape), expected \(x.shape)") }
            return t
        case let .transform(f):
            return f(x)
        }
    }
}

public struct ForwardOptions: Sendable {
    /// Values (or node names) whose tensors are returned in `captured`.
    public var capture: [String] = []
    /// Interventions by value (or node) name, applied right after the value is computed.
    public var interventions: [String: Intervention] = [:]
    /// Stop after this value is computed; it becomes the only output.
    public var stopAt: String? = nil
    /// Backward rules by node or op type (`.node` wins over `.opType`); see `BackwardRule`.
    /// `BackwardRule.allReLUs(.guided)` is guided backprop's.
    public var backwardRules: [NodeSelector: BackwardRule] = [:]
    /// Values of a reference (baseline) pass by value name, for rules that read them
    /// (`Graph.referenceValues(_:options:)` fills it).
    public var reference: [String: Tensor] = [:]
    /// Batch norm uses batch statistics and updates running ones; dropout is active.
    public var training: Bool = false
    /// Seed for dropout and other stochastic ops in training.
    public var seed: UInt64 = 0
    /// Called after every node with the node (op type, name) and its wall time in milliseconds (profiling).
    public var nodeTimer: (@Sendable (_ node: GraphNode, _ milliseconds: Double) -> Void)? = nil

    public init(capture: [String] = [], interventions: [String: Intervention] = [:], stopAt: String? = nil,
                backwardRules: [NodeSelector: BackwardRule] = [:], training: Bool = false, seed: UInt64 = 0) {
        self.capture = capture; self.interventions = interventions; self.stopAt = stopAt
        self.backwardRules = backwardRules; self.training = training; self.seed = seed
    }
}

public struct ForwardResult {
    /// The graph outputs in order, or the `stopAt` value alone.
    public var outputs: [Tensor]
    /// Captured values by the names they were asked for.
    public var captured: [String: Tensor]
    /// Updated batch-norm running statistics (training only), by weight name.
    public var updatedBuffers: [String: Tensor]
    public var output: Tensor { outputs[0] }
}

/// What a kernel sees: its node, its input tensors (nil for absent optional inputs) and the
/// run's options.
public struct KernelContext {
    public let node: GraphNode
    public let inputs: [Tensor?]
    public let options: ForwardOptions
    public let opset: Int
    /// Where a training-mode kernel reports new values of weights it owns (running stats).
    public var updates: [String: Tensor] = [:]

    public func input(_ i: Int) throws -> Tensor {
        guard i < inputs.count, let t = inputs[i] else {
            throw GraphError.malformed("node '\(node.name)' (\(node.opType)) is missing input \(i)")
        }
        return t
    }
    public func optionalInput(_ i: Int) -> Tensor? { i < inputs.count ? inputs[i] : nil }
    public func fail(_ message: String) -> GraphError {
        .malformed("node '\(node.name)' (\(node.opType), opset \(opset)): \(message)")
    }
}

public typealias Kernel = @Sendable (inout KernelContext) throws -> [Tensor]

extension Graph {
    public func forward(_ input: Tensor, options: ForwardOptions = ForwardOptions()) throws -> ForwardResult {
        try forward([input], options: options)
    }

    /// Runs the graph on `feeds` (one tensor per graph input, in order).
    public func forward(_ feeds: [Tensor], options: ForwardOptions = ForwardOptions()) throws -> ForwardResult {
        guard feeds.count == inputs.count else {
            throw GraphError.badInput("graph '\(name)' takes \(inputs.count) input(s), got \(feeds.count)")
        }
        for (info, t) in zip(inputs, feeds) {
            let ok = info.shape.count == t.rank && zip(info.shape, t.shape).allSatisfy { $0 == -1 || $0 == $1 }
            guard ok || info.shape.isEmpty else {
                throw GraphError.badInput("input '\(info.name)' expects shape \(info.shape.map { $0 < 0 ? "N" : String($0) }), got \(t.shape)")
            }
        }
        return try run(fullPlan, initial: zip(inputs.map(\.name), feeds).map { ($0, $1) }, options: options)
    }

    /// Runs `plan`'s nodes from the `initial` values (graph inputs, or a cut and what it needs).
    func run(_ plan: ExecutionPlan, initial: [(String, Tensor)], options: ForwardOptions) throws -> ForwardResult {
        let captureValues = try Dictionary(options.capture.map { (try resolveValue($0), $0) }, uniquingKeysWith: { a, _ in a })
        let interventions = try Dictionary(options.interventions.map { (try resolveValue($0.key), $0.value) }, uniquingKeysWith: { a, _ in a })
        let stopValue = try options.stopAt.map(resolveValue)
        let rules = try resolveBackwardRules(options.backwardRules)

        var values: [String: Tensor] = [:]
        var captured: [String: Tensor] = [:]
        var updates: [String: Tensor] = [:]
        func store(_ name: String, _ t: Tensor) throws -> Tensor {
            var v = t
            if let iv = interventions[name] { v = try iv.apply(to: v, value: name) }
            if let asked = captureValues[name] {
                // A captured value takes part in autograd even when nothing upstream does, so
                // gradients with respect to it (Grad-CAM's layer) are always available.
                if v.node == nil && Autograd.isRecording { v = v.requiringGrad() }
                captured[asked] = v
            }
            return v
        }
        for (name, t) in initial { values[name] = try store(name, t) }
        if let s = stopValue, let v = values[s] { return ForwardResult(outputs: [v], captured: captured, updatedBuffers: [:]) }

        // Inference: an elementwise node may write into an input that dies at it (its last
        // reader, not captured); copy-on-write keeps anything else that shares the storage
        // (the caller's input, an intervention's tensor, a parameter) intact.
        var fusedReLUs = Set<Int>()
        func donated(_ v: String, at k: Int, by node: GraphNode) -> Tensor? {
            guard plan.lastUse[v] == k, captureValues[v] == nil, node.inputs.lazy.filter({ $0 == v }).count == 1 else { return nil }
            return values.removeValue(forKey: v)
        }
        // (No tensor of the node is bound while a donated one is mutated: a second reference
        // would make copy-on-write copy it.)
        func inPlace(_ node: GraphNode, at k: Int) -> (String, Tensor)? {
            guard rules[plan.nodes[k]] == nil, node.domain.isEmpty || node.domain == "ai.onnx", node.outputs.count == 1 else { return nil }
            guard !(Autograd.isRecording && node.inputs.contains(where: { values[$0]?.node != nil || parameters[$0]?.value.node != nil })) else { return nil }
            switch node.opType {
            case "Relu":
                guard node.inputs.count == 1, var y = donated(node.inputs[0], at: k, by: node) else { return nil }
                y.formPointwise(.relu)
                return (node.outputs[0], y)
            case "Add":
                guard node.inputs.count == 2, let shape = values[node.inputs[0]]?.shape, values[node.inputs[1]]?.shape == shape else { return nil }
                let out = node.outputs[0]
                let relu = plan.addReLUPairs[k].flatMap { r in
                    captureValues[out] == nil && interventions[out] == nil && stopValue != out && rules[plan.nodes[r]] == nil ? r : nil
                }
                let op: Pointwise.Binary = relu == nil ? .add : .addRelu
                var y: Tensor? = nil
                // Float addition commutes exactly, so either input may take the sum.
                for (mine, other) in [(0, 1), (1, 0)] where y == nil {
                    guard var d = donated(node.inputs[mine], at: k, by: node) else { continue }
                    guard let o = values[node.inputs[other]] else { values[node.inputs[mine]] = d; return nil }
                    d.formPointwise(op, o)
                    y = d
                }
                if y == nil, relu != nil, let a = values[node.inputs[0]], let b = values[node.inputs[1]] { y = a.pointwise(op, b) }
                guard let sum = y else { return nil }
                guard let r = relu else { return (out, sum) }
                fusedReLUs.insert(r)
                return (nodes[plan.nodes[r]].outputs[0], sum)
            case "BatchNormalization":
                // Inference statistics only, every input present and [C]-shaped: anything else
                // takes the kernel (and its error messages).
                guard !options.training, node.int("training_mode") != 1, node.inputs.count == 5,
                      let shape = values[node.inputs[0]]?.shape, shape.count >= 2 else { return nil }
                let stats = node.inputs.dropFirst().map { values[$0] ?? parameters[$0]?.value }
                guard stats.allSatisfy({ $0?.shape == [shape[1]] }), let mean = stats[2], let variance = stats[3] else { return nil }
                let out = node.outputs[0]
                let relu = plan.batchNormReLUPairs[k].flatMap { r in
                    captureValues[out] == nil && interventions[out] == nil && stopValue != out && rules[plan.nodes[r]] == nil ? r : nil
                }
                let eps = node.float("epsilon") ?? 1e-5
                // The conv output dies here in a plain forward: normalise it where it lies, with
                // the ReLU after it in the same pass.
                guard var y = donated(node.inputs[0], at: k, by: node) else { return nil }
                y.formBatchNormInference(mean: mean, variance: variance, scale: stats[0], bias: stats[1], eps: eps, relu: relu != nil)
                guard let r = relu else { return (out, y) }
                fusedReLUs.insert(r)
                return (nodes[plan.nodes[r]].outputs[0], y)
            default:
                return nil
            }
        }

        for (k, i) in plan.nodes.enumerated() {
            let node = nodes[i]
            if fusedReLUs.contains(k) { continue }
            let t0 = options.nodeTimer == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            if let (name, y) = inPlace(node, at: k) {
                if let timer = options.nodeTimer { timer(node, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
                let v = try store(name, y)
                values[name] = v
                if name == stopValue { return ForwardResult(outputs: [v], captured: captured, updatedBuffers: updates) }
                for v in node.inputs where plan.lastUse[v] == k && captureValues[v] == nil { values[v] = nil }
                continue
            }
            let ins: [Tensor?] = node.inputs.map { $0.isEmpty ? nil : (values[$0] ?? parameters[$0]?.value) }
            guard let kernel = Kernels.table[node.opType], node.domain.isEmpty || node.domain == "ai.onnx" else {
                throw GraphError.unsupportedOperator(op: node.opType, node: node.name, opset: opset)
            }
            var ctx = KernelContext(node: node, inputs: ins, options: options, opset: opset)
            let outs = try rules[i].map { try runKernel(kernel, rule: $0, context: &ctx, reference: options.reference) } ?? kernel(&ctx)
            if let timer = options.nodeTimer { timer(node, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
            updates.merge(ctx.updates) { _, b in b }
            for (name, t) in zip(node.outputs, outs) where !name.isEmpty {
                let v = try store(name, t)
                values[name] = v
                if name == stopValue { return ForwardResult(outputs: [v], captured: captured, updatedBuffers: updates) }
            }
            for v in node.inputs where plan.lastUse[v] == k && captureValues[v] == nil { values[v] = nil }
        }
        let outs = try outputs.map { o -> Tensor in
            guard let t = values[o] ?? parameters[o]?.value else { throw GraphError.malformed("graph '\(name)': output '\(o)' was not computed") }
            return t
        }
        return ForwardResult(outputs: outs, captured: captured, updatedBuffers: updates)
    }

    /// Logits (the first output) for a batch.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x).output }

    /// Every node with its output shapes for an example input: what `layers(m)` shows.
    public func layerShapes(for example: Tensor) throws -> [(node: GraphNode, shapes: [[Int]])] {
        let all = nodes.flatMap(\.outputs).filter { !$0.isEmpty }
        let r = try Autograd.noGrad { try forward(example, options: ForwardOptions(capture: all)) }
        return nodes.map { n in (n, n.outputs.compactMap { r.captured[$0]?.shape }) }
    }
}

/// The kernel table: one entry per supported op type. Op families register their kernels
/// in Kernels+*.swift files.
public enum Kernels {
    public static let table: [String: Kernel] = {
        var t: [String: Kernel] = [:]
        registerElementwise(&t)
        registerShape(&t)
        registerNN(&t)
        return t
    }()
}
