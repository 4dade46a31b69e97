import Foundation
import Runtime

/// Random training-time transformations of a batch.
public struct Augmentation: Sendable {
    /// Mirror each image left-right with probability 1/2.
    public var flipHorizontal: Bool
    /// Translate each image by up to this many pixels per axis (vacated pixels are zero).
    public var maxShift: Int
    public init(flipHorizontal: Bool = false, maxShift: Int = 0) {
        self.flipHorizontal = flipHorizontal; self.maxShift = maxShift
    }
    public static let none = Augmentation()
    var isNone: Bool { !flipHorizontal && maxShift == 0 }
}

/// One epoch's figures.
public struct EpochRecord: Sendable {
    public var epoch: Int
    /// Mean cross-entropy over the epoch's training batches.
    public var loss: Double
    /// Accuracy on the training batches as they were seen (training mode, augmented).
    public var trainAccuracy: Double
    /// Accuracy on the validation set after the epoch (nil without one).
    public var validationAccuracy: Double?
    public var learningRate: Double
    public var seconds: Double
}

public struct TrainingReport: Sendable {
    public var epochs: [EpochRecord]
    /// Best validation accuracy (nil without validation data).
    public var bestAccuracy: Double?
    /// The epoch (0-based) whose weights the graph holds at the end.
    public var bestEpoch: Int
    /// Wall time of the whole run, data preparation included.
    public var seconds: Double
    /// Training stopped early because it was cancelled (only with `stopEarlyOnCancel`); `epochs`
    /// lists the epochs that finished.
    public var interrupted: Bool = false
}

/// Names of the weights training should update: every weight except integer constants
/// (shapes, axes) and batch-norm running statistics, which are buffers updated by the
/// forward pass, not by gradients.
public func trainableWeightNames(_ graph: Graph) -> Set<String> {
    var buffers = graph.integerValues
    var used = Set<String>()
    for n in graph.nodes {
        used.formUnion(n.inputs)
        if n.opType == "BatchNormalization", n.inputs.count >= 5 { buffers.insert(n.inputs[3]); buffers.insert(n.inputs[4]) }
    }
    return Set(graph.weights.keys.filter { used.contains($0) && !buffers.contains($0) })
}

/// Trains `graph` (a classifier whose first output is logits) with mini-batch SGD or Adam on
/// the mean cross-entropy.
///
/// - The training set is materialised once (images stacked in memory): synthetic datasets
///   render on demand and would otherwise be re-rendered every epoch.
/// - Shuffling is a seeded Fisher-Yates permutation per epoch; the last partial batch is
///   kept (no sample is skipped).
/// - Forward runs in training mode (batch statistics), and the running mean/variance the
///   forward pass reports are written back after every step.
/// - `schedule`: "none"; "step" multiplies the rate by 0.1 after each third of the epochs
///   (StepLR with step = max(1, epochs / 3)); "cosine" anneals to 0 over the run.
/// - With validation data, the weights (running statistics included) of the best epoch are
///   kept and copied back at the end; without, the last epoch's weights stay.
/// - On return the graph is frozen (explainers treat classifiers as fixed).
/// - `batchProgress(done, total)` is called with 0 when an epoch starts and after every
///   optimizer step with the batches done in it (progress bars); `progress` after every epoch.
/// - Cancellation is checked before every batch. The graph never keeps the half-updated
///   weights of an unfinished epoch: with `stopEarlyOnCancel` and at least one finished epoch,
///   training ends there and returns normally (`interrupted`), holding the best epoch's weights
///   (the last finished epoch's without validation data), so an interactive user who presses
///   Ctrl-C keeps what was learnt; otherwise the same weights are restored (the initial ones
///   if no epoch finished) and `PluginError.cancelled` is thrown.
public func train(_ graph: Graph, on trainSet: any Dataset, validation: (any Dataset)? = nil,
                  epochs: Int, batchSize: Int = 64, learningRate: Double = 1e-3, optimizer: String = "adam",
                  momentum: Double = 0.9, nesterov: Bool = false, weightDecay: Double = 0,
                  schedule: String = "none", seed: UInt64 = 0, augment: Augmentation = .none,
                  progress: ((EpochRecord) -> Void)? = nil,
                  batchProgress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                  stopEarlyOnCancel: Bool = false,
                  cancellation: CancellationToken = .never) throws -> TrainingReport {
    let start = DispatchTime.now().uptimeNanoseconds
    guard epochs >= 1 else { throw PluginError.invalid("train: epochs must be at least 1, got \(epochs)") }
    guard batchSize >= 1 else { throw PluginError.invalid("train: batch size must be at least 1, got \(batchSize)") }
    guard learningRate > 0, learningRate.isFinite else { throw PluginError.invalid("train: learning rate must be positive, got \(learningRate)") }
    guard momentum >= 0, weightDecay >= 0 else { throw PluginError.invalid("train: momentum and weight decay must be >= 0") }
    guard ["sgd", "adam"].contains(optimizer) else {
        throw PluginError.invalid("train: optimizer must be \"sgd\" or \"adam\", got \"\(optimizer)\"")
    }
    guard ["none", "step", "cosine"].contains(schedule) else {
        throw PluginError.invalid("train: schedule must be \"none\", \"step\" or \"cosine\", got \"\(schedule)\"")
    }
    if nesterov && (optimizer != "sgd" || momentum == 0) {
        throw PluginError.invalid("train: Nesterov momentum needs optimizer \"sgd\" and momentum > 0")
    }
    guard trainSet.count > 0 else { throw PluginError.invalid("train: the training set '\(trainSet.name)' is empty") }

    let data = try materialise(trainSet, for: graph, cancellation: cancellation)
    let n = data.labels.count, sample = data.sampleShape.reduce(1, *)

    graph.setTrainable(trainableWeightNames(graph))
    let params = graph.trainableParameters
    let opt: any Optimizer = optimizer == "sgd"
        ? SGD(parameters: params, lr: Float(learningRate), momentum: Float(momentum), nesterov: nesterov, weightDecay: Float(weightDecay))
        : Adam(parameters: params, lr: Float(learningRate), weightDecay: Float(weightDecay))
    let lrSchedule: (any LRSchedule)? = switch schedule {
    case "step": StepLR(base: Float(learningRate), stepSize: Swift.max(1, epochs / 3))
    case "cosine": CosineLR(base: Float(learningRate), totalEpochs: epochs)
    default: nil
    }

    var rng = RandomGenerator(seed: seed)
    var order = Array(0..<n)
    var records: [EpochRecord] = []
    var best: (accuracy: Double, epoch: Int, weights: [String: Tensor])?
    // What a cancellation falls back to: the initial weights until an epoch finishes, then the
    // last finished epoch's (without validation; with it, `best` is used).
    var lastFinished: (epoch: Int, weights: [String: Tensor]) = (-1, graph.weights.mapValues { $0.detached() })
    var interrupted = false
    defer { graph.freeze() }
    let batchesPerEpoch = (n + batchSize - 1) / batchSize

    epochLoop: for epoch in 0..<epochs {
      do {
        let t0 = DispatchTime.now().uptimeNanoseconds
        lrSchedule?.apply(to: opt, epoch: epoch)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var lossSum = 0.0, correct = 0
        batchProgress?(0, batchesPerEpoch)
        for (batchIndex, startIndex) in stride(from: 0, to: n, by: batchSize).enumerated() {
            try cancellation.check()
            let idx = Array(order[startIndex..<Swift.min(n, startIndex + batchSize)])
            var x = Tensor(shape: [idx.count] + data.sampleShape) { dst in
                data.images.withUnsafeBufferPointer { src in
                    for (row, i) in idx.enumerated() {
                        for j in 0..<sample { dst[row * sample + j] = src[i * sample + j] }
                    }
                }
            }
            if !augment.isNone { x = augmentBatch(x, augment, rng: &rng) }
            let labels = idx.map { data.labels[$0] }
            let result = try graph.forward(x, options: ForwardOptions(training: true, seed: rng.next()))
            let loss = Tensor.crossEntropy(logits: result.output, labels: labels)
            opt.zeroGrad()
            loss.backward()
            Autograd.noGrad { opt.step() }
            for (name, value) in result.updatedBuffers { try graph.setWeight(name, value) }
            lossSum += Double(loss.item) * Double(idx.count)
            let predicted = result.output.detached().argmax(axis: 1)
            correct += zip(predicted, labels).filter { $0 == $1 }.count
            batchProgress?(batchIndex + 1, batchesPerEpoch)
        }
        var record = EpochRecord(epoch: epoch, loss: lossSum / Double(n), trainAccuracy: Double(correct) / Double(n),
                                 validationAccuracy: nil, learningRate: Double(opt.learningRate), seconds: 0)
        if let validation {
            let acc = try accuracy(graph, on: validation, batchSize: Swift.max(batchSize, 100), cancellation: cancellation)
            record.validationAccuracy = acc
            // unreachable from input: `best!` is read only when best is not nil (the || short-circuits)
            if best == nil || acc > best!.accuracy { best = (acc, epoch, graph.weights.mapValues { $0.detached() }) }
        }
        record.seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        records.append(record)
        if validation == nil { lastFinished = (epoch, graph.weights.mapValues { $0.detached() }) }
        progress?(record)
      } catch PluginError.cancelled {
        let fallback = best.map { ($0.epoch, $0.weights) } ?? lastFinished
        for (name, value) in fallback.1 { try graph.setWeight(name, value) }
        guard stopEarlyOnCancel, fallback.0 >= 0 else { throw PluginError.cancelled }
        interrupted = true
        break epochLoop
      }
    }
    let finalEpoch = records.count - 1
    if !interrupted, let best, best.epoch != finalEpoch {
        for (name, value) in best.weights { try graph.setWeight(name, value) }
    }
    return TrainingReport(epochs: records, bestAccuracy: best?.accuracy, bestEpoch: best?.epoch ?? finalEpoch,
                          seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, interrupted: interrupted)
}

/// Top-1 accuracy of `graph` on a dataset (inference mode, batched, no autograd), with
/// `interventions` applied on every pass (`ChannelAblation`'s zeroed channels).
public func accuracy(_ graph: Graph, on dataset: any Dataset, batchSize: Int = 100,
                     interventions: [String: Intervention] = [:], cancellation: CancellationToken = .never) throws -> Double {
    guard dataset.count > 0 else { throw PluginError.invalid("accuracy: the dataset '\(dataset.name)' is empty") }
    guard batchSize >= 1 else { throw PluginError.invalid("accuracy: batch size must be at least 1, got \(batchSize)") }
    var correct = 0
    try Autograd.noGrad {
        for s in stride(from: 0, to: dataset.count, by: batchSize) {
            try cancellation.check()
            let (images, labels, _) = try dataset.batch(Array(s..<Swift.min(dataset.count, s + batchSize)))
            try checkInput(graph, images.shape, dataset: dataset)
            let predicted = try graph.forward(images, options: ForwardOptions(interventions: interventions)).output.argmax(axis: 1)
            correct += zip(predicted, labels).filter { $0 == $1 }.count
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

/// All examples stacked: images [N * sample] and labels, with a clear error for label or
/// shape mismatches with the model.
private func materialise(_ ds: any Dataset, for graph: Graph, cancellation: CancellationToken)
    throws -> (images: Tensor, labels: [Int], sampleShape: [Int]) {
    let first = try ds.example(0)
    try checkInput(graph, [1] + first.image.shape, dataset: ds)
    let sampleShape = first.image.shape, sample = first.image.count, n = ds.count
    var labels = [Int](repeating: 0, count: n)
    let classes = ds.classNames.count
    var failure: Error?
    let images = Tensor(shape: [n * sample]) { dst in
        do {
            for i in 0..<n {
                if i % 256 == 0 { try cancellation.check() }
                let ex = i == 0 ? first : try ds.example(i)
                guard ex.image.shape == sampleShape else {
                    throw PluginError.invalid("train: example \(i) of '\(ds.name)' has shape \(ex.image.shape), example 0 has \(sampleShape)")
                }
                guard ex.label >= 0 && (classes == 0 || ex.label < classes) else {
                    throw PluginError.invalid("train: example \(i) of '\(ds.name)' has label \(ex.label) outside 0..<\(classes)")
                }
                labels[i] = ex.label
                ex.image.withUnsafeBufferPointer { src in
                    for j in 0..<sample { dst[i * sample + j] = src[j] }
                }
            }
        } catch { failure = error }
    }
    if let failure { throw failure }
    return (images, labels, sampleShape)
}

/// Flips and shifts each image of a batch [N, C, H, W] independently.
private func augmentBatch(_ x: Tensor, _ aug: Augmentation, rng: inout RandomGenerator) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    var plans: [(flip: Bool, dy: Int, dx: Int)] = []
    for _ in 0..<n {
        let flip = aug.flipHorizontal && rng.nextUniform() < 0.5
        let k = aug.maxShift
        let dy = k > 0 ? Int(rng.next() % UInt64(2 * k + 1)) - k : 0
        let dx = k > 0 ? Int(rng.next() % UInt64(2 * k + 1)) - k : 0
        plans.append((flip, dy, dx))
    }
    return Tensor(shape: x.shape) { dst in
        x.withUnsafeBufferPointer { src in
            for i in 0..<n {
                let p = plans[i]
                for ch in 0..<c {
                    let base = (i * c + ch) * h * w
                    for y in 0..<h {
                        let sy = y - p.dy
                        for xx in 0..<w {
                            let sxShifted = xx - p.dx
                            let sx = p.flip ? w - 1 - sxShifted : sxShifted
                            dst[base + y * w + xx] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[base + sy * w + sx] : 0
                        }
                    }
                }
            }
        }
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
