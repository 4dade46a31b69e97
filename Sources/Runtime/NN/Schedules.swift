import Foundation

/// A learning rate as a function of the epoch (0-based), set on the optimizer at the start
/// of each epoch: `schedule.apply(to: opt, epoch: e)`.
public protocol LRSchedule {
    func learningRate(epoch: Int) -> Float
}

extension LRSchedule {
    public func apply(to optimizer: any Optimizer, epoch: Int) {
        optimizer.learningRate = learningRate(epoch: epoch)
    }
}

/// PyTorch's StepLR: base * gamma^(epoch / stepSize) (integer division).
public struct StepLR: LRSchedule, Sendable {
    public let base: Float
    public let stepSize: Int
    public let gamma: Float

    public init(base: Float, stepSize: Int, gamma: Float = 0.1) {
        precondition(stepSize > 0, "StepLR: stepSize must be positive")
        self.base = base
        self.stepSize = stepSize
        self.gamma = gamma
    }

    public func learningRate(epoch: Int) -> Float {
        Float(Double(base) * Foundation.pow(Double(gamma), Double(Swift.max(epoch, 0) / stepSize)))
    }
}

/// PyTorch's CosineAnnealingLR in closed form:
/// minLR + (base - minLR) * (1 + cos(pi * epoch / totalEpochs)) / 2.
/// Epochs past `totalEpochs` continue the cosine (as PyTorch's closed form does).
public struct CosineLR: LRSchedule, Sendable {
    public let base: Float
    public let totalEpochs: Int
    public let minLR: Float

    public init(base: Float, totalEpochs: Int, minLR: Float = 0) {
        precondition(totalEpochs > 0, "CosineLR: totalEpochs must be positive")
        self.base = base
        self.totalEpochs = totalEpochs
        self.minLR = minLR
    }

    public func learningRate(epoch: Int) -> Float {
        let c = (1 + Foundation.cos(Double.pi * Double(epoch) / Double(totalEpochs))) / 2
        return Float(Double(minLR) + Double(base - minLR) * c)
    }
}

/// PyTorch's MultiStepLR: base * gamma^(number of milestones <= epoch), i.e. the rate is
/// multiplied by gamma when the epoch reaches each milestone (the surrogate paper's
/// "divide by 10 at epochs 150 and 225"). Milestones are sorted; repeats count twice, as
/// PyTorch's Counter does.
public struct MultiStepLR: LRSchedule, Sendable {
    public let base: Float
    public let milestones: [Int]
    public let gamma: Float

    public init(base: Float, milestones: [Int], gamma: Float = 0.1) {
        self.base = base
        self.milestones = milestones.sorted()
        self.gamma = gamma
    }

    public func learningRate(epoch: Int) -> Float {
        let passed = milestones.filter { $0 <= epoch }.count
        return Float(Double(base) * Foundation.pow(Double(gamma), Double(passed)))
    }
}
