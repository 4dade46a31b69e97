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
}
