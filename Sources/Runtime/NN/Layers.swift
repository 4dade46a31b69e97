import Foundation

/// Fully connected layer y = x Wᵀ + b, weight stored [out, in] as in PyTorch (so PyTorch
/// state dicts map one to one). Inputs [N, in] or [..., in].
public final class Linear: Layer {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    public var isTraining = true

    /// PyTorch's default initialisation: kaiming-uniform with a = sqrt(5) for the weight,
    /// which is U(-1/sqrt(in), 1/sqrt(in)), and the same bound for the bias.
    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true, rng: inout RandomGenerator) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear needs positive sizes, got \(inFeatures) -> \(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Parameter(name: "weight",
                           value: .uniform([outFeatures, inFeatures], low: -bound, high: bound, rng: &rng))
        self.bias = bias ? Parameter(name: "bias", value: .uniform([outFeatures], low: -bound, high: bound, rng: &rng)) : nil
    }

    /// A layer with the given values (weight [out, in], bias [out]).
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear weight must be [out, in], got \(weight.shape)")
        if let bias { precondition(bias.shape == [weight.shape[0]], "Linear bias must be [\(weight.shape[0])], got \(bias.shape)") }
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
        self.weight = Parameter(name: "weight", value: weight)
        self.bias = bias.map { Parameter(name: "bias", value: $0) }
    }

    public var ownParameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 1 && x.shape.last == inFeatures,
                     "Linear(\(inFeatures) -> \(outFeatures)) got input of shape \(x.shape)")
        return x.linear(weight.value, bias: bias?.value)
    }
}

/// Layers applied in order; children are named "0", "1", ... as in PyTorch.
public final class Sequential: Layer {
    public private(set) var layers: [any Layer]
    public var isTraining = true

    public init(_ layers: [any Layer]) { self.layers = layers }

    public var children: [(String, any Layer)] { layers.enumerated().map { (String($0.offset), $0.element) } }
    public var count: Int { layers.count }
    public subscript(i: Int) -> any Layer { layers[i] }
    public func append(_ layer: any Layer) { layers.append(layer) }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        layers.reduce(x) { $1($0) }
    }
}

/// [N, ...] -> [N, rest].
public final class Flatten: Layer {
    public let startAxis: Int
    public var isTraining = true
    public init(startAxis: Int = 1) { self.startAxis = startAxis }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.flattened(from: startAxis) }
}

/// max(x, 0). `rule` selects the backward rule (standard gradient, guided backprop,
/// deconvnet), so saliency methods can switch a model's ReLUs without rebuilding it.
public final class ReLU: Layer {
    public var rule: ReLURule
    public var isTraining = true
    public init(rule: ReLURule = .standard) { self.rule = rule }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.relu(rule: rule) }
}
