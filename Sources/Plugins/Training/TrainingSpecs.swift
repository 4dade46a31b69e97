import Foundation
import Runtime

/// The optimizer a training loop builds over its trained weights (Runtime/NN/Optimizers.swift
/// has the update rules, PyTorch's).
public enum OptimizerSpec: Sendable, Equatable, CustomStringConvertible {
    /// SGD, optionally with (Nesterov) momentum and L2 weight decay.
    case sgd(learningRate: Double, momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0)
    /// Adam with L2 weight decay added to the gradient (torch.optim.Adam).
    case adam(learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0)

    public var learningRate: Double {
        switch self { case let .sgd(lr, _, _, _), let .adam(lr, _, _, _, _): lr }
    }

    public var description: String {
        switch self {
        case let .sgd(lr, m, nesterov, wd): "sgd(lr: \(lr), momentum: \(m), nesterov: \(nesterov), weight_decay: \(wd))"
        case let .adam(lr, b1, b2, eps, wd): "adam(lr: \(lr), betas: \(b1), \(b2), eps: \(eps), weight_decay: \(wd))"
        }
    }

    func validate() throws {
        let lr = learningRate
        guard lr > 0, lr.isFinite else { throw PluginError.invalid("training: the learning rate must be positive, got \(lr)") }
        switch self {
        case let .sgd(_, m, nesterov, wd):
            guard m >= 0, m < 1, wd >= 0 else { throw PluginError.invalid("training: SGD needs momentum in [0, 1) and weight decay >= 0, got \(m) and \(wd)") }
            if nesterov && m == 0 { throw PluginError.invalid("training: Nesterov momentum needs momentum > 0") }
        case let .adam(_, b1, b2, eps, wd):
            guard (0..<1).contains(b1), (0..<1).contains(b2), eps >= 0, wd >= 0 else {
                throw PluginError.invalid("training: Adam needs betas in [0, 1), eps >= 0 and weight decay >= 0, got \(b1), \(b2), \(eps), \(wd)")
            }
        }
    }

    func make(_ parameters: [Parameter]) -> any Optimizer {
        switch self {
        case let .sgd(lr, m, nesterov, wd):
            SGD(parameters: parameters, lr: Float(lr), momentum: Float(m), nesterov: nesterov, weightDecay: Float(wd))
        case let .adam(lr, b1, b2, eps, wd):
            Adam(parameters: parameters, lr: Float(lr), beta1: Float(b1), beta2: Float(b2), eps: Float(eps), weightDecay: Float(wd))
        }
    }
}

/// How the learning rate changes with the epoch (set at the start of each epoch).
public enum ScheduleSpec: Sendable, Equatable, CustomStringConvertible {
    /// The optimizer's rate throughout.
    case constant
    /// Multiplied by gamma every `every` epochs (StepLR).
    case step(every: Int, gamma: Double = 0.1)
    /// Multiplied by gamma at each milestone epoch, 0-based (MultiStepLR).
    case multiStep(milestones: [Int], gamma: Double = 0.1)
    /// Cosine annealing from the rate to `minimum` over the loop's epochs (CosineAnnealingLR).
    case cosine(minimum: Double = 0)

    public var description: String {
        switch self {
        case .constant: "constant"
        case let .step(every, gamma): "step(every: \(every), gamma: \(gamma))"
        case let .multiStep(milestones, gamma): "multistep(milestones: \(milestones), gamma: \(gamma))"
        case let .cosine(minimum): "cosine(minimum: \(minimum))"
        }
    }

    func validate() throws {
        switch self {
        case .constant: break
        case let .step(every, gamma):
            guard every >= 1, gamma > 0, gamma.isFinite else { throw PluginError.invalid("training: a step schedule needs every >= 1 and gamma > 0, got \(every) and \(gamma)") }
        case let .multiStep(milestones, gamma):
            guard !milestones.isEmpty, milestones.allSatisfy({ $0 >= 1 }), gamma > 0, gamma.isFinite else {
                throw PluginError.invalid("training: a multi-step schedule needs milestones >= 1 and gamma > 0, got \(milestones) and \(gamma)")
            }
        case let .cosine(minimum):
            guard minimum >= 0, minimum.isFinite else { throw PluginError.invalid("training: the cosine schedule's minimum must be >= 0, got \(minimum)") }
        }
    }

    func make(base: Double, epochs: Int) -> (any LRSchedule)? {
        switch self {
        case .constant: nil
        case let .step(every, gamma): StepLR(base: Float(base), stepSize: every, gamma: Float(gamma))
        case let .multiStep(milestones, gamma): MultiStepLR(base: Float(base), milestones: milestones, gamma: Float(gamma))
        case let .cosine(minimum): CosineLR(base: Float(base), totalEpochs: epochs, minLR: Float(minimum))
        }
    }
}
