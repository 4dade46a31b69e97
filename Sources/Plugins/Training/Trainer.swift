import Dispatch
import Foundation
import Runtime

/// Trains `graph` (a classifier whose first output is logits) on the mean cross-entropy of
/// a dataset, through the one training loop (`TrainingLoop`, which documents shuffling,
/// best-epoch keeping, cancellation and checkpoints).
///
/// - `optimizer`: "sgd" (with `momentum`, `nesterov`) or "adam"; `weightDecay` is L2.
/// - `schedule`: "none"; "step" multiplies the rate by 0.1 after each third of the epochs
///   (StepLR with step = max(1, epochs / 3)); "multistep" by 0.1 at each of `milestones`
///   (0-based epochs); "cosine" anneals to 0 over the run.
/// - Training runs the graph in training mode (batch statistics, running ones written back
///   after every step); each epoch records the training accuracy of the batches as they were
///   seen (figure "accuracy") and, with `validation`, the validation accuracy as its score.
/// - `augment` flips and shifts each training image, drawing from the loop's generator.
/// - `checkpoint`: a directory for epoch checkpoints; a run that finds one of the same
///   settings resumes after its last epoch (`resumed` is told how many epochs it holds).
/// - `batchProgress(done, total)` is called with 0 when an epoch starts and after every
///   optimizer step (progress bars); `progress` after every epoch.
public func train(_ graph: Graph, on trainSet: any Dataset, validation: (any Dataset)? = nil,
                  epochs: Int, batchSize: Int = 64, learningRate: Double = 1e-3, optimizer: String = "adam",
                  momentum: Double = 0.9, nesterov: Bool = false, weightDecay: Double = 0,
                  schedule: String = "none", milestones: [Int] = [], seed: UInt64 = 0, augment: Augmentation = .none,
                  checkpoint: URL? = nil,
                  progress: ((EpochRecord) -> Void)? = nil,
                  batchProgress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                  resumed: ((_ epochs: Int) -> Void)? = nil,
                  stopEarlyOnCancel: Bool = false,
                  cancellation: CancellationToken = .never) throws -> TrainingReport {
    let start = DispatchTime.now().uptimeNanoseconds
    let spec: OptimizerSpec
    switch optimizer {
    case "sgd": spec = .sgd(learningRate: learningRate, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay)
    case "adam":
        if nesterov { throw PluginError.invalid("train: Nesterov momentum needs optimizer \"sgd\"") }
        spec = .adam(learningRate: learningRate, weightDecay: weightDecay)
    default: throw PluginError.invalid("train: optimizer must be \"sgd\" or \"adam\", got \"\(optimizer)\"")
    }
    let lrSchedule: ScheduleSpec
    switch schedule {
    case "none": lrSchedule = .constant
    case "step": lrSchedule = .step(every: Swift.max(1, epochs / 3))
    case "multistep": lrSchedule = .multiStep(milestones: milestones)
    case "cosine": lrSchedule = .cosine()
    default: throw PluginError.invalid("train: schedule must be \"none\", \"step\", \"multistep\" or \"cosine\", got \"\(schedule)\"")
    }
    guard trainSet.count > 0 else { throw PluginError.invalid("train: the training set '\(trainSet.name)' is empty") }
    try checkInput(graph, [1] + trainSet.example(0).image.shape, dataset: trainSet)
    let data = try TrainingData(trainSet, cancellation: cancellation)

    var loop = TrainingLoop(trained: [TrainedGraph(graph)], data: data, epochs: epochs, batchSize: batchSize,
                            optimizer: spec, schedule: lrSchedule, seed: seed) { batch, step in
        let x = try augment.apply(batch.images, rng: &step.rng)
        let logits = try step.forward(graph, x).output
        let loss = Tensor.crossEntropy(logits: logits, labels: batch.labels)
        let correct = zip(logits.detached().argmax(axis: 1), batch.labels).filter { $0 == $1 }.count
        return StepLoss(loss, figures: ["accuracy": Double(correct) / Double(batch.count)])
    }
    if let validation {
        loop.validate = { try accuracy(graph, on: validation, batchSize: Swift.max(batchSize, 100), cancellation: cancellation) }
    }
    loop.checkpoint = checkpoint
    loop.settings = "cross-entropy; augment: flip \(augment.flipHorizontal), shift \(augment.maxShift); validation: "
        + (validation.map { "\($0.name) (\($0.count))" } ?? "none")
    loop.cancellation = cancellation
    loop.stopEarlyOnCancel = stopEarlyOnCancel
    loop.onEpoch = progress
    loop.onBatch = batchProgress
    loop.onResume = resumed
    var report = try loop.run()
    // The whole call, data preparation included (what the bench reports as training time).
    report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return report
}

/// The classification trainer's names for the loop's figures.
extension EpochRecord {
    /// Accuracy on the training batches as they were seen (training mode, augmented).
    public var trainAccuracy: Double { figures["accuracy"] ?? .nan }
    /// Accuracy on the validation set after the epoch (nil without one).
    public var validationAccuracy: Double? { score }
}

extension TrainingReport {
    /// Best validation accuracy (nil without validation data).
    public var bestAccuracy: Double? { bestScore }
}

/// Top-1 accuracy of `graph` on a dataset (inference mode, batched, no autograd), with
/// `interventions` applied on every pass (`ChannelAblation`'s zeroed channels).
/// With `reference`, the labels are that model's top-1 classes instead of the dataset's: the
/// top-1 agreement of `graph` with `reference` (a distilled student against its teacher).
public func accuracy(_ graph: Graph, on dataset: any Dataset, batchSize: Int = 100,
                     interventions: [String: Intervention] = [:], reference: Graph? = nil,
                     cancellation: CancellationToken = .never) throws -> Double {
    guard dataset.count > 0 else { throw PluginError.invalid("accuracy: the dataset '\(dataset.name)' is empty") }
    guard batchSize >= 1 else { throw PluginError.invalid("accuracy: batch size must be at least 1, got \(batchSize)") }
    var correct = 0
    try Autograd.noGrad {
        for s in stride(from: 0, to: dataset.count, by: batchSize) {
            try cancellation.check()
            let (images, labels, _) = try dataset.batch(Array(s..<Swift.min(dataset.count, s + batchSize)))
            try checkInput(graph, images.shape, dataset: dataset)
            let predicted = try graph.forward(images, options: ForwardOptions(interventions: interventions)).output.argmax(axis: 1)
            let truth = try reference.map { r in try checkInput(r, images.shape, dataset: dataset); return try r.forward(images).output.argmax(axis: 1) } ?? labels
            correct += zip(predicted, truth).filter { $0 == $1 }.count
        }
    }
    return Double(correct) / Double(dataset.count)
}

private func checkInput(_ graph: Graph, _ shape: [Int], dataset: any Dataset) throws {
    guard let info = graph.inputs.first else { throw PluginError.invalid("model '\(graph.name)' has no input") }
    let ok = info.shape.count == shape.count && zip(info.shape, shape).dropFirst().allSatisfy { $0 < 0 || $0 == $1 }
    guard ok else {
        throw PluginError.invalid("model '\(graph.name)' takes input \(info.shape.map { $0 < 0 ? "N" : String($0) }), "
            + "dataset '\(dataset.name)' gives \(shape.map(String.init)) (check the dataset's size / gray options)")
    }
}

/// A contiguous range of another dataset's examples (a validation hold-out, a test prefix).
public struct DatasetSubset: Dataset {
    public let base: any Dataset
    public let range: Range<Int>
    public init(_ base: any Dataset, _ range: Range<Int>) throws {
        guard range.lowerBound >= 0, range.upperBound <= base.count else {
            throw PluginError.invalid("subset \(range) is outside 0..<\(base.count) of '\(base.name)'")
        }
        self.base = base; self.range = range
    }
    public var name: String { "\(base.name)[\(range.lowerBound)..<\(range.upperBound)]" }
    public var classNames: [String] { base.classNames }
    public var count: Int { range.count }
    public func example(_ index: Int) throws -> Example {
        guard index >= 0 && index < count else { throw PluginError.invalid("dataset '\(name)': index \(index) is outside 0..<\(count)") }
        return try base.example(range.lowerBound + index)
    }
}
