import Foundation

/// Updates parameters from their accumulated gradients.
///
/// Typical step: `opt.zeroGrad(); loss.backward(); opt.step()`. Optimizers hold the
/// `Parameter` objects, update their values in place (keeping the autograd leaf) and skip
/// parameters that are frozen or have no gradient.
public protocol Optimizer: AnyObject {
    func step()
    func zeroGrad()
    var learningRate: Float { get set }
    /// What the optimizer carries from step to step (momentum buffers, Adam's moments and
    /// step counts), so a checkpointed run continues exactly where it stopped.
    var state: OptimizerState { get }
    /// Puts back a state read from `state` of an optimizer over parameters of the same
    /// shapes; throws (changing nothing) when it does not fit.
    func restore(_ state: OptimizerState) throws
}

/// An optimizer's carried state: tensors and counters keyed "<parameter index>.<what>"
/// (a parameter that has not stepped yet has no entries).
public struct OptimizerState: Sendable, Equatable {
    public var tensors: [String: Tensor]
    public var counters: [String: Int]
    public init(tensors: [String: Tensor] = [:], counters: [String: Int] = [:]) {
        self.tensors = tensors; self.counters = counters
    }

    public static func == (a: OptimizerState, b: OptimizerState) -> Bool {
        guard a.counters == b.counters, a.tensors.keys.sorted() == b.tensors.keys.sorted() else { return false }
        for (key, x) in a.tensors {
            guard let y = b.tensors[key], x.shape == y.shape, x.scalars == y.scalars else { return false }
        }
        return true
    }

    /// Throws unless every tensor key is "<index>.<one of kinds>" with index < count.
    func checkKeys(_ kinds: [String], count: Int) throws {
        let unknown = tensors.keys.filter { k in
            guard let dot = k.firstIndex(of: "."), let i = Int(k[..<dot]) else { return true }
            return i < 0 || i >= count || !kinds.contains(String(k[k.index(after: dot)...]))
        }
        guard unknown.isEmpty else {
            throw OptimizerStateError("optimizer state has entries this optimizer does not keep: \(unknown.sorted().joined(separator: ", "))")
        }
    }

    /// The per-parameter arrays of one kind (empty where absent), each checked against its
    /// parameter's size.
    func arrays(_ kind: String, sizes: [Int]) throws -> [[Float]] {
        try sizes.enumerated().map { i, n in
            guard let t = tensors["\(i).\(kind)"] else { return [] }
            guard t.count == n else { throw OptimizerStateError("optimizer state '\(i).\(kind)' has \(t.count) values for a parameter of \(n)") }
            return t.scalars
        }
    }

    static func tensors(_ key: String, _ arrays: [[Float]]) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (i, a) in arrays.enumerated() where !a.isEmpty { out["\(i).\(key)"] = Tensor(shape: [a.count], data: a) }
        return out
    }
}

/// A saved optimizer state that does not fit the optimizer it is restored into.
public struct OptimizerStateError: Error, CustomStringConvertible {
    public let description: String
    init(_ message: String) { description = message }
}

/// Stochastic gradient descent with PyTorch's `torch.optim.SGD` update (dampening 0):
///
///     g = grad + weightDecay * p
///     buf = momentum * buf + g          (buf = g on a parameter's first step)
///     g = nesterov ? g + momentum * buf : buf     (when momentum != 0)
///     p -= lr * g
public final class SGD: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    /// Momentum buffer per parameter (empty until the parameter's first step).
    private var buffers: [[Float]]

    public init(parameters: [Parameter], lr: Float, momentum: Float = 0, nesterov: Bool = false,
                weightDecay: Float = 0) {
        precondition(lr >= 0 && momentum >= 0 && weightDecay >= 0, "SGD: negative hyperparameter")
        precondition(!nesterov || momentum > 0, "SGD: Nesterov momentum needs momentum > 0")
        self.parameters = parameters
        self.learningRate = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.buffers = Array(repeating: [], count: parameters.count)
    }

    public func step() {
        let (lr, m, wd, nesterov) = (learningRate, momentum, weightDecay, self.nesterov)
        for (i, p) in parameters.enumerated() {
            guard !p.isFrozen, let grad = p.grad else { continue }
            precondition(grad.shape == p.shape, "SGD: gradient \(grad.shape) for parameter \(p.name) \(p.shape)")
            let first = buffers[i].isEmpty
            if m != 0 && first { buffers[i] = [Float](repeating: 0, count: p.value.count) }
            grad.withUnsafeBufferPointer { g in
                buffers[i].withUnsafeMutableBufferPointer { buf in
                    p.withUnsafeMutableValues { w in
                        for j in 0..<w.count {
                            var d = g[j]
                            if wd != 0 { d += wd * w[j] }
                            if m != 0 {
                                buf[j] = first ? d : m * buf[j] + d
                                d = nesterov ? d + m * buf[j] : buf[j]
                            }
                            w[j] -= lr * d
                        }
                    }
                }
            }
        }
    }

    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    public var state: OptimizerState { OptimizerState(tensors: OptimizerState.tensors("momentum", buffers)) }

    public func restore(_ state: OptimizerState) throws {
        guard state.counters.isEmpty else { throw OptimizerStateError("SGD keeps no counters; the state has \(state.counters.keys.sorted())") }
        try state.checkKeys(["momentum"], count: parameters.count)
        buffers = try state.arrays("momentum", sizes: parameters.map { $0.value.count })
    }
}

/// Adam with PyTorch's `torch.optim.Adam` update (L2 weight decay added to the gradient,
/// not decoupled; bias correction; per-parameter step counts):
///
///     g = grad + weightDecay * p
///     m = beta1 * m + (1 - beta1) * g
///     v = beta2 * v + (1 - beta2) * g * g
///     p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
public final class Adam: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let eps: Float
    public let weightDecay: Float
    private var firstMoments: [[Float]]
    private var secondMoments: [[Float]]
    private var steps: [Int]

    public init(parameters: [Parameter], lr: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0) {
        precondition(lr >= 0 && eps >= 0 && weightDecay >= 0, "Adam: negative hyperparameter")
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam: betas must be in [0, 1)")
        self.parameters = parameters
        self.learningRate = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        firstMoments = Array(repeating: [], count: parameters.count)
        secondMoments = Array(repeating: [], count: parameters.count)
        steps = Array(repeating: 0, count: parameters.count)
    }

    public func step() {
        let (b1, b2, eps, wd) = (beta1, beta2, self.eps, weightDecay)
        for (i, p) in parameters.enumerated() {
            guard !p.isFrozen, let grad = p.grad else { continue }
            precondition(grad.shape == p.shape, "Adam: gradient \(grad.shape) for parameter \(p.name) \(p.shape)")
            if steps[i] == 0 {
                firstMoments[i] = [Float](repeating: 0, count: p.value.count)
                secondMoments[i] = [Float](repeating: 0, count: p.value.count)
            }
            steps[i] += 1
            // Scalars in double precision, as PyTorch computes them from Python floats.
            let t = Double(steps[i])
            let stepSize = Float(Double(learningRate) / (1 - Foundation.pow(Double(b1), t)))
            let bc2Sqrt = Float((1 - Foundation.pow(Double(b2), t)).squareRoot())
            grad.withUnsafeBufferPointer { g in
                firstMoments[i].withUnsafeMutableBufferPointer { m in
                    secondMoments[i].withUnsafeMutableBufferPointer { v in
                        p.withUnsafeMutableValues { w in
                            for j in 0..<w.count {
                                var d = g[j]
                                if wd != 0 { d += wd * w[j] }
                                m[j] = b1 * m[j] + (1 - b1) * d
                                v[j] = b2 * v[j] + (1 - b2) * d * d
                                w[j] -= stepSize * m[j] / (v[j].squareRoot() / bc2Sqrt + eps)
                            }
                        }
                    }
                }
            }
        }
    }

    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    public var state: OptimizerState {
        var counters: [String: Int] = [:]
        for (i, n) in steps.enumerated() where n > 0 { counters["\(i).steps"] = n }
        return OptimizerState(tensors: OptimizerState.tensors("m", firstMoments).merging(OptimizerState.tensors("v", secondMoments)) { a, _ in a },
                              counters: counters)
    }

    public func restore(_ state: OptimizerState) throws {
        let sizes = parameters.map { $0.value.count }
        try state.checkKeys(["m", "v"], count: parameters.count)
        let m = try state.arrays("m", sizes: sizes), v = try state.arrays("v", sizes: sizes)
        var newSteps = [Int](repeating: 0, count: parameters.count)
        for (key, n) in state.counters {
            guard key.hasSuffix(".steps"), let i = Int(key.dropLast(6)), i >= 0, i < parameters.count, n > 0 else {
                throw OptimizerStateError("Adam state has an unexpected counter '\(key)' = \(n)")
            }
            newSteps[i] = n
        }
        for i in 0..<parameters.count where (newSteps[i] > 0) != !m[i].isEmpty || m[i].isEmpty != v[i].isEmpty {
            throw OptimizerStateError("Adam state for parameter \(i) is incomplete (moments and step count must come together)")
        }
        firstMoments = m; secondMoments = v; steps = newSteps
    }
}
