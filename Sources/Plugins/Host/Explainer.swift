import Foundation
import Runtime

/// What the explained score is, at the target class (`score:` parameter).
public enum ScoreKind: String, Sendable, CaseIterable {
    case logit, prob, logprob
}

/// Which class to explain.
public enum Target: Sendable, Equatable {
    case predicted
    case index(Int)
    case name(String)
    /// The k-th most probable class of each image (1 = predicted): CHIP's Fig. 5 explains the
    /// second to show which methods are class-discriminative.
    case ranked(Int)

    /// One target per image (Captum's `target=labels`); items are not `.each` themselves.
    case each([Target])

    /// The targets of images `r` of a batch: per-image targets are cut, the others apply to every image.
    public func slice(_ r: Range<Int>) -> Target {
        guard case let .each(ts) = self else { return self }
        return .each(Array(ts[r]))
    }
}

public struct Capabilities: Sendable, OptionSet {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Backpropagates through the model.
    public static let needsGradients = Capabilities(rawValue: 1)
    /// Takes a `layer` parameter.
    public static let layerChoice = Capabilities(rawValue: 2)
    /// Explains a whole batch in one call (otherwise the host loops over images).
    public static let batched = Capabilities(rawValue: 4)
    /// Draws random numbers (uses the seeded generator in the context).
    public static let stochastic = Capabilities(rawValue: 8)
    /// Has a `fit` phase on a dataset before it can explain.
    public static let fits = Capabilities(rawValue: 16)
}

/// A saliency map with everything needed to report, score and reproduce it.
public struct SaliencyMap: Sendable {
    /// [N, 1, H, W] in the method's own convention (sign and scale as the method defines them).
    public var map: Tensor
    /// [N, C, H, W] raw attribution, when the method has one.
    public var attribution: Tensor?
    public var method: String
    public var params: Params
    /// Explained class per image.
    public var targets: [Int]
    /// Class names of the targets when the model carries labels.
    public var targetNames: [String]?
    /// Wall time of the explain call, in seconds (all images).
    public var seconds: Double
    /// Method-specific per-image numbers (IG's completeness gap, Noise Mask's final terms).
    public var scalars: [String: [Double]]
    /// Method-specific curves (Noise Mask's loss per iteration), per image.
    public var curves: [String: [[Double]]]

    public init(map: Tensor, attribution: Tensor? = nil, method: String, params: Params, targets: [Int],
                targetNames: [String]? = nil, seconds: Double = 0, scalars: [String: [Double]] = [:], curves: [String: [[Double]]] = [:]) {
        self.map = map; self.attribution = attribution; self.method = method; self.params = params
        self.targets = targets; self.targetNames = targetNames; self.seconds = seconds; self.scalars = scalars; self.curves = curves
    }

    public var count: Int { map.shape[0] }
    /// Seconds per map.
    public var secondsPerMap: Double { seconds / Double(Swift.max(count, 1)) }
}

/// What an explainer's `explain` returns; the host wraps it into a SaliencyMap.
public struct Explanation: Sendable {
    public var map: Tensor
    public var attribution: Tensor?
    public var scalars: [String: [Double]]
    public var curves: [String: [[Double]]]
    public init(map: Tensor, attribution: Tensor? = nil, scalars: [String: [Double]] = [:], curves: [String: [[Double]]] = [:]) {
        self.map = map; self.attribution = attribution; self.scalars = scalars; self.curves = curves
    }
}

/// Everything an explainer sees for one call.
public struct ExplainContext {
    public let model: Graph
    /// [N, C, H, W]
    public let images: Tensor
    /// Resolved target class per image.
    public let targets: [Int]
    public let params: Params
    public let score: ScoreKind
    public var rng: RandomGenerator
    public let cancellation: CancellationToken
    /// Reports work done (done, total) for progress bars.
    public let progress: (@Sendable (Int, Int) -> Void)?
    /// What the method learned in its fit phase (methods with the `fits` capability; the
    /// host guarantees it is present, fitted by this method on this model). Its fit-phase
    /// parameters are also in `params`, with the values the fit used.
    public let fitted: FitState?
    /// Values the method chose for parameters left unset (the default layer it resolved):
    /// the host records them in the map's params, so a map says how it was made.
    public var chosen: [String: ParamValue] = [:]

    /// The method's own first forward pass on the unchanged images, when the host already ran
    /// it (with gradients recorded) to find the predicted targets; see `Explainer.targetPass`.
    public internal(set) var recordedPass: RecordedPass? = nil
    /// The logits [N, classes] of the host's inference pass on the unchanged images, when it
    /// ran one to find the predicted targets: a method that needs the unperturbed scores
    /// (occlusion) reads them here instead of running the same pass again.
    public internal(set) var targetLogits: Tensor? = nil

    public init(model: Graph, images: Tensor, targets: [Int], params: Params, score: ScoreKind = .logit,
                rng: RandomGenerator = RandomGenerator(seed: 0), cancellation: CancellationToken = .never,
                progress: (@Sendable (Int, Int) -> Void)? = nil, fitted: FitState? = nil) {
        self.model = model; self.images = images; self.targets = targets; self.params = params
        self.score = score; self.rng = rng; self.cancellation = cancellation; self.progress = progress; self.fitted = fitted
    }

    /// The fitted state (present for methods with the `fits` capability).
    public func fittedState() throws -> FitState {
        guard let fitted else { throw PluginError.invalid("this method must be fitted on a dataset first") }
        return fitted
    }

    /// Logits, probabilities or log-probabilities for every class, as `score` asks.
    public func scoreValues(_ logits: Tensor) -> Tensor {
        switch score {
        case .logit: return logits
        case .prob: return logits.softmax(axis: 1)
        case .logprob: return logits.logSoftmax(axis: 1)
        }
    }

    /// The explained score of each image's target class from logits [N, classes], summed over
    /// the batch (so one backward pass gives every image's gradient).
    public func targetScore(_ logits: Tensor, targets: [Int]? = nil) -> Tensor {
        let t = targets ?? self.targets
        let values = scoreValues(logits)
        let n = logits.shape[0], c = logits.shape[1]
        var onehot = [Float](repeating: 0, count: n * c)
        for i in 0..<n { onehot[i * c + t[i % t.count]] = 1 }
        return (values * Tensor(shape: [n, c], data: onehot)).sum()
    }

    /// Per-image target scores (no gradient), [N].
    public func targetScores(_ logits: Tensor, targets: [Int]? = nil) -> [Float] {
        let t = targets ?? self.targets
        let values = scoreValues(logits)
        let c = logits.shape[1]
        return (0..<logits.shape[0]).map { values[flat: $0 * c + t[$0 % t.count]] }
    }
}

/// A forward pass of the images (which require gradients) with its recorded tape: the host
/// runs the method's first pass once and reads the predicted targets off its logits.
public struct RecordedPass {
    /// The images: requiring gradients (what the pass's gradients are taken with respect to)
    /// unless the method's `targetPassNeedsInputGradients` is false.
    public let input: Tensor
    public let result: ForwardResult
}

/// An explanation method. Most methods implement `explain` only; the protocol extension
/// supplies the rest (pytorch-grad-cam's get_cam_weights pattern).
public protocol Explainer: Sendable {
    var name: String { get }
    var summary: String { get }
    /// Paper reference, "Authors, Title, Venue Year".
    var reference: String { get }
    var parameters: [ParamSpec] { get }
    var capabilities: Capabilities { get }
    func explain(_ ctx: inout ExplainContext) throws -> Explanation
    /// Methods with the `fits` capability learn from a dataset before explaining; the host
    /// caches the result by model, dataset, fit parameters (`ParamSpec.phase == .fit`) and
    /// seed (see FitCache).
    func fit(_ ctx: FitContext) throws -> FitState
    /// The options of the method's first forward pass over the unchanged images, when its
    /// logits are all that finding the predicted class needs: the host then runs that pass
    /// once, with gradients recorded, takes the targets from it and hands it to the method
    /// (`ExplainContext.recordedPass`) instead of running a separate inference pass first.
    /// Default nil (the host runs its own inference pass).
    func targetPass(params: Params, model: Graph) throws -> ForwardOptions?
    /// Whether the method takes gradients with respect to the images from its `targetPass`
    /// (default true). The CAM family takes them at a layer only (`capture` makes the layer's
    /// value a leaf that records): the host then passes images that do not record, and the
    /// pass runs as inference up to the layer (in place, fused, no tape).
    var targetPassNeedsInputGradients: Bool { get }
}

extension Explainer {
    public var parameters: [ParamSpec] { [] }
    public var capabilities: Capabilities { [.needsGradients, .batched] }
    public func fit(_ ctx: FitContext) throws -> FitState {
        throw PluginError.invalid("method '\(name)' has no fit phase")
    }
    /// Names of the parameters its fit reads (`phase: .fit`): changing any other one reuses
    /// the cached fit.
    public var fitParameters: [String] { parameters.filter { $0.phase == .fit }.map(\.name) }
    public func targetPass(params: Params, model: Graph) throws -> ForwardOptions? { nil }
    public var targetPassNeedsInputGradients: Bool { true }
}

/// Channel-max of |attribution| as the map (Simonyan et al.'s convention), [N, 1, H, W].
public func channelMaxAbs(_ a: Tensor) -> Tensor { a.abs().max(axis: 1, keepDims: true) }
