import Dispatch
import Foundation
import Runtime

/// One mini-batch as the loss closure sees it.
public struct TrainingBatch {
    /// 0-based epoch and batch index within it.
    public let epoch: Int
    public let index: Int
    /// Positions of the examples in the training data.
    public let indices: [Int]
    /// The images, [count] + the data's sample shape.
    public let images: Tensor
    public let labels: [Int]
    public var count: Int { indices.count }
}

/// What a loss closure runs graphs with during one step. Everything random in a step
/// (augmentation, noise, sampled masks) is drawn from `rng`, the loop's one generator, which
/// checkpoints save: that is what makes a resumed run give the uninterrupted run's bytes.
public final class TrainingStep {
    public var rng: RandomGenerator
    private let trained: Set<ObjectIdentifier>
    /// Batch-norm running statistics reported by training-mode passes, written back after the
    /// optimizer step.
    var updates: [(Graph, [String: Tensor])] = []

    init(rng: RandomGenerator, trained: Set<ObjectIdentifier>) {
        self.rng = rng; self.trained = trained
    }

    /// Runs a graph with autograd: gradients reach its trained weights and, through any graph,
    /// whatever its input depends on (NICE's generator behind a frozen classifier).
    /// `training` (default: whether the loop trains this graph) selects batch statistics and
    /// updates the running ones; a training-mode pass draws its seed from `rng`.
    public func forward(_ graph: Graph, _ input: Tensor, training: Bool? = nil,
                        options: ForwardOptions = ForwardOptions()) throws -> ForwardResult {
        try forward(graph, [input], training: training, options: options)
    }

    /// `forward` for a graph with several inputs (one tensor per graph input, in order).
    public func forward(_ graph: Graph, _ inputs: [Tensor], training: Bool? = nil,
                        options: ForwardOptions = ForwardOptions()) throws -> ForwardResult {
        var o = options
        o.training = training ?? trained.contains(ObjectIdentifier(graph))
        if o.training { o.seed = rng.next() }
        let result = try graph.forward(inputs, options: o)
        if o.training && !result.updatedBuffers.isEmpty { updates.append((graph, result.updatedBuffers)) }
        return result
    }

    /// Runs a graph in inference mode without autograd (a teacher's targets).
    public func infer(_ graph: Graph, _ inputs: Tensor..., options: ForwardOptions = ForwardOptions()) throws -> ForwardResult {
        var o = options
        o.training = false
        return try Autograd.noGrad { try graph.forward(inputs, options: o) }
    }
}

/// What a loss closure returns: a scalar loss to minimise and figures to log (means over
/// the batch, e.g. "accuracy" or "kl"); each epoch records their example-weighted means.
public struct StepLoss {
    public var loss: Tensor
    public var figures: [String: Double]
    public init(_ loss: Tensor, figures: [String: Double] = [:]) {
        self.loss = loss; self.figures = figures
    }
}

/// One finished epoch.
public struct EpochRecord: Sendable, Codable, Equatable {
    /// 0-based.
    public var epoch: Int
    /// Mean loss over the epoch's training batches (weighted by batch size).
    public var loss: Double
    /// The loss closure's figures, example-weighted means over the epoch.
    public var figures: [String: Double]
    /// The validation score after the epoch (nil without validation).
    public var score: Double?
    public var learningRate: Double
    /// Wall time of the epoch, validation included.
    public var seconds: Double
}

public struct TrainingReport: Sendable {
    /// Every finished epoch, those loaded from a checkpoint included.
    public var epochs: [EpochRecord]
    /// Best validation score (nil without validation).
    public var bestScore: Double?
    /// The epoch (0-based) whose weights the trained graphs hold at the end.
    public var bestEpoch: Int
    /// Wall time of this call.
    public var seconds: Double
    /// Training stopped early because it was cancelled (with `stopEarlyOnCancel`).
    public var interrupted: Bool = false
    /// Epochs loaded from the checkpoint directory instead of run (0 for a fresh run).
    public var resumedEpochs: Int = 0
}

/// The one training loop: trains any set of graphs (whole, or named subsets of their
/// weights) on mini-batches of in-memory data by minimising a loss closure, with frozen
/// graphs alongside (teachers, classifiers to explain), an optimizer and learning-rate
/// schedule, validation with best-epoch keeping, progress callbacks, cancellation, and
/// epoch checkpoints to resume from. The classification trainer (`train(_:on:...)`), the
/// language's `train(...)`, `saliency-bench train` and the methods that learn all run here.
///
/// - Shuffling is a seeded Fisher-Yates pass over the previous epoch's order, every epoch;
///   the last partial batch is kept. One generator, seeded with `seed`, drives shuffling and
///   everything the loss closure draws (`TrainingStep.rng`): the same seed gives the same
///   bytes on one machine.
/// - Trained graphs have exactly their selected weights unfrozen during the run and are
///   frozen on return; frozen graphs are frozen at the start.
/// - With `validate` (a score, higher is better, run without autograd after every epoch),
///   the weights of the best epoch (every weight of the trained graphs, batch-norm statistics
///   included) are restored at the end; without, the last epoch's stay.
/// - Cancellation is checked before every batch, and the trained graphs never keep the
///   half-updated weights of an unfinished epoch: they go back to the best epoch's weights
///   (the last finished epoch's without validation; the initial ones before any). With
///   `stopEarlyOnCancel` and a finished epoch the run returns normally (`interrupted`),
///   otherwise `PluginError.cancelled` is thrown. Any other error restores the same way.
/// - With `checkpoint` (a directory), every finished epoch is saved there atomically (see
///   `TrainingCheckpoint`); a run that finds a checkpoint of the same settings resumes after
///   its last epoch and ends with the weights the uninterrupted run would have. A checkpoint
///   of other settings is an error naming the difference.
public struct TrainingLoop {
    public var trained: [TrainedGraph]
    public var frozen: [Graph]
    public var data: TrainingData
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerSpec
    public var schedule: ScheduleSpec
    public var seed: UInt64
    public var shuffle = true
    /// The loss of one batch; runs the graphs through the step's `forward` / `infer`.
    public var loss: (TrainingBatch, TrainingStep) throws -> StepLoss
    /// A validation score after every epoch, higher is better.
    public var validate: (() throws -> Double)?
    /// A directory for epoch checkpoints (created when missing); nil: no checkpoints.
    public var checkpoint: URL?
    /// Settings the loss closure depends on (augmentation, temperature, ...): part of what a
    /// checkpoint must match to be resumed.
    public var settings: String = ""
    public var cancellation: CancellationToken = .never
    public var stopEarlyOnCancel = false
    /// After every finished epoch (after its checkpoint is written).
    public var onEpoch: ((EpochRecord) -> Void)?
    /// With 0 when an epoch starts and after every step with the batches done (progress bars).
    public var onBatch: ((_ done: Int, _ total: Int) -> Void)?
    /// Before training when a checkpoint was loaded, with the epochs it holds.
    public var onResume: ((_ epochs: Int) -> Void)?

    public init(trained: [TrainedGraph], frozen: [Graph] = [], data: TrainingData, epochs: Int, batchSize: Int,
                optimizer: OptimizerSpec, schedule: ScheduleSpec = .constant, seed: UInt64 = 0,
                loss: @escaping (TrainingBatch, TrainingStep) throws -> StepLoss) {
        self.trained = trained; self.frozen = frozen; self.data = data; self.epochs = epochs; self.batchSize = batchSize
        self.optimizer = optimizer; self.schedule = schedule; self.seed = seed; self.loss = loss
    }

    public func run() throws -> TrainingReport {
        let start = DispatchTime.now().uptimeNanoseconds
        try check()
        for g in frozen { g.freeze() }
        for t in trained { t.graph.setTrainable(Set(t.weights)) }
        defer { for t in trained { t.graph.freeze() } }
        let opt = optimizer.make(trained.flatMap { t in t.weights.compactMap { t.graph.parameters[$0] } })
        let lrSchedule = schedule.make(base: optimizer.learningRate, epochs: epochs)
        let trainedIDs = Set(trained.map { ObjectIdentifier($0.graph) })
        let n = data.count

        var state = LoopState(rng: RandomGenerator(seed: seed), order: Array(0..<n))
        var fallback = (epoch: -1, weights: snapshot())
        let store = try checkpoint.map { try TrainingCheckpoint(directory: $0, fingerprint: fingerprint()) }
        if let store, let saved = try store.load(into: trained, optimizer: opt, count: n) {
            state = saved
            fallback = (saved.records.count - 1, snapshot())
            onResume?(saved.records.count)
        }
        let resumed = state.records.count
        var interrupted = false
        let batchesPerEpoch = (n + batchSize - 1) / batchSize

        epochLoop: for epoch in resumed..<Swift.max(resumed, epochs) {
            do {
                let t0 = DispatchTime.now().uptimeNanoseconds
                lrSchedule?.apply(to: opt, epoch: epoch)
                if shuffle {
                    for i in stride(from: n - 1, to: 0, by: -1) { state.order.swapAt(i, Int(state.rng.next() % UInt64(i + 1))) }
                }
                var lossSum = 0.0, figureSums: [String: Double] = [:]
                onBatch?(0, batchesPerEpoch)
                for (batchIndex, first) in stride(from: 0, to: n, by: batchSize).enumerated() {
                    try cancellation.check()
                    let idx = Array(state.order[first..<Swift.min(n, first + batchSize)])
                    let batch = TrainingBatch(epoch: epoch, index: batchIndex, indices: idx, images: data.batch(idx),
                                              labels: idx.map { data.labels[$0] })
                    let step = TrainingStep(rng: state.rng, trained: trainedIDs)
                    let out = try loss(batch, step)
                    state.rng = step.rng
                    let value = try checkLoss(out.loss, epoch: epoch, batch: batchIndex)
                    opt.zeroGrad()
                    out.loss.backward()
                    Autograd.noGrad { opt.step() }
                    for (graph, updates) in step.updates { for (name, t) in updates { try graph.setWeight(name, t) } }
                    lossSum += value * Double(idx.count)
                    for (k, v) in out.figures { figureSums[k, default: 0] += v * Double(idx.count) }
                    onBatch?(batchIndex + 1, batchesPerEpoch)
                }
                var record = EpochRecord(epoch: epoch, loss: lossSum / Double(n), figures: figureSums.mapValues { $0 / Double(n) },
                                         score: nil, learningRate: Double(opt.learningRate), seconds: 0)
                if let validate {
                    let score = try Autograd.noGrad { try validate() }
                    record.score = score
                    if state.best.map({ score > $0.score }) ?? true { state.best = (score, epoch, snapshot()) }
                } else {
                    fallback = (epoch, snapshot())
                }
                record.seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                state.records.append(record)
                try store?.save(state, trained: trained, optimizer: opt)
                onEpoch?(record)
            } catch {
                let back = state.best.map { ($0.epoch, $0.weights) } ?? fallback
                try restore(back.1)
                guard case PluginError.cancelled = error, stopEarlyOnCancel, back.0 >= 0 else { throw error }
                interrupted = true
                break epochLoop
            }
        }
        let finalEpoch = state.records.count - 1
        if !interrupted, let best = state.best, best.epoch != finalEpoch { try restore(best.weights) }
        return TrainingReport(epochs: state.records, bestScore: state.best?.score, bestEpoch: state.best?.epoch ?? finalEpoch,
                              seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
                              interrupted: interrupted, resumedEpochs: resumed)
    }

    /// Every weight of every trained graph (batch-norm statistics included), by graph.
    func snapshot() -> [[String: Tensor]] { trained.map { $0.graph.weights.mapValues { $0.detached() } } }

    func restore(_ weights: [[String: Tensor]]) throws {
        for (t, w) in zip(trained, weights) { for (name, value) in w { try t.graph.setWeight(name, value) } }
    }

    private func checkLoss(_ loss: Tensor, epoch: Int, batch: Int) throws -> Double {
        guard loss.count == 1 else { throw PluginError.invalid("training: the loss must be a scalar, got shape \(loss.shape)") }
        guard loss.requiresGrad else {
            throw PluginError.invalid("training: the loss does not depend on any trained weight (run trained graphs with step.forward)")
        }
        let value = Double(loss.item)
        guard value.isFinite else {
            throw PluginError.invalid("training: the loss is \(value) at epoch \(epoch + 1), batch \(batch + 1) (a lower learning rate may help)")
        }
        return value
    }

    private func check() throws {
        guard epochs >= 1 else { throw PluginError.invalid("training: epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw PluginError.invalid("training: the batch size must be at least 1, got \(batchSize)") }
        try optimizer.validate()
        try schedule.validate()
        guard !trained.isEmpty else { throw PluginError.invalid("training: no graph to train") }
        var names = Set<String>(), graphs = Set<ObjectIdentifier>()
        for t in trained {
            guard names.insert(t.name).inserted else { throw PluginError.invalid("training: two trained graphs are named '\(t.name)'") }
            guard graphs.insert(ObjectIdentifier(t.graph)).inserted else { throw PluginError.invalid("training: graph '\(t.name)' is listed twice") }
            guard !t.weights.isEmpty else { throw PluginError.invalid("training: graph '\(t.name)' has no weights to train") }
        }
        for g in frozen where graphs.contains(ObjectIdentifier(g)) {
            throw PluginError.invalid("training: graph '\(g.name)' is both trained and frozen")
        }
    }

    /// What a checkpoint must match to be resumed, as (what, value) lines.
    func fingerprint() -> [(String, String)] {
        var lines: [(String, String)] = trained.map { t in
            var d = Digest()
            for n in t.graph.nodes { d.update(n.name); d.update(n.opType); d.update(n.inputs.joined(separator: ",")) }
            for (name, p) in t.graph.parameters.sorted(by: { $0.key < $1.key }) { d.update(name); d.update(p.shape.map(String.init).joined(separator: "x")) }
            return ("trained graph '\(t.name)'", "\(t.weights.count) trained weights #\(d.hex.prefix(12))")
        }
        lines += frozen.map { ("frozen graph '\($0.name)'", "#\($0.contentDigest.prefix(12))") }
        lines += [("data", data.identity), ("epochs", String(epochs)), ("batch size", String(batchSize)),
                  ("optimizer", optimizer.description), ("schedule", schedule.description), ("seed", String(seed)),
                  ("shuffle", String(shuffle)), ("settings", settings)]
        return lines
    }
}

/// What the loop carries from epoch to epoch, and what a checkpoint stores.
struct LoopState {
    var rng: RandomGenerator
    var order: [Int]
    var records: [EpochRecord] = []
    var best: (score: Double, epoch: Int, weights: [[String: Tensor]])?
}
