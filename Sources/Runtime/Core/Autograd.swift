import Dispatch
import Synchronization

/// One entry of the autograd tape: the op that produced a tensor, the nodes of its inputs
/// that need gradients, and the closure that maps the output gradient to input gradients.
///
/// Entries are numbered in creation order, so walking reachable entries by decreasing `id`
/// is walking the tape in reverse. Nodes are per computation (not global), which keeps
/// concurrent computations on separate threads independent.
public final class GradNode: @unchecked Sendable {
    private static let counter = Atomic<Int>(0)

    public let id: Int
    public let op: String
    public let shape: [Int]
    let inputs: [GradNode?]
    /// Output gradient -> one gradient per input (nil where that input needs none).
    var backward: ((Tensor) -> [Tensor?])?
    /// Accumulated gradient of a leaf after `backward()`.
    public internal(set) var grad: Tensor?
    var hooks: [(Tensor) -> Tensor] = []

    init(op: String, shape: [Int], inputs: [GradNode?], backward: ((Tensor) -> [Tensor?])?) {
        self.id = GradNode.counter.add(1, ordering: .relaxed).newValue
        self.op = op
        self.shape = shape
        self.inputs = inputs
        self.backward = backward
    }

    public var isLeaf: Bool { backward == nil }
    public func zeroGrad() { grad = nil }
}

/// Autograd switches: recording on or off for a scope.
public enum Autograd {
    @TaskLocal static var recording: Bool = true
    public typealias BackwardTimer = @Sendable (_ op: String, _ milliseconds: Double) -> Void
    private static let backwardTimer = Mutex<BackwardTimer?>(nil)

    /// Runs `body` with `timer` called after each tape entry's backward with its op name and
    /// wall time in milliseconds (profiling, as `ForwardOptions.nodeTimer` for the forward).
    /// Process-wide for the scope: backward passes on other threads report too.
    public static func withBackwardTimer<R>(_ timer: @escaping BackwardTimer, _ body: () throws -> R) rethrows -> R {
        backwardTimer.withLock { $0 = timer }
        defer { backwardTimer.withLock { $0 = nil } }
        return try body()
    }

    public static var isRecording: Bool { recording }

    /// Runs `body` without recording any op (inference, metric evaluation, optimizer steps).
    public static func noGrad<R>(_ body: () throws -> R) rethrows -> R {
        try $recording.withValue(false, operation: body)
    }
}

extension Tensor {
    public var requiresGrad: Bool { node != nil }
    /// The gradient accumulated into this leaf by `backward()`.
    public var grad: Tensor? { node?.grad }

    /// A copy that is a fresh autograd leaf.
    public func requiringGrad() -> Tensor {
        var t = detached()
        t.node = GradNode(op: "leaf", shape: shape, inputs: [], backward: nil)
        return t
    }

    /// Attaches a backward rule to the result of an op (`self`) computed from `inputs`.
    /// No-op when recording is off or no input needs a gradient. The closure returns one
    /// gradient per input, shaped like that input (nil where it needs none).
    public func recording(_ op: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard Autograd.isRecording, inputs.contains(where: { $0.node != nil }) else { return self }
        var out = self
        out.node = GradNode(op: op, shape: shape, inputs: inputs.map { $0.node }, backward: backward)
        return out
    }

    /// Registers a hook that sees (and may replace) the gradient flowing into this tensor.
    public func registerHook(_ hook: @escaping (Tensor) -> Tensor) {
        // Contract for Swift callers (explainers hook tensors they made require gradients).
        precondition(node != nil, "registerHook needs a tensor that takes part in autograd")
        // unreachable from input: the precondition above is the contract (no language path hooks a tensor without a node)
        node!.hooks.append(hook)
    }

    /// Recomputes `forward` outside autograd and attaches a custom backward rule instead of
    /// the ops' own: this is how an op instance's gradient is overridden (guided backprop,
    /// deconvnet, the stride-1 resampling of VEbI).
    public static func customGradient(inputs: [Tensor], op: String = "custom",
                                      forward: ([Tensor]) -> Tensor,
                                      backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        let out = Autograd.noGrad { forward(inputs.map { $0.detached() }) }
        return out.recording(op, inputs: inputs, backward: backward)
    }

    /// Accumulates d(self)/d(leaf) into every leaf's `grad` (parameters, inputs).
    /// `seed` defaults to ones (a scalar loss gives the plain gradient).
    public func backward(seed: Tensor? = nil) {
        _ = Autograd.run(from: self, seed: seed, targets: [], accumulateLeaves: true)
    }
}

/// Gradients of `y` with respect to each tensor in `xs` (inputs or any intermediate
/// tensor of the computation). A tensor `y` does not depend on gets zeros.
public func gradients(of y: Tensor, wrt xs: [Tensor], seed: Tensor? = nil) -> [Tensor] {
    // Contract for Swift callers; the language's grad and grad_wrt check requiresGrad first.
    for x in xs { precondition(x.node != nil, "gradients(wrt:) needs tensors that take part in autograd (use requiringGrad())") }
    // unreachable from input: the precondition above; grad and grad_wrt check requiresGrad first
    let found = Autograd.run(from: y, seed: seed, targets: xs.map { $0.node! }, accumulateLeaves: false)
    return xs.map { found[ObjectIdentifier($0.node!)] ?? Tensor.zeros($0.shape) }  // unreachable from input: as on the line above
}

public func gradient(of y: Tensor, wrt x: Tensor, seed: Tensor? = nil) -> Tensor {
    gradients(of: y, wrt: [x], seed: seed)[0]
}

extension Autograd {
    static func run(from y: Tensor, seed: Tensor?, targets: [GradNode], accumulateLeaves: Bool) -> [ObjectIdentifier: Tensor] {
        guard let root = y.node else { return [:] }
        let seedGrad = seed ?? Tensor.ones(y.shape)
        // Contract for Swift callers; no user input chooses a seed gradient.
        precondition(seedGrad.shape == y.shape, "seed gradient shape \(seedGrad.shape) differs from \(y.shape)")

        // Reachable tape entries, then keep only those that lead to something we need.
        var seen = Set<ObjectIdentifier>(), nodes: [GradNode] = [], stack = [root]
        while let n = stack.popLast() {
            guard seen.insert(ObjectIdentifier(n)).inserted else { continue }
            nodes.append(n)
            for case let p? in n.inputs { stack.append(p) }
        }
        nodes.sort { $0.id < $1.id }
        let targetIDs = Set(targets.map(ObjectIdentifier.init))
        var useful = Set<ObjectIdentifier>()
        for n in nodes {  // ascending: inputs before outputs
            let oid = ObjectIdentifier(n)
            if targetIDs.contains(oid) || (accumulateLeaves && n.isLeaf)
                || n.inputs.contains(where: { $0.map { useful.contains(ObjectIdentifier($0)) } ?? false }) {
                useful.insert(oid)
            }
        }

        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): Autograd.noGrad { seedGrad.detached() }]
        var found: [ObjectIdentifier: Tensor] = [:]
        let backwardTimer = Autograd.backwardTimer.withLock { $0 }
        Autograd.noGrad {
            for n in nodes.reversed() {
                let oid = ObjectIdentifier(n)
                guard useful.contains(oid), var g = pending.removeValue(forKey: oid) else { continue }
                for h in n.hooks { g = h(g) }
                if targetIDs.contains(oid) { found[oid] = g }
                if n.isLeaf {
                    if accumulateLeaves { n.grad = n.grad.map { $0 + g } ?? g }
                    continue
                }
                guard let bw = n.backward else { continue }
                let t0 = backwardTimer == nil ? 0 : DispatchTime.now().uptimeNanoseconds
                let inputGrads = bw(g)
                precondition(inputGrads.count == n.inputs.count, "op \(n.op) returned \(inputGrads.count) gradients for \(n.inputs.count) inputs")
                for (p, ig) in zip(n.inputs, inputGrads) {
                    guard let p, let ig else { continue }
                    let pid = ObjectIdentifier(p)
                    guard useful.contains(pid) else { continue }
                    precondition(ig.shape == p.shape, "op \(n.op) gave gradient \(ig.shape) for input \(p.shape)")
                    // Sums in place into the pending gradient (copy-on-write keeps any
                    // tensor that shares its storage intact) instead of allocating a sum.
                    if var acc = pending.removeValue(forKey: pid) {
                        acc.formPointwise(.add, ig)
                        pending[pid] = acc
                    } else {
                        pending[pid] = ig
                    }
                }
                if let timer = backwardTimer { timer(n.op, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
            }
        }
        return found
    }
}
