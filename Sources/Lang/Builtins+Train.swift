import Foundation
import Plugins
import Runtime

/// Training in the language: builders for the reference architectures (ModelZoo), `train`
/// over the one Trainer (Sources/Plugins/Training; no second training loop here), `accuracy`,
/// `subset` for hold-out splits, and `params` for script parameters set from the command line.
///
/// Choices:
/// - `train` trains the model in place (models are references, as everywhere in the language)
///   and returns a record {model, history, best_epoch, best_accuracy, seconds, interrupted}:
///   the history table is worth keeping, and `run.model` is the same model as the argument.
/// - The defaults of `train` are the Trainer's and `saliency-bench train`'s (momentum 0.9,
///   no weight decay, no augmentation), so a recipe that names the bench's hyper-parameters
///   reproduces its weights bit for bit (Tests/LangTests/TrainBuiltinTests.swift checks it).
/// - Ctrl-C during `train` stops after restoring the best epoch so far (the last finished one
///   without validation data) and returns normally with `interrupted: true`; the rest of the
///   cell or script is still cancelled by the interpreter. Before the first epoch finishes,
///   the initial weights come back and the call fails with "cancelled".
/// - Epochs in the history and the printed lines count from 1, as people say them.
/// - With `interpreter.dryRun` (exec --dry-run), `train` and `accuracy` run every check on
///   arguments, data and model (shapes, classes, labels) and stop before computing: `train`
///   returns the untouched model with an empty history, `accuracy` nan. The recipe tests use
///   this so the recipes in models/ cannot rot without minutes of training.
extension Builtins {
    static let training: [Builtin] = [
        Builtin("lenet5", [BuiltinParam("classes", default: .number(10)), BuiltinParam("input", default: shapeValue([1, 28, 28])),
                           BuiltinParam("seed", default: .number(0)), BuiltinParam("labels", optional: true)],
                doc: "LeNet5-Caffe as the NICE paper's Table 1 (ReLU after each conv; model(\"lenet5\") is Caffe's prototxt without them), seeded random weights; input: [C, H, W].") { a in
            let (classes, input, seed, labels) = try builderArguments(a)
            let g = try ModelZoo.lenet5NICE(classes: classes, inputShape: input, seed: seed, labels: labels)
            return .model(ModelValue(graph: g, source: "lenet5(classes: \(classes), input: \(formatShape(input)), seed: \(seed))"))
        },
        Builtin("vgg", [BuiltinParam("classes"), BuiltinParam("input"), BuiltinParam("widths", default: shapeValue([8, 16, 32])),
                        BuiltinParam("hidden", default: .number(64)), BuiltinParam("seed", default: .number(0)), BuiltinParam("labels", optional: true)],
                doc: "A VGG-style net (3 blocks of 2 x conv3x3+BN+ReLU with the given widths, max-pool, global average pool, FC(hidden)+ReLU, FC(classes)); input: [C, S, S].") { a in
            let (classes, input, seed, labels) = try builderArguments(a)
            let size = try squareSide(input, builder: "vgg")
            let widths = try a.shape("widths"), hidden = try a.int("hidden")
            guard hidden >= 1 else { throw LangError.arguments("hidden must be >= 1, got \(hidden)") }
            let g = try ModelZoo.vggStyle(classes: classes, inputSize: size, channels: input[0], widths: widths, hidden: hidden, seed: seed, labels: labels)
            return .model(ModelValue(graph: g, source: "vgg(classes: \(classes), input: \(formatShape(input)), widths: \(formatShape(widths)), hidden: \(hidden), seed: \(seed))"))
        },
        Builtin("resnet", [BuiltinParam("classes"), BuiltinParam("input"), BuiltinParam("widths", default: shapeValue([16, 32, 64])),
                           BuiltinParam("seed", default: .number(0)), BuiltinParam("labels", optional: true)],
                doc: "A small ResNet (stride-2 stem conv+BN+ReLU, one basic block per width, stages after the first halve the resolution, global average pool, FC); input: [C, S, S].") { a in
            let (classes, input, seed, labels) = try builderArguments(a)
            let size = try squareSide(input, builder: "resnet")
            let widths = try a.shape("widths")
            let g = try ModelZoo.smallResNet(classes: classes, inputSize: size, channels: input[0], widths: widths, seed: seed, labels: labels)
            return .model(ModelValue(graph: g, source: "resnet(classes: \(classes), input: \(formatShape(input)), widths: \(formatShape(widths)), seed: \(seed))"))
        },
        Builtin("train", [BuiltinParam("model"), BuiltinParam("data"), BuiltinParam("epochs"),
                          BuiltinParam("batch", default: .number(64)), BuiltinParam("lr", default: .number(0.001)),
                          BuiltinParam("optimizer", default: .string("adam")), BuiltinParam("schedule", default: .string("none")),
                          BuiltinParam("seed", optional: true), BuiltinParam("validation", optional: true),
                          BuiltinParam("momentum", default: .number(0.9)), BuiltinParam("nesterov", default: .bool(false)),
                          BuiltinParam("weight_decay", default: .number(0)), BuiltinParam("flip", default: .bool(false)),
                          BuiltinParam("shift", default: .number(0)), BuiltinParam("milestones", optional: true),
                          BuiltinParam("checkpoint", optional: true)],
                doc: "Trains the model in place on a dataset (cross-entropy; optimizer \"adam\"|\"sgd\", schedule \"none\"|\"step\"|\"multistep\"|\"cosine\" (multistep: rate x 0.1 at each of milestones, 1-based epochs); validation: a dataset or a fraction held out from the end of data, best epoch kept; flip/shift: augmentation; checkpoint: a folder for epoch checkpoints, resumed when it holds one of the same run). Returns {model, history, best_epoch, best_accuracy, seconds, interrupted}; Ctrl-C keeps the best epoch so far.") { a in
            try runTraining(a)
        },
        Builtin("accuracy", [BuiltinParam("model"), BuiltinParam("data"), BuiltinParam("batch", default: .number(100)),
                             BuiltinParam("ablate", optional: true), BuiltinParam("against", optional: true)],
                doc: "Top-1 accuracy (0 to 1) of the model on a dataset, in inference mode. ablate: {layer: [channels]} zeroes those channels (axis 1) of those layers' values on every pass (filter ablation; random_ablation gives matched random controls). against: another model whose top-1 classes replace the labels (top-1 agreement, e.g. a distilled student against its teacher).") { a in
            let m = try a.model("model")
            let data = try dataset(a, "data")
            let batch = try a.int("batch")
            guard batch >= 1 else { throw LangError.arguments("batch must be >= 1, got \(batch)") }
            try checkCompatible(m, data, role: "data")
            let ablation = try a["ablate"].map { try channelAblation($0, argument: "ablate", model: m, data: data) }
            let reference = a["against"] == nil ? nil : try a.model("against").graph
            if a.interpreter.dryRun { return .number(.nan) }
            return .number(try Plugins.accuracy(m.graph, on: data, batchSize: batch, interventions: ablation?.interventions ?? [:],
                                                reference: reference, cancellation: a.interpreter.cancellation))
        },
        Builtin("subset", [BuiltinParam("data"), BuiltinParam("start"), BuiltinParam("end")],
                doc: "Examples start..<end of a dataset (a hold-out split: subset(d, 55000, 60000)).") { a in
            guard case let .dataset(d)? = a.values["data"] else { throw LangError.arguments("'data' must be a dataset, got \(a.values["data"]?.typeName ?? "nothing")") }
            let start = try a.int("start"), end = try a.int("end")
            guard start >= 0, start < end, end <= d.dataset.count else {
                throw LangError.arguments("subset \(start)..<\(end) is not a non-empty range inside 0..<\(d.dataset.count) of '\(d.dataset.name)'")
            }
            return .dataset(DatasetValue(dataset: try DatasetSubset(d.dataset, start..<end), split: d.split))
        },
        Builtin("params", [BuiltinParam("defaults")],
                doc: "The script's parameters: the defaults record with the command line's values put in (saliency-repl exec script.sal --set name=value); unknown names and wrongly typed values are errors.") { a in
            guard case var .record(r)? = a.values["defaults"] else {
                throw LangError.arguments("'defaults' must be a record such as {out: \"model.onnx\", epochs: 4}, got \(a.values["defaults"]?.typeName ?? "nothing")")
            }
            for (name, text) in a.interpreter.scriptParameters.sorted(by: { $0.key < $1.key }) {
                guard let d = r[name] else {
                    throw LangError.message("--set \(name)=\(text): the script has no parameter '\(name)'"
                        + (closestName(to: name, in: r.keys).map { "; did you mean '\($0)'?" } ?? "")
                        + " (it takes: \(r.keys.joined(separator: ", ")))")
                }
                r[name] = try parameterValue(text, like: d, name: name)
            }
            return .record(r)
        },
    ]

    static func shapeValue(_ s: [Int]) -> Value { .list(s.map { .number(Double($0)) }) }

    /// classes, input [C, H, W], seed and labels, checked the same way for every builder.
    static func builderArguments(_ a: CallArguments) throws -> (Int, [Int], UInt64, [String]?) {
        let classes = try a.int("classes")
        guard classes >= 2 else { throw LangError.arguments("classes must be >= 2, got \(classes)") }
        let input = try a.shape("input")
        guard input.count == 3, input.allSatisfy({ $0 >= 1 }) else {
            throw LangError.arguments("input must be [channels, height, width] with positive sides, got \(formatShape(input))")
        }
        let seed = try a.int("seed")
        guard seed >= 0 else { throw LangError.arguments("seed must be >= 0, got \(seed)") }
        var labels: [String]? = nil
        if let v = a["labels"] {
            guard case let .list(items) = v else { throw LangError.arguments("labels must be a list of strings, got \(v.typeName)") }
            let names = try items.map { item in
                guard case let .string(s) = item else { throw LangError.arguments("labels must be strings, got \(item.typeName)") }
                return s
            }
            guard names.count == classes else { throw LangError.arguments("\(names.count) labels for \(classes) classes") }
            labels = names
        }
        return (classes, input, UInt64(seed), labels)
    }

    static func squareSide(_ input: [Int], builder: String) throws -> Int {
        guard input[1] == input[2] else { throw LangError.arguments("\(builder) builds square inputs, got \(formatShape(input))") }
        return input[1]
    }

    static func dataset(_ a: CallArguments, _ name: String) throws -> any Dataset {
        guard case let .dataset(d)? = a.values[name] else {
            throw LangError.arguments("'\(name)' must be a dataset (dataset(\"name\", ...)), got \(a.values[name]?.typeName ?? "nothing")")
        }
        guard d.dataset.count > 0 else { throw LangError.arguments("dataset '\(d.dataset.name)' is empty") }
        return d.dataset
    }

    /// The model's number of outputs, from one inference-mode pass on zeros.
    static func outputClasses(_ m: ModelValue) throws -> Int {
        let out = try Autograd.noGrad { try m.graph(try exampleInput(m)) }
        guard out.rank == 2 else { throw LangError.message("the model's output has shape \(formatShape(out.shape)); training needs [N, classes]") }
        return out.shape[1]
    }

    /// The dataset's images fit the model's input and its classes its outputs.
    static func checkCompatible(_ m: ModelValue, _ data: any Dataset, role: String) throws {
        let image = try data.example(0).image.shape
        let declared = Array(m.inputShape.dropFirst())
        let fits = declared.count == image.count && zip(m.graph.inputs.first?.shape.dropFirst() ?? [], image).allSatisfy { $0 <= 0 || $0 == $1 }
        guard fits else {
            throw LangError.message("the model takes images of shape \(formatShape(declared)), \(role) '\(data.name)' has \(formatShape(image))")
        }
        let classes = try outputClasses(m)
        guard classes == data.classNames.count else {
            throw LangError.message("the model predicts \(classes) classes, \(role) '\(data.name)' has \(data.classNames.count)")
        }
    }

    /// A `--set` value typed like the default it replaces.
    static func parameterValue(_ text: String, like d: Value, name: String) throws -> Value {
        switch d {
        case .number:
            guard let x = Double(text), x.isFinite else { throw LangError.message("--set \(name)=\(text): '\(name)' takes a number") }
            return .number(x)
        case .bool:
            guard text == "true" || text == "false" else { throw LangError.message("--set \(name)=\(text): '\(name)' takes true or false") }
            return .bool(text == "true")
        case .string, .none: return .string(text)
        default: throw LangError.message("--set \(name)=\(text): '\(name)' is \(d.typeName) and cannot be set from the command line")
        }
    }

    static func choice(_ a: CallArguments, _ name: String, _ options: [String]) throws -> String {
        let s = try a.string(name)
        guard options.contains(s) else {
            let listed = options.map { "\"\($0)\"" }
            throw LangError.arguments("unknown \(name) \"\(s)\"; it must be \(listed.dropLast().joined(separator: ", ")) or \(listed.last ?? "")"
                + (closestName(to: s, in: options).map { "; did you mean \"\($0)\"?" } ?? ""))
        }
        return s
    }

    static func percent(_ x: Double) -> String { String(format: "%.2f %%", 100 * x) }

    static func runTraining(_ a: CallArguments) throws -> Value {
        let m = try a.model("model")
        var trainSet = try dataset(a, "data")
        let epochs = try a.int("epochs"), batch = try a.int("batch"), lr = try a.number("lr")
        guard epochs >= 1 else { throw LangError.arguments("epochs must be at least 1, got \(epochs)") }
        guard batch >= 1 else { throw LangError.arguments("batch must be at least 1, got \(batch)") }
        guard lr > 0, lr.isFinite else { throw LangError.arguments("lr must be a positive number, got \(formatNumber(lr))") }
        let optimizer = try choice(a, "optimizer", ["adam", "sgd"])
        let schedule = try choice(a, "schedule", ["none", "step", "multistep", "cosine"])
        // Milestones are epochs as people count them (after epoch 3 -> "3"): the rate drops
        // when epoch milestone + 1 starts, i.e. at the loop's 0-based epoch `milestone`.
        var milestones: [Int] = []
        if a["milestones"] != nil {
            milestones = try a.shape("milestones")
            guard schedule == "multistep" else { throw LangError.arguments("milestones need schedule: \"multistep\"") }
            guard !milestones.isEmpty, milestones.allSatisfy({ $0 >= 1 && $0 < epochs }) else {
                throw LangError.arguments("milestones must be epochs between 1 and \(epochs - 1), got \(formatShape(milestones))")
            }
        } else if schedule == "multistep" {
            throw LangError.arguments("schedule: \"multistep\" needs milestones (epochs after which the rate drops 10x)")
        }
        let checkpoint = a["checkpoint"] == nil ? nil : URL(fileURLWithPath: try a.path("checkpoint"))
        let momentum = try a.number("momentum"), weightDecay = try a.number("weight_decay")
        guard momentum >= 0, momentum < 1 else { throw LangError.arguments("momentum must be in [0, 1), got \(formatNumber(momentum))") }
        guard weightDecay >= 0 else { throw LangError.arguments("weight_decay must be >= 0, got \(formatNumber(weightDecay))") }
        let nesterov = try a.bool("nesterov")
        if nesterov && optimizer != "sgd" { throw LangError.arguments("nesterov: true needs optimizer: \"sgd\"") }
        let shift = try a.int("shift")
        guard shift >= 0 else { throw LangError.arguments("shift must be >= 0, got \(shift)") }
        let augment = Augmentation(flipHorizontal: try a.bool("flip"), maxShift: shift)
        let seed = try seed(a)

        var validation: (any Dataset)? = nil
        switch a["validation"] {
        case nil: break
        case let .dataset(d)?:
            guard d.dataset.count > 0 else { throw LangError.arguments("the validation dataset '\(d.dataset.name)' is empty") }
            validation = d.dataset
        case let .number(f)?:
            // The last fraction of the data validates (a tail, not a random draw: the split
            // stays the same whatever the seed, as the bench's fixed 55000..<60000 does).
            // 0 < f < 1 first: converting n * f to Int traps for a huge f.
            let n = trainSet.count, held = f > 0 && f < 1 ? Int((Double(n) * f).rounded()) : 0
            guard held >= 1, held < n else {
                throw LangError.arguments("validation as a fraction must leave at least one example on each side (0 < f < 1), got \(formatNumber(f)) of \(n)")
            }
            validation = try DatasetSubset(trainSet, (n - held)..<n)
            trainSet = try DatasetSubset(trainSet, 0..<(n - held))
        case let v?:
            throw LangError.arguments("validation must be a dataset or a fraction of data to hold out, got \(v.typeName)")
        }

        try checkCompatible(m, trainSet, role: "data")
        if let validation {
            try checkCompatible(m, validation, role: "validation")
            guard validation.classNames == trainSet.classNames else {
                throw LangError.message("validation '\(validation.name)' has classes \(validation.classNames), data '\(trainSet.name)' has \(trainSet.classNames)")
            }
        }
        if let labels = m.graph.labels, !trainSet.classNames.isEmpty, labels != trainSet.classNames {
            throw LangError.message("the model's labels \(labels) differ from the classes of '\(trainSet.name)' \(trainSet.classNames)")
        }
        if m.graph.labels == nil, !trainSet.classNames.isEmpty { m.graph.labels = trainSet.classNames }

        let interp = a.interpreter
        if interp.dryRun {
            interp.output(.text("dry run: would train \(m.graph.name) on \(trainSet.name) (\(trainSet.count) examples"
                + (validation.map { ", validation \($0.name), \($0.count)" } ?? "") + ") for \(epochs) epochs"))
            let empty = Table(columns: ["epoch", "loss", "train_accuracy", "validation_accuracy", "lr", "seconds"], rows: [])
            return .record(Record([("model", .model(m)), ("history", .table(empty)), ("best_epoch", .none), ("best_accuracy", .none),
                                   ("seconds", .number(0)), ("interrupted", .bool(false))]))
        }
        let settings = "epochs: \(epochs), batch: \(batch), lr: \(formatNumber(lr)), optimizer: \(optimizer), schedule: \(schedule), seed: \(seed)"
            + (optimizer == "sgd" ? ", momentum: \(formatNumber(momentum))" + (nesterov ? ", nesterov" : "") : "")
            + (milestones.isEmpty ? "" : ", milestones: \(formatShape(milestones))")
            + (weightDecay > 0 ? ", weight_decay: \(formatNumber(weightDecay))" : "")
            + (augment.flipHorizontal ? ", flip" : "") + (shift > 0 ? ", shift: \(shift)" : "")
        interp.output(.text("training \(m.graph.name) on \(trainSet.name) (\(trainSet.count) examples"
            + (validation.map { ", validation \($0.name), \($0.count)" } ?? "") + "): " + settings))
        var bar: ProgressBar?, current = 1
        let report = try Plugins.train(
            m.graph, on: trainSet, validation: validation, epochs: epochs, batchSize: batch, learningRate: lr,
            optimizer: optimizer, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay, schedule: schedule,
            milestones: milestones, seed: seed, augment: augment, checkpoint: checkpoint,
            progress: { r in
                bar?.finish(); bar = nil; current = r.epoch + 2
                interp.output(.text("epoch \(r.epoch + 1)/\(epochs): loss \(String(format: "%.4f", r.loss)), train \(percent(r.trainAccuracy))"
                    + (r.validationAccuracy.map { ", validation \(percent($0))" } ?? "")
                    + ", lr \(String(format: "%.2e", r.learningRate)), \(String(format: "%.1f", r.seconds)) s"))
            },
            batchProgress: { done, total in
                if bar == nil { bar = ProgressBar("epoch \(current)/\(epochs)", total: total, quiet: interp.quiet) }
                bar?.update(done)
            },
            resumed: { done in
                current = done + 1
                interp.output(.text("resuming after epoch \(done) from the checkpoint in \(checkpoint?.path ?? "")"))
            },
            stopEarlyOnCancel: true, cancellation: interp.cancellation)
        bar?.finish()
        let kept = report.bestEpoch + 1
        if report.interrupted {
            interp.output(.text("interrupted after \(report.epochs.count) of \(epochs) epochs; the model keeps epoch \(kept)"
                + (report.bestAccuracy.map { " (validation \(percent($0)))" } ?? "")))
        } else if let best = report.bestAccuracy {
            interp.output(.text("best validation accuracy \(percent(best)) at epoch \(kept) (kept)"))
        }
        m.graph.metadata["training"] = "train(\(trainSet.name)" + (validation.map { ", validation: \($0.name)" } ?? "") + ", \(settings))"

        let history = Table(columns: ["epoch", "loss", "train_accuracy", "validation_accuracy", "lr", "seconds"], rows: report.epochs.map { r in
            [.number(Double(r.epoch + 1)), .number(r.loss), .number(r.trainAccuracy), r.validationAccuracy.map { Value.number($0) } ?? Value.none,
             .number(r.learningRate), .number(r.seconds)]
        })
        return .record(Record([
            ("model", .model(m)), ("history", .table(history)), ("best_epoch", .number(Double(kept))),
            ("best_accuracy", report.bestAccuracy.map { Value.number($0) } ?? Value.none), ("seconds", .number(report.seconds)),
            ("interrupted", .bool(report.interrupted)),
        ]))
    }
}
