import Foundation

/// 2-D convolution layer, weight [out, in/groups, k, k] and bias [out] as in PyTorch.
/// PyTorch's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both.
public final class Conv2d: Layer {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Int, padding: Int, dilation: Int, groups: Int
    public var isTraining = true

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, rng: inout RandomGenerator) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: groups \(groups) must divide \(inChannels) -> \(outChannels) channels")
        let fanIn = inChannels / groups * kernel * kernel
        let bound = 1 / Float(fanIn).squareRoot()
        weight = Parameter(name: "weight", value: .uniform([outChannels, inChannels / groups, kernel, kernel], low: -bound, high: bound, rng: &rng))
        self.bias = bias ? Parameter(name: "bias", value: .uniform([outChannels], low: -bound, high: bound, rng: &rng)) : nil
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
    }

    public var ownParameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.conv2d(weight.value, bias: bias?.value, stride: [stride, stride], padding: [padding, padding],
                 dilation: [dilation, dilation], groups: groups)
    }
}

/// Batch normalisation over the channels of [N, C, H, W] (or [N, C]).
/// Training: normalise with batch statistics and update the running ones the way PyTorch
/// does (running = (1 - momentum) * running + momentum * batch, unbiased batch variance).
/// Evaluation: normalise with the running statistics.
public final class BatchNorm2d: Layer {
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Buffer
    public let runningVar: Buffer
    public let eps: Float, momentum: Float
    public var isTraining = true

    public init(channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        weight = Parameter(name: "weight", value: .ones([channels]))
        bias = Parameter(name: "bias", value: .zeros([channels]))
        runningMean = Buffer(name: "running_mean", value: .zeros([channels]))
        runningVar = Buffer(name: "running_var", value: .ones([channels]))
        self.eps = eps; self.momentum = momentum
    }

    public var ownParameters: [Parameter] { [weight, bias] }
    public var ownBuffers: [Buffer] { [runningMean, runningVar] }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard isTraining else {
            return x.batchNorm(mean: runningMean.value, variance: runningVar.value, scale: weight.value, bias: bias.value, eps: eps)
        }
        let r = x.batchNormTraining(scale: weight.value, bias: bias.value, eps: eps)
        Autograd.noGrad {
            runningMean.value = runningMean.value * (1 - momentum) + r.mean.detached() * momentum
            runningVar.value = runningVar.value * (1 - momentum) + r.variance.detached() * momentum
        }
        return r.output
    }
}

/// Max pooling layer (kernel, stride defaulting to kernel, symmetric padding).
public final class MaxPool2d: Layer {
    public let kernel: Int, stride: Int, padding: Int
    public var isTraining = true
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.maxPool2d(kernel: [kernel, kernel], stride: [stride, stride], padding: [padding, padding])
    }
}

/// Inverted dropout; identity in evaluation. Draws its masks from its own seeded generator.
public final class Dropout: Layer {
    public let p: Float
    public var isTraining = true
    private var rng: RandomGenerator
    public init(p: Float = 0.5, seed: UInt64 = 0) { self.p = p; self.rng = RandomGenerator(seed: seed) }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.dropout(p: p, training: isTraining, rng: &rng) }
}
