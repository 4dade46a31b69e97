import Foundation
import Runtime

/// The surrogate's two-stage fit (see `SurrogateExplainer`): distil the student (Eqs. 4-7),
/// then train the decoder with the student frozen (Eqs. 8-9), both in the one TrainingLoop.
struct AttentiveSurrogateFit {
    let ctx: FitContext
    let plugin: String

    /// Fractions of the run where the paper's schedules divide the rate by 10 (Sec. 4.1):
    /// S 190 epochs with milestones 100, 130, 160; E 16 epochs with 10, 12, 14.
    static let studentMilestones = [100.0 / 190, 130.0 / 190, 160.0 / 190]
    static let decoderMilestones = [10.0 / 16, 12.0 / 16, 14.0 / 16]
    /// Weight decay of both stages (the paper gives none; torchvision's ResNet recipe).
    static let weightDecay = 1e-4
    /// Share of the fit data held out to pick the student's best epoch.
    static let holdout = 0.05

    /// Eqs. 4-7: alpha * t^2 * KL(softmax(z_T/t) || softmax(z_S/t)) + (1 - alpha) * CE(z_S, y),
    /// each term a mean over the batch; returns the total and both terms.
    static func distillationLoss(student z: Tensor, teacher zT: Tensor, labels: [Int], alpha: Float,
                                 temperature t: Float) -> (loss: Tensor, soft: Tensor, hard: Tensor) {
        let soft = Tensor.klDivergence(studentLogits: z, teacherLogits: zT, temperature: t)
        let hard = Tensor.crossEntropy(logits: z, labels: labels)
        return (alpha * soft + (1 - alpha) * hard, soft, hard)
    }

    /// Eqs. 8-9 as we read them: KL(softmax z_T(x) || softmax z_J(x ⊙ H)) + lambda * mean(H),
    /// `judged` = z_J(x ⊙ H), `teacher` = z_T(x) (a constant); H >= 0 (a sigmoid), so mean(H)
    /// is the per-pixel mean of ‖H‖₁. Returns the total and both terms.
    static func explanationLoss(judged: Tensor, teacher: Tensor, map h: Tensor, lambda: Float) -> (loss: Tensor, keep: Tensor, size: Tensor) {
        let keep = Tensor.klDivergence(studentLogits: judged, teacherLogits: teacher, temperature: 1)
        let size = h.mean()
        return (keep + lambda * size, keep, size)
    }

    /// The paper's milestone fractions on a run of `epochs`, whole epochs >= 1.
    static func milestones(_ fractions: [Double], epochs: Int) -> [Int] {
        fractions.map { Swift.max(1, Int((Double(epochs) * $0).rounded())) }
    }

    func run() throws -> FitState {
        let p = ctx.params
        let teacher = ctx.model
        var rng = ctx.rng
        let all = try TrainingData(ctx.dataset, cancellation: ctx.cancellation)
        let inputShape = all.sampleShape
        guard inputShape.count == 3 else { throw PluginError.invalid("\(plugin): the fit images must be [C, H, W], got \(inputShape)") }

        // The teacher's logits on every fit image, once (no autograd): both stages' targets.
        let batchSize = try p.int("batch")
        let teacherLogits = try logits(of: teacher, on: all.images.reshaped([all.count] + inputShape), batch: Swift.max(batchSize, 64))
        let classes = teacherLogits.shape[1]
        if let bad = all.labels.first(where: { $0 >= classes }) {
            throw PluginError.invalid("\(plugin): the fit data has label \(bad), the model has \(classes) classes (L_hard needs the model's labels)")
        }

        // Seeded 5 % hold-out (at least one image when there are two or more).
        var order = Array(0..<all.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let held = all.count >= 2 ? Swift.max(1, Int(Double(all.count) * Self.holdout)) : 0
        let validation = Array(order.prefix(held)).sorted(), training = Array(order.dropFirst(held)).sorted()
        let trainData = try TrainingData(name: all.name + " (train)", images: all.batch(training), labels: training.map { all.labels[$0] })
        // Logits in a TrainingData: its `batch` gathers rows by index.
        let zAll = try TrainingData(name: "teacher logits", images: teacherLogits)
        let trainTeacher = try TrainingData(name: "teacher logits (train)", images: zAll.batch(training))

        // The student.
        let familyName = try p.string("student") ?? "auto"
        guard let family = familyName == "auto" ? SurrogateNetworks.family(of: teacher) : SurrogateNetworks.Family(rawValue: familyName) else {
            throw PluginError.invalid("\(plugin): cannot tell the model's family from its layer names; pass student: \"resnet\", \"vgg\" or \"lenet\"")
        }
        let student = try SurrogateNetworks.student(family, teacher: teacher, inputShape: inputShape, classes: classes, seed: rng.next())
        let copied = try p.bool("init_from_teacher") ? try SurrogateNetworks.initialise(student, from: teacher) : 0

        let epochsS = try p.int("epochs_student"), epochsE = try p.int("epochs_decoder")
        let totalBatches = (epochsS + epochsE) * ((trainData.count + batchSize - 1) / batchSize)
        var batchesDone = 0
        let progress = ctx.progress
        let onBatch: (Int, Int) -> Void = { done, _ in if done > 0 { batchesDone += 1; progress?(batchesDone, totalBatches) } }

        // Stage 1: distillation (Eqs. 4-7).
        let alpha = Float(try p.float("alpha")), t = Float(try p.float("temperature"))
        var stage1 = TrainingLoop(trained: [TrainedGraph(student, name: "student")], frozen: [teacher], data: trainData,
                                  epochs: epochsS, batchSize: batchSize,
                                  optimizer: .sgd(learningRate: try p.float("lr"), momentum: 0.9, nesterov: true, weightDecay: Self.weightDecay),
                                  schedule: .multiStep(milestones: Self.milestones(Self.studentMilestones, epochs: epochsS), gamma: 0.1),
                                  seed: rng.next()) { batch, step in
            let z = try step.forward(student, batch.images).outputs[0]
            let zT = trainTeacher.batch(batch.indices)
            let l = Self.distillationLoss(student: z, teacher: zT, labels: batch.labels, alpha: alpha, temperature: t)
            let agree = zip(z.argmax(axis: 1), zT.argmax(axis: 1)).filter { $0 == $1 }.count
            return StepLoss(l.loss, figures: ["kl": Double(l.soft.item), "ce": Double(l.hard.item), "agreement": Double(agree) / Double(batch.count)])
        }
        let heldImages = all.batch(validation), heldTeacher = zAll.batch(validation)
        if held > 0 { stage1.validate = { try agreement(student, heldImages, heldTeacher) } }
        stage1.cancellation = ctx.cancellation
        stage1.onBatch = onBatch
        let report1 = try stage1.run()

        // Stage 2: the decoder, student frozen (Eqs. 8-9).
        let deltaShapes = try Autograd.noGrad { try student.forward([trainData.batch([0])]).outputs[1...3].map { Array($0.shape.dropFirst()) } }
        let decoder = try SurrogateNetworks.decoder(inputShape: inputShape, deltas: deltaShapes, seed: rng.next())
        let judgeName = try p.string("judge") ?? "teacher"
        let judge = judgeName == "student" ? student : teacher
        let lambda = Float(try p.float("lambda_l1"))
        var stage2 = TrainingLoop(trained: [TrainedGraph(decoder, name: "decoder")], frozen: [teacher, student], data: trainData,
                                  epochs: epochsE, batchSize: batchSize,
                                  optimizer: .sgd(learningRate: try p.float("lr_decoder"), momentum: 0.9, nesterov: true, weightDecay: Self.weightDecay),
                                  schedule: .multiStep(milestones: Self.milestones(Self.decoderMilestones, epochs: epochsE), gamma: 0.1),
                                  seed: rng.next()) { batch, step in
            let deltas = try step.infer(student, batch.images).outputs[1...3]
            let h = try step.forward(decoder, [batch.images] + deltas).output
            let zJ = try step.forward(judge, batch.images * h, training: false).output
            let l = Self.explanationLoss(judged: zJ, teacher: trainTeacher.batch(batch.indices), map: h, lambda: lambda)
            return StepLoss(l.loss, figures: ["kl": Double(l.keep.item), "mean_h": Double(l.size.item)])
        }
        stage2.cancellation = ctx.cancellation
        stage2.onBatch = onBatch
        let report2 = try stage2.run()

        var scalars: [String: Double] = ["weights_from_teacher": Double(copied), "train_images": Double(trainData.count),
                                         "holdout_images": Double(held), "student_seconds": report1.seconds, "decoder_seconds": report2.seconds,
                                         "student_best_epoch": Double(report1.bestEpoch + 1)]
        if let s = report1.bestScore { scalars["holdout_agreement"] = s }
        if let last = report2.epochs.last {
            scalars["decoder_kl"] = last.figures["kl"] ?? .nan
            scalars["decoder_mean_h"] = last.figures["mean_h"] ?? .nan
        }
        let log = { (name: String, r: TrainingReport) in
            r.epochs.map { e in
                "\(name) epoch \(e.epoch + 1): loss \(String(format: "%.4f", e.loss))"
                    + e.figures.sorted { $0.key < $1.key }.map { " \($0.key) \(String(format: "%.4f", $0.value))" }.joined()
                    + (e.score.map { " holdout agreement \(String(format: "%.4f", $0))" } ?? "")
                    + " lr \(e.learningRate) (\(String(format: "%.1f", e.seconds)) s)"
            }.joined(separator: "\n")
        }
        return FitState(method: plugin, scalars: scalars,
                        notes: ["student": family.rawValue, "judge": judgeName, "log": log("student", report1) + "\n" + log("decoder", report2)],
                        graphs: ["student": student, "decoder": decoder])
    }

    /// Logits of a graph's first output on `images`, in no-grad batches.
    private func logits(of g: Graph, on images: Tensor, batch: Int) throws -> Tensor {
        var parts: [Tensor] = []
        for r in chunks(images.shape[0], batch) {
            try ctx.cancellation.check()
            parts.append(try Autograd.noGrad { try g.forward([images.slice(axis: 0, r)]).outputs[0] })
        }
        let z = parts.count == 1 ? parts[0] : Tensor.concat(parts, axis: 0)
        guard z.rank == 2 else { throw PluginError.invalid("\(plugin): the model's output must be [N, classes] logits, got \(z.shape)") }
        return z
    }

    /// Share of `images` where the student's top-1 class is the teacher's.
    private func agreement(_ student: Graph, _ images: Tensor, _ teacherLogits: Tensor) throws -> Double {
        let z = try logits(of: student, on: images, batch: 128)
        let same = zip(z.argmax(axis: 1), teacherLogits.argmax(axis: 1)).filter { $0 == $1 }.count
        return Double(same) / Double(Swift.max(1, z.shape[0]))
    }
}
