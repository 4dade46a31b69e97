import Foundation

// Elementwise ops: forward and backward side by side. Binary ops broadcast (NumPy rules)
// and reduce their gradients back to each input's shape.

enum Elementwise {
    /// Elements per thread for a generic loop over a transcendental function (exp, log, pow,
    /// tanh: several ns each, so the indirect call per element in the parallel loop is small
    /// beside it): ~50 us of work per thread, well above the cost of waking a worker.
    static let expensiveGrain = 1 << 14
}

extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        (a.shape == b.shape ? a.pointwise(.add, b) : a.zipRaw(b, +)).recording("add", inputs: [a, b]) { g in
            [a.requiresGrad ? g.sumToShape(a.shape) : nil, b.requiresGrad ? g.sumToShape(b.shape) : nil]
        }
    }
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        a.zipRaw(b, -).recording("sub", inputs: [a, b]) { g in
            [a.requiresGrad ? g.sumToShape(a.shape) : nil, b.requiresGrad ? (-g).sumToShape(b.shape) : nil]
        }
    }
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        a.zipRaw(b, *).recording("mul", inputs: [a, b]) { g in
            [a.requiresGrad ? (g * b.detached()).sumToShape(a.shape) : nil,
             b.requiresGrad ? (g * a.detached()).sumToShape(b.shape) : nil]
        }
    }
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        a.zipRaw(b, /).recording("div", inputs: [a, b]) { g in
            let bd = b.detached()
            return [a.requiresGrad ? (g / bd).sumToShape(a.shape) : nil,
                    b.requiresGrad ? (-(g * a.detached()) / (bd * bd)).sumToShape(b.shape) : nil]
        }
    }
    public static prefix func - (a: Tensor) -> Tensor {
        a.mapRaw { -$0 }.recording("neg", inputs: [a]) { g in [-g] }
    }

    public static func + (a: Tensor, s: Float) -> Tensor { a + Tensor(s) }
    public static func + (s: Float, a: Tensor) -> Tensor { Tensor(s) + a }
    public static func - (a: Tensor, s: Float) -> Tensor { a - Tensor(s) }
    public static func - (s: Float, a: Tensor) -> Tensor { Tensor(s) - a }
    public static func * (a: Tensor, s: Float) -> Tensor { a * Tensor(s) }
    public static func * (s: Float, a: Tensor) -> Tensor { Tensor(s) * a }
    public static func / (a: Tensor, s: Float) -> Tensor { a * Tensor(1 / s) }
    public static func / (s: Float, a: Tensor) -> Tensor { Tensor(s) / a }

    /// A unary op from its value function and its derivative written in terms of the input
    /// `x` and the output `y` (whichever is cheaper). `grain`: elements per thread of the
    /// value loop (`Elementwise.expensiveGrain` for transcendental functions; serial otherwise,
    /// see `zipRaw`).
    func unary(_ name: String, grain: Int = .max, _ f: (Float) -> Float, derivative: @escaping (_ x: Float, _ y: Float) -> Float) -> Tensor {
        let y = mapRaw(minPerThread: grain, f)
        let x = self.detached()
        return y.recording(name, inputs: [self]) { g in
            let yd = y.detached()
            let local = x.zipRaw(yd, derivative)
            return [g.zipRaw(local, *)]
        }
    }

    public func exp() -> Tensor { unary("exp", grain: Elementwise.expensiveGrain, Foundation.exp) { _, y in y } }
    public func log() -> Tensor { unary("log", grain: Elementwise.expensiveGrain, Foundation.log) { x, _ in 1 / x } }
    public func sqrt() -> Tensor { unary("sqrt", Foundation.sqrt) { _, y in 0.5 / y } }
    public func abs() -> Tensor { unary("abs", Swift.abs) { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) } }
    public func squared() -> Tensor { unary("square", { $0 * $0 }) { x, _ in 2 * x } }
    public func pow(_ p: Float) -> Tensor {
        unary("pow", grain: Elementwise.expensiveGrain, { Foundation.pow($0, p) }) { x, _ in p * Foundation.pow(x, p - 1) }
    }
    public func sigmoid() -> Tensor {
        unary("sigmoid", grain: Elementwise.expensiveGrain, { 1 / (1 + Foundation.exp(-$0)) }) { _, y in y * (1 - y) }
    }
    public func tanh() -> Tensor { unary("tanh", grain: Elementwise.expensiveGrain, Foundation.tanh) { _, y in 1 - y * y } }
    public func leakyRelu(_ slope: Float = 0.01) -> Tensor {
        unary("leaky_relu", { $0 > 0 ? $0 : slope * $0 }) { x, _ in x > 0 ? 1 : slope }
    }
    /// Clamps to [low, high]; the gradient passes where the value was not clamped.
    public func clamped(min low: Float = -.infinity, max high: Float = .infinity) -> Tensor {
        unary("clamp", { Swift.min(Swift.max($0, low), high) }) { x, _ in (x >= low && x <= high) ? 1 : 0 }
    }

    /// Tensor-valued power (both sides differentiable).
    public func pow(_ p: Tensor) -> Tensor {
        let y = zipRaw(p, minPerThread: Elementwise.expensiveGrain) { Foundation.pow($0, $1) }
        let (x, pd) = (detached(), p.detached())
        return y.recording("pow", inputs: [self, p]) { g in
            let yd = y.detached()
            let dx = requiresGrad ? (g * pd * x.zipRaw(pd) { Foundation.pow($0, $1 - 1) }).sumToShape(x.shape) : nil
            let dp = p.requiresGrad ? (g * yd * x.mapRaw { $0 > 0 ? Foundation.log($0) : 0 }).sumToShape(pd.shape) : nil
            return [dx, dp]
        }
    }
}

/// Which backward rule a ReLU instance uses. Guided backprop and deconvnet differ from the
/// true gradient only here (Springenberg et al. 2015; Zeiler & Fergus 2014).
public enum ReLURule: String, Sendable, CaseIterable {
    /// True gradient: pass where the input was positive.
    case standard
    /// Guided backprop: pass where the input was positive and the incoming gradient is positive.
    case guided
    /// Deconvnet: pass where the incoming gradient is positive, whatever the input.
    case deconvnet
}

extension Tensor {
    public func relu(rule: ReLURule = .standard) -> Tensor {
        let y = pointwise(.relu)
        // The backward keeps the output, not the input: both are positive at the same places,
        // and the output is what the next layer keeps anyway, so the input can be freed.
        let kept = y.detached()
        return y.recording("relu", inputs: [self]) { g in [Tensor.reluBackward(g, input: kept, rule: rule)] }
    }

    /// The signal a ReLU with input `x` passes back from `g` under `rule` (also what the
    /// graph's `BackwardRule.relu` uses, so both paths share one definition). `x` may as well
    /// be the ReLU's output: only where it is positive matters.
    static func reluBackward(_ g: Tensor, input x: Tensor, rule: ReLURule) -> Tensor {
        switch rule {
        case .standard: return g.pointwise(.reluGradient, x)
        case .guided: return g.pointwise(.guidedGradient, x)
        case .deconvnet: return g.pointwise(.relu)
        }
    }

    // Comparisons give 0/1 tensors and carry no gradient.
    public func greater(_ o: Tensor) -> Tensor { detached().zipRaw(o) { $0 > $1 ? 1 : 0 } }
    public func greaterEqual(_ o: Tensor) -> Tensor { detached().zipRaw(o) { $0 >= $1 ? 1 : 0 } }
    public func less(_ o: Tensor) -> Tensor { detached().zipRaw(o) { $0 < $1 ? 1 : 0 } }
    public func lessEqual(_ o: Tensor) -> Tensor { detached().zipRaw(o) { $0 <= $1 ? 1 : 0 } }
    public func equal(_ o: Tensor) -> Tensor { detached().zipRaw(o) { $0 == $1 ? 1 : 0 } }

    /// `condition ? a : b` elementwise (condition nonzero = true); differentiable in a and b.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let outShape = Broadcast.shape(Broadcast.shape(condition.shape, a.shape), b.shape)
        let c = condition.detached().expanded(to: outShape)
        let av = a.detached().expanded(to: outShape), bv = b.detached().expanded(to: outShape)
        let out = Tensor(shape: outShape) { o in
            for i in 0..<o.count { o[i] = c.storage[i] != 0 ? av.storage[i] : bv.storage[i] }
        }
        return out.recording("where", inputs: [a, b]) { g in
            [a.requiresGrad ? g.zipRaw(c) { $1 != 0 ? $0 : 0 }.sumToShape(a.shape) : nil,
             b.requiresGrad ? g.zipRaw(c) { $1 != 0 ? 0 : $0 }.sumToShape(b.shape) : nil]
        }
    }

    /// Broadcasts to `target` (NumPy rules); the gradient sums back.
    public func expanded(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let out = zipRaw(Tensor.zeros(target)) { a, _ in a }
        precondition(out.shape == target, "cannot expand \(shape) to \(target)")
        return out.recording("expand", inputs: [self]) { g in [g.sumToShape(shape)] }
    }

    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.where(a.greaterEqual(b), a, b) }
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.where(a.lessEqual(b), a, b) }
}
