import Foundation
import Testing
@testable import Plugins
import Runtime

/// The one training loop (Sources/Plugins/Training/TrainingLoop.swift): distillation from a
/// frozen teacher with a custom loss, kill and resume, named parameter subsets, checkpoint
/// checks and loss checks.
@Suite struct TrainingLoopTests {
    static func noise(_ n: Int, seed: UInt64) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor.uniform([n, 1, 8, 8], rng: &rng)
    }
    /// 40 noise images (labels all 0) and 16 held out.
    let data: TrainingData
    let heldOut = noise(16, seed: 2)
    init() throws { data = try TrainingData(name: "noise", images: Self.noise(40, seed: 1)) }

    func net(seed: UInt64, width: Int, batchNorm: Bool = false) throws -> Graph {
        let b = GraphBuilder(name: "net", inputShape: [1, 8, 8], seed: seed)
        try b.conv(name: "conv", out: width, kernel: 3, padding: 1)
        if batchNorm { try b.batchNorm(name: "bn") }
        try b.relu(name: "relu")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: 3)
        return try b.build()
    }

    func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("loop-\(UUID().uuidString)")
    }

    /// The issue's done-when test: a student distils a frozen teacher (KL at temperature 2 on
    /// noisy inputs, SGD with Nesterov momentum, multi-step decay, validation keeping the best
    /// epoch); a run killed after epoch 2 and resumed from its checkpoint into a student built
    /// with another seed ends with the uninterrupted run's weights and records.
    @Test func killedDistillationResumesToTheSameBytes() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func run(checkpoint: URL?, killAfter: Int? = nil, studentSeed: UInt64 = 12) throws -> (Graph, TrainingReport?) {
            let teacher = try net(seed: 11, width: 4), student = try net(seed: studentSeed, width: 2, batchNorm: true)
            let token = CancellationToken()
            var loop = TrainingLoop(trained: [TrainedGraph(student, name: "student")], frozen: [teacher], data: data, epochs: 4,
                                    batchSize: 8, optimizer: .sgd(learningRate: 0.05, momentum: 0.9, nesterov: true),
                                    schedule: .multiStep(milestones: [2, 3]), seed: 5) { batch, step in
                let x = batch.images + Tensor.normal(batch.images.shape, std: 0.1, rng: &step.rng)
                let target = (try step.infer(teacher, x).output * 0.5).softmax(axis: 1)
                let logProbs = (try step.forward(student, x).output * 0.5).logSoftmax(axis: 1)
                let kl = (target * (target.log() - logProbs)).sum() * (4 / Float(batch.count))
                return StepLoss(kl, figures: ["kl": Double(kl.item) / 4])
            }
            loop.validate = { [heldOut] in
                let d = try student(heldOut) - teacher(heldOut)
                return -Double((d * d).mean().item)
            }
            loop.checkpoint = checkpoint
            loop.cancellation = token
            loop.onEpoch = { if $0.epoch + 1 == killAfter { token.cancel() } }
            do { return (student, try loop.run()) } catch PluginError.cancelled { return (student, nil) }
        }
        let (uninterrupted, full) = try run(checkpoint: nil)
        #expect(try run(checkpoint: dir, killAfter: 2).1 == nil)   // cancelled at the start of epoch 3
        let (resumed, report) = try run(checkpoint: dir, studentSeed: 99)
        #expect(report?.resumedEpochs == 2 && full?.resumedEpochs == 0)
        let rates = full?.epochs.map(\.learningRate) ?? []
        #expect(rates.count == 4 && zip(rates, [0.05, 0.05, 0.005, 0.0005]).allSatisfy { Swift.abs($0 / $1 - 1) < 1e-6 }, "\(rates)")
        // Determinism is the thing tested: the same code on the same machine in one process,
        // so the bytes must agree exactly (no tolerance: any difference is a lost state).
        for (name, w) in uninterrupted.weights { #expect(resumed.weight(name)?.scalars == w.scalars, "\(name)") }
        func figures(_ r: TrainingReport?) -> [[Double?]] { r?.epochs.map { [$0.loss, $0.figures["kl"], $0.score, $0.learningRate] } ?? [] }
        #expect(figures(report) == figures(full) && report?.bestEpoch == full?.bestEpoch)
    }

    @Test func aNamedSubsetTrainsAndNothingElse() throws {
        let g = try ModelZoo.smallResNet(classes: 3, inputSize: 8, channels: 1, widths: [4, 4], seed: 1)
        let part = try TrainedGraph(g, only: ["layer2", "fc.weight"])
        #expect(part.weights.contains("layer2.0.conv1.weight") && part.weights.contains("fc.weight"))
        #expect(!part.weights.contains("fc.bias") && !part.weights.contains { $0.hasPrefix("layer1.") || $0.contains("running") })
        let before = g.weights
        let loop = TrainingLoop(trained: [part], data: data, epochs: 1, batchSize: 10, optimizer: .adam(learningRate: 0.01)) { batch, step in
            StepLoss(Tensor.crossEntropy(logits: try step.forward(g, batch.images, training: false).output, labels: batch.labels))
        }
        _ = try loop.run()
        let learnable = trainableWeightNames(g)
        // Weights outside the subset keep their bytes (nothing wrote them); the subset moved.
        for (name, w) in g.weights where learnable.contains(name) && !part.weights.contains(name) {
            #expect(w.scalars == before[name]!.scalars, "\(name)")
        }
        #expect(part.weights.filter { g.weight($0)!.scalars != before[$0]!.scalars }.count > part.weights.count / 2)
        #expect(g.trainable.isEmpty)
        let e = #expect(throws: PluginError.self) { try TrainedGraph(g, only: ["layer3"]) }
        #expect(e?.description.contains("no learnable weights under 'layer3'; did you mean 'layer") == true, "\(e.map { "\($0)" } ?? "")")
    }

    @Test func aCheckpointOfOtherSettingsOrAFinishedRun() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func loop(_ g: Graph, lr: Double) -> TrainingLoop {
            var l = TrainingLoop(trained: [TrainedGraph(g)], data: data, epochs: 2, batchSize: 16, optimizer: .adam(learningRate: lr)) { batch, step in
                StepLoss(Tensor.crossEntropy(logits: try step.forward(g, batch.images).output, labels: batch.labels))
            }
            l.checkpoint = dir
            return l
        }
        let g = try net(seed: 1, width: 2)
        _ = try loop(g, lr: 0.01).run()
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files == ["checkpoint.json", "epoch-2.params"])
        // A finished run resumes to its end: nothing trains, the weights come back.
        let again = try net(seed: 2, width: 2)
        var batches = 0
        var finished = loop(again, lr: 0.01)
        finished.onBatch = { _, _ in batches += 1 }
        #expect(try finished.run().resumedEpochs == 2 && batches == 0)
        #expect(again.weights.allSatisfy { g.weight($0.key)!.scalars == $0.value.scalars })
        let e = #expect(throws: PluginError.self) { try loop(try net(seed: 1, width: 2), lr: 0.02).run() }
        #expect(e?.description.contains("its optimizer is 'adam(lr: 0.01,") == true, "\(e.map { "\($0)" } ?? "")")
        let other = #expect(throws: PluginError.self) { try loop(try net(seed: 1, width: 3), lr: 0.01).run() }
        #expect(other?.description.contains("its trained graph 'net' is") == true)
    }

    /// A checkpoint directory is input like any file (issue 21): a manifest naming a tensor
    /// file elsewhere, or a tensor file repeating an optimizer tensor (once a trap in
    /// `Dictionary(uniqueKeysWithValues:)`), is an IOError and the weights stay as they were.
    @Test func damagedCheckpointsAreErrorsNotTraps() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func loop(_ g: Graph, epochs: Int) -> TrainingLoop {
            var l = TrainingLoop(trained: [TrainedGraph(g)], data: data, epochs: epochs, batchSize: 16, optimizer: .adam(learningRate: 0.01)) { batch, step in
                StepLoss(Tensor.crossEntropy(logits: try step.forward(g, batch.images).output, labels: batch.labels))
            }
            l.checkpoint = dir
            return l
        }
        _ = try loop(try net(seed: 1, width: 2), epochs: 1).run()
        // The same settings again: a finished run would resume to its end.
        let manifestURL = dir.appendingPathComponent("checkpoint.json"), paramsURL = dir.appendingPathComponent("epoch-1.params")
        let manifest = try Data(contentsOf: manifestURL), params = try loadTensors(from: paramsURL)
        func resume() throws -> String {
            let g = try net(seed: 5, width: 2), before = g.weights
            do { _ = try loop(g, epochs: 1).run() } catch {
                #expect(g.weights.allSatisfy { before[$0.key]!.scalars == $0.value.scalars })
                return "\(error)"
            }
            return ""
        }
        var object = try #require(try JSONSerialization.jsonObject(with: manifest) as? [String: Any])
        object["tensors"] = "../epoch-1.params"
        try JSONSerialization.data(withJSONObject: object).write(to: manifestURL)
        let outside = try resume()
        #expect(outside.contains("the tensor file '../epoch-1.params' is not a file name of the checkpoint directory"), "\(outside)")

        try manifest.write(to: manifestURL)
        let optimizerEntry = try #require(params.first { $0.0.hasPrefix("optimizer/") })
        try saveTensors(params + [optimizerEntry], to: paramsURL)
        let twice = try resume()
        #expect(twice.contains("tensor '\(optimizerEntry.0)' appears twice"), "\(twice)")
    }

    @Test func badLossesAreErrorsAndRestoreTheWeights() throws {
        let g = try net(seed: 3, width: 2), teacher = try net(seed: 4, width: 2)
        let before = g.weights
        func run(_ loss: @escaping (TrainingBatch, TrainingStep) throws -> Tensor) -> String {
            let l = TrainingLoop(trained: [TrainedGraph(g)], frozen: [teacher], data: data, epochs: 1, batchSize: 8,
                                 optimizer: .sgd(learningRate: 0.1)) { batch, step in StepLoss(try loss(batch, step)) }
            do { _ = try l.run(); return "" } catch { return "\(error)" }
        }
        // Blows up on the third batch, after two steps changed the weights.
        #expect(run { b, s in
            let y = try s.forward(g, b.images).output
            return (y * y).sum() * (b.index == 2 ? Float.infinity : 1)
        }
            .contains("the loss is inf at epoch 1, batch 3"))
        #expect(g.weights.allSatisfy { before[$0.key]!.scalars == $0.value.scalars })
        #expect(run { b, s in try s.forward(g, b.images).output }.contains("the loss must be a scalar, got shape [8, 3]"))
        #expect(run { b, s in try s.infer(teacher, b.images).output.sum() }.contains("does not depend on any trained weight"))
        #expect(teacher.trainable.isEmpty && g.trainable.isEmpty)
    }
}
