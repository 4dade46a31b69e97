/// A trainable tensor: a graph weight, or any tensor an optimizer updates (Noise Mask's mask).
///
/// While trainable, `value` is an autograd leaf: forward passes record through it and
/// `backward()` accumulates into `grad`. Optimizers update it in place, so it stays the
/// same leaf across steps. While frozen, `value` is a plain tensor: no gradient flows into
/// it and optimizers skip it.
public final class Parameter {
    /// The weight's name in its graph ("conv1.weight").
    public let name: String
    /// The current values. Mutate only through `assign(_:)` or `withUnsafeMutableValues`,
    /// which keep the autograd leaf.
    public internal(set) var value: Tensor

    public init(name: String, value: Tensor, frozen: Bool = false) {
        self.name = name
        self.value = frozen ? value.detached() : value.requiringGrad()
        self.isFrozen = frozen
    }

    /// Freezing detaches the value (no gradient, no updates); unfreezing makes it a fresh
    /// autograd leaf with no gradient.
    public var isFrozen: Bool {
        didSet {
            guard isFrozen != oldValue else { return }
            value = isFrozen ? value.detached() : value.requiringGrad()
        }
    }

    public var shape: [Int] { value.shape }
    /// The gradient accumulated by `backward()` since the last `zeroGrad()` (nil if none).
    public var grad: Tensor? { value.grad }
    public func zeroGrad() { value.node?.zeroGrad() }

    /// Overwrites the values in place, keeping the autograd leaf. Callers check the shape
    /// first (`Graph.setWeight` throws on a mismatch); a mismatch here is a programming error.
    public func assign(_ newValue: Tensor) {
        precondition(newValue.shape == value.shape,
                     "parameter \(name): cannot assign shape \(newValue.shape) to \(value.shape)")
        newValue.withUnsafeBufferPointer { src in
            value.withUnsafeMutableBufferPointer { dst in
                _ = dst.update(fromContentsOf: src)
            }
        }
    }

    /// Mutates the values in place (optimizers, initialisers), keeping the autograd leaf.
    public func withUnsafeMutableValues<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try value.withUnsafeMutableBufferPointer(body)
    }
}
