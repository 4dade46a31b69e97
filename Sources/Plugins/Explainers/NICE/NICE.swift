import Foundation
import Runtime

/// NICE (shared/papers/000_f71bd62a6d6533be.txt): a generator G(x) predicts log alpha, one
/// channel at input resolution; hard concrete gates z (Eq. 7) mask the input; the generator
/// learns to keep the classifier right with as few open gates as possible,
///
///     L = L_D + lambda_1 L_C + lambda_2 L_S                                     (Eq. 10)
///
/// with L_D the cross-entropy of the classifier on the masked input against the label, L_C
/// the expected open fraction (Eq. 6) and L_S the smoothness of Eq. 8 (`HardConcrete`).
/// `fit` trains the generator (and, with `finetune`, named classifier layers) in the one
/// training loop; `explain` is one generator forward per batch and the test mask of Eq. 11.
///
/// Every choice, as a parameter where the paper or the authors' code leave room:
/// - `generator`: "mnist" (Table 1: one 3x3 conv, 10 parameters on gray images) or
///   "caltech" (three conv+pool stages and x8 nearest upsampling, 48 parameters on RGB);
///   `levels` (default 3, the paper's) sets the caltech generator's stages, so 64-px images
///   can keep the paper's 32-cell mask grid with levels 1 (`NICEGenerator`). Nothing enlarges
///   a generator behind the user's back.
/// - `background`: what closed gates show during training. "zero" is x * z, the authors'
///   MNIST code (§4.2.1 says b = 28 there, a constant mean background); "block_mean" is Eq. 12's mixed-resolution image x * z + x_b * (1 - z), x_b the
///   `block` x `block` means (`Tensor.blockMeanFilled`, ceil-mode edges; default block: the
///   image side, i.e. the image mean, §4.2.2's b = 256 on 256-px images).
/// - `lambda_sparsity` (lambda_1, default 5 as in §4.2.2), `lambda_smooth` (lambda_2, default
///   0 as in the MNIST code; §4.2.2 uses 0.01). L_C and L_S are per-pixel means (the code's
///   `torch.mean`), the scale at which the paper's lambda_1 of 1-30 matters.
/// - Optimisation (the MNIST code's defaults): `optimizer` "adam" (or "sgd" with `momentum`,
///   §4.2.2's SGD), `lr` 1e-3, `schedule` "step" (x0.1 every `step_every` = 5 epochs;
///   "cosine" anneals to 0, "constant" keeps it), `batch` 100, `epochs` 10.
/// - `labels`: "true" (the paper and code: the dataset's labels) or "predicted" (the frozen
///   classifier's own top class on the clean image).
/// - `finetune`: comma-separated node names of the classifier ("layer2,layer3,fc") that train
///   with the generator (Fig. 6's discriminator-finetuned mode). The fit trains a copy
///   (`Graph.copy()`); the caller's model never changes; the state returns the copy as its
///   `model` (`f.model` in the language; score compression with it). Batch norm stays in
///   inference mode while fine-tuning (the paper does not say; frozen statistics keep the
///   fixed and fine-tuned runs comparable).
/// - `test_estimator` (explain phase): "code" (default, the authors' `l0_test` and Louizos
///   et al.: clamp(sigma(log alpha)(zeta - gamma) + gamma, 0, 1)) or "paper" (Eq. 11 as printed,
///   sigma(log alpha / beta)).
/// The map is that deterministic mask ([N, 1, H, W] in [0, 1]). It ignores the target: NICE's
/// mask is class-agnostic (one mask per image, whatever class is asked about), as in the paper.
/// Scalars: `density`, each map's mean. The state keeps the generator as graph "generator",
/// the last epoch's loss terms as scalars and the per-epoch record as notes.
public struct NICEExplainer: Explainer {
    public init() {}
    public var name: String { "nice" }
    public var summary: String { "learned L0 mask: a tiny generator predicts hard-concrete gates that keep the classifier right (fit: train it)" }
    public var reference: String {
        "Li, Ji, Neural Image Compression and Explanation (NICE), arXiv 2019 (shared/papers/000_f71bd62a6d6533be.txt)"
    }
    public var capabilities: Capabilities { [.needsGradients, .batched, .fits] }

    public var parameters: [ParamSpec] {
        [
            ParamSpec("lambda_sparsity", .float, default: .float(5), range: 0...1e6, phase: .fit, doc: "lambda_1: weight of L_C, the expected open fraction (Eq. 6)"),
            ParamSpec("lambda_smooth", .float, default: .float(0), range: 0...1e6, phase: .fit, doc: "lambda_2: weight of L_S, neighbour differences of P(z > 0) (Eq. 8)"),
            ParamSpec("generator", .choice(NICEGenerator.allCases.map(\.rawValue)), default: .string("mnist"), phase: .fit,
                      doc: "Table 1 generator: mnist (one 3x3 conv) or caltech (conv+pool stages, nearest upsampling)"),
            ParamSpec("levels", .int, default: .int(3), range: 1...8, phase: .fit, doc: "caltech generator stages; the mask is constant on 2^levels-pixel blocks"),
            ParamSpec("background", .choice(["zero", "block_mean"]), default: .string("zero"), phase: .fit,
                      doc: "closed gates during training: zero (x * z, the MNIST code) or block_mean (Eq. 12 with the training block)"),
            ParamSpec("block", .int, range: 1...100_000, phase: .fit, doc: "training block size b of background: block_mean (default: the image side)"),
            ParamSpec("labels", .choice(["true", "predicted"]), default: .string("true"), phase: .fit,
                      doc: "cross-entropy target: the dataset's labels (paper) or the classifier's clean prediction"),
            ParamSpec("finetune", .string, default: .string(""), phase: .fit,
                      doc: "comma-separated classifier nodes trained with the generator (Fig. 6 finetuned); the state's model is the tuned copy"),
            ParamSpec("epochs", .int, default: .int(10), range: 1...10_000, phase: .fit, doc: "training epochs over the fit dataset"),
            ParamSpec("batch", .int, default: .int(100), range: 1...100_000, phase: .fit, doc: "mini-batch size"),
            ParamSpec("optimizer", .choice(["adam", "sgd"]), default: .string("adam"), phase: .fit, doc: "adam (MNIST code) or sgd (§4.2.2)"),
            ParamSpec("lr", .float, default: .float(1e-3), range: 1e-8...10, phase: .fit, doc: "learning rate"),
            ParamSpec("momentum", .float, default: .float(0), range: 0...0.999, phase: .fit, doc: "SGD momentum"),
            ParamSpec("schedule", .choice(["step", "cosine", "constant"]), default: .string("step"), phase: .fit,
                      doc: "learning-rate schedule: step (x0.1 every step_every epochs), cosine, constant"),
            ParamSpec("step_every", .int, default: .int(5), range: 1...10_000, phase: .fit, doc: "epochs between x0.1 steps of schedule: step"),
            ParamSpec("test_estimator", .choice(HardConcrete.TestEstimator.allCases.map(\.rawValue)), default: .string("code"),
                      doc: "Eq. 11 mask: code (sigma(log alpha), the authors' code) or paper (sigma(log alpha / beta))"),
        ]
    }

    public func fit(_ ctx: FitContext) throws -> FitState {
        let p = ctx.params
        let data = try TrainingData(ctx.dataset, cancellation: ctx.cancellation)
        let shape = data.sampleShape
        guard shape.count == 3 else { throw PluginError.invalid("nice: the fit dataset must hold [C, H, W] images, got \(shape)") }
        let kind = NICEGenerator(rawValue: try p.string("generator") ?? "mnist") ?? .mnist
        var rng = ctx.rng
        let generator = try kind.build(inputShape: shape, levels: try p.int("levels"), seed: rng.next())
        let (lambdaC, lambdaS) = (Float(try p.float("lambda_sparsity")), Float(try p.float("lambda_smooth")))
        let blockMean = try p.string("background") == "block_mean"
        let block = try p["block"] == nil ? Swift.max(shape[1], shape[2]) : p.int("block")
        let predicted = try p.string("labels") == "predicted"
        let tuned = (try p.string("finetune") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let classifier = tuned.isEmpty ? ctx.model : try ctx.model.copy()
        var trained = [TrainedGraph(generator, name: "generator")]
        if !tuned.isEmpty { trained.append(try TrainedGraph(classifier, name: "classifier", only: tuned)) }

        let lr = try p.float("lr")
        let optimizer: OptimizerSpec = try p.string("optimizer") == "sgd"
            ? .sgd(learningRate: lr, momentum: try p.float("momentum")) : .adam(learningRate: lr)
        let schedule: ScheduleSpec
        switch try p.string("schedule") {
        case "cosine": schedule = .cosine()
        case "constant": schedule = .constant
        default: schedule = .step(every: try p.int("step_every"), gamma: 0.1)
        }
        let epochs = try p.int("epochs")
        var loop = TrainingLoop(trained: trained, frozen: tuned.isEmpty ? [ctx.model] : [], data: data, epochs: epochs,
                                batchSize: try p.int("batch"), optimizer: optimizer, schedule: schedule, seed: rng.next()) { batch, step in
            let x = batch.images
            let logAlpha = try step.forward(generator, x).output
            guard logAlpha.shape == [x.shape[0], 1, x.shape[2], x.shape[3]] else {
                throw PluginError.invalid("nice: the generator gives \(logAlpha.shape) for images \(x.shape)")
            }
            let z = HardConcrete.sample(logAlpha, noise: HardConcrete.logisticNoise(logAlpha.shape, rng: &step.rng))
            let masked = blockMean ? x * z + x.blockMeanFilled(block: block) * (1 - z) : x * z
            let labels = predicted ? try step.infer(ctx.model, x).output.argmax(axis: 1) : batch.labels
            // Batch norm stays in inference mode for a fine-tuned classifier too (see above).
            let logits = try logitsChecked(step.forward(classifier, masked, training: false).output, model: classifier)
            let dataLoss = Tensor.crossEntropy(logits: logits, labels: labels)
            let (lc, ls) = (HardConcrete.sparsityLoss(logAlpha), HardConcrete.smoothnessLoss(logAlpha))
            var loss = dataLoss + lc * lambdaC
            if lambdaS > 0 { loss = loss + ls * lambdaS }
            let right = zip(logits.detached().argmax(axis: 1), labels).filter { $0 == $1 }.count
            return StepLoss(loss, figures: ["data": Double(dataLoss.item), "sparsity": Double(lc.item), "smoothness": Double(ls.item),
                                            "density": Double(z.detached().mean().item), "accuracy": Double(right) / Double(batch.count)])
        }
        loop.settings = "nice: lambda \(lambdaC), \(lambdaS); background \(blockMean ? "block_mean \(block)" : "zero"); labels \(predicted ? "predicted" : "true")"
        loop.cancellation = ctx.cancellation
        var epochsDone = 0
        loop.onEpoch = { _ in epochsDone += 1 }
        if let progress = ctx.progress {
            loop.onBatch = { done, total in progress(epochsDone * total + done, epochs * total) }
        }
        let report = try loop.run()
        var scalars: [String: Double] = ["epochs": Double(report.epochs.count),
                                         "parameters": Double(generator.trainableParameterCount)]
        if let last = report.epochs.last {
            scalars["loss"] = last.loss
            for (k, v) in last.figures { scalars[k] = v }
        }
        let history = report.epochs.map { r in
            String(format: "epoch %d: loss %.4f, data %.4f, L_C %.4f, L_S %.4f, density %.3f, accuracy %.3f, lr %.2g, %.1f s",
                   r.epoch + 1, r.loss, r.figures["data"] ?? .nan, r.figures["sparsity"] ?? .nan, r.figures["smoothness"] ?? .nan,
                   r.figures["density"] ?? .nan, r.figures["accuracy"] ?? .nan, r.learningRate, r.seconds)
        }
        return FitState(method: name, scalars: scalars,
                        notes: ["history": history.joined(separator: "\n"), "finetuned": tuned.joined(separator: ",")],
                        graphs: ["generator": generator], model: tuned.isEmpty ? nil : classifier)
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let generator = try ctx.fittedState().graph("generator")
        let x = ctx.images
        let logAlpha = try Autograd.noGrad { try generator.forward(x).output }
        guard logAlpha.shape == [x.shape[0], 1, x.shape[2], x.shape[3]] else {
            let fitted = generator.inputs.first.map { "\(Array($0.shape.dropFirst()))" } ?? "?"
            throw PluginError.invalid("nice: the generator was fitted on \(fitted) images; these are \(Array(x.shape.dropFirst()))")
        }
        let estimator = HardConcrete.TestEstimator(rawValue: try ctx.params.string("test_estimator") ?? "code") ?? .code
        let mask = HardConcrete.testMask(logAlpha, estimator: estimator)
        let hw = x.shape[2] * x.shape[3]
        let density = mask.withUnsafeBufferPointer { m in
            (0..<x.shape[0]).map { i in Double(m[(i * hw)..<((i + 1) * hw)].reduce(0, +)) / Double(hw) }
        }
        return Explanation(map: mask, scalars: ["density": density])
    }
}

extension Graph {
    /// Number of values in the trainable-by-construction weights (what Table 1 counts).
    var trainableParameterCount: Int {
        trainableWeightNames(self).reduce(0) { $0 + (weight($1)?.count ?? 0) }
    }
}
