// Trainable modules: parameters, buffers and the Layer protocol (swift-apis style
// `callAsFunction`, PyTorch-style naming of parameters and state).

/// A trainable tensor owned by a layer.
///
/// While trainable, `value` is an autograd leaf: forward passes record through it and
/// `backward()` accumulates into `grad`. Optimizers update it in place, so it stays the
/// same leaf across steps. While frozen, `value` is a plain tensor: no gradient flows into
/// it and optimizers skip it.
public final class Parameter {
    /// The local name within its layer ("weight", "bias"); `Layer.namedParameters` gives
    /// the dotted path within a model.
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

    /// Overwrites the values in place (same shape required), keeping the autograd leaf.
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

/// Non-trainable state that belongs to a layer and is saved with it (BatchNorm running
/// mean and variance). Never a gradient leaf; updated by the layer itself.
public final class Buffer {
    public let name: String
    public var value: Tensor {
        didSet { value = value.detached() }
    }

    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value.detached()
    }
}

/// A module: maps a tensor to a tensor and owns parameters, buffers and sub-layers.
///
/// A new layer implements `callAsFunction`, stores `isTraining`, and lists what it owns in
/// `ownParameters` / `ownBuffers` / `children` (all default to empty). Everything else
/// (recursive naming, freezing, train/eval, checkpoints, optimizers) works from those.
public protocol Layer: AnyObject {
    func callAsFunction(_ x: Tensor) -> Tensor
    /// Named sub-layers, in forward order (names become path components: "0", "features").
    var children: [(String, any Layer)] { get }
    /// Parameters held directly by this layer (not by its children).
    var ownParameters: [Parameter] { get }
    /// Non-trainable saved state held directly by this layer.
    var ownBuffers: [Buffer] { get }
    /// Training mode (dropout active, batch statistics) versus evaluation mode.
    var isTraining: Bool { get set }
}

extension Layer {
    public var children: [(String, any Layer)] { [] }
    public var ownParameters: [Parameter] { [] }
    public var ownBuffers: [Buffer] { [] }

    /// Every parameter of this layer and its descendants with its dotted path
    /// ("0.weight", "classifier.2.bias"): own parameters first, then children in order,
    /// as PyTorch's `named_parameters`.
    public var namedParameters: [(String, Parameter)] {
        ownParameters.map { ($0.name, $0) }
            + children.flatMap { child in child.1.namedParameters.map { ("\(child.0).\($0.0)", $0.1) } }
    }

    /// Every buffer of this layer and its descendants with its dotted path.
    public var namedBuffers: [(String, Buffer)] {
        ownBuffers.map { ($0.name, $0) }
            + children.flatMap { child in child.1.namedBuffers.map { ("\(child.0).\($0.0)", $0.1) } }
    }

    public var parameters: [Parameter] { namedParameters.map { $0.1 } }
    /// Parameters that are not frozen (what an optimizer should be given).
    public var trainableParameters: [Parameter] { parameters.filter { !$0.isFrozen } }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Freezes every parameter, recursively (gradients stop at them).
    public func freeze() { for p in parameters { p.isFrozen = true } }
    /// Unfreezes every parameter, recursively (each becomes a fresh leaf).
    public func unfreeze() { for p in parameters { p.isFrozen = false } }

    /// Training mode for this layer and all descendants.
    public func train() { setTraining(true) }
    /// Evaluation mode for this layer and all descendants.
    public func eval() { setTraining(false) }
    public func setTraining(_ on: Bool) {
        isTraining = on
        for (_, child) in children { child.setTraining(on) }
    }

    /// Clears the gradients of every parameter, recursively.
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
}
