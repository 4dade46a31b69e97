import Foundation
import Testing
@testable import Lang
@testable import Plugins
import Runtime

/// Training in the language (Sources/Lang/Builtins+Train.swift): the recipe path gives the
/// bench path's weights, the builders build ModelZoo's graphs, arguments are checked with
/// exact messages, and the recipes in models/ run through a dry run.
@Suite struct TrainBuiltinTests {
    static var fashionMNIST: Bool {
        FileManager.default.fileExists(atPath: FashionMNISTDataset.defaultDirectory + "/train-images-idx3-ubyte.gz")
    }

    /// Runs a script on a fresh interpreter with the real registry; returns it and the printed lines.
    func interpreter(_ text: String, registry: Registry = .shared, dryRun: Bool = false, sets: [String: String] = [:],
                     cancellation: CancellationToken = CancellationToken(), onLine: ((String, CancellationToken) -> Void)? = nil,
                     base: String = "") throws -> (Interpreter, [String]) {
        let i = Interpreter(registry: registry, cancellation: cancellation)
        i.dryRun = dryRun
        i.scriptParameters = sets
        i.baseDirectory = base
        var lines: [String] = []
        i.output = { item in
            switch item {
            case let .text(s): lines.append(s); onLine?(s, cancellation)
            case let .table(t): lines.append(t.rendered())
            case .image: break
            }
        }
        try i.run(text, file: "t.sal")
        return (i, lines)
    }

    func graph(_ i: Interpreter, _ name: String) throws -> Graph {
        guard case let .model(m)? = i.globals.lookup(name) else { throw LangError.message("no model '\(name)'") }
        return m.graph
    }

    /// Same weight names and shapes; values equal within `tolerance` (relative to the
    /// weight's largest magnitude). 0 only where equality is structural: two builders
    /// drawing the same seeded initialisation run no arithmetic that could round apart.
    func expectSameWeights(_ a: Graph, _ b: Graph, tolerance: Float = 0, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        #expect(a.weights.keys.sorted() == b.weights.keys.sorted(), sourceLocation: sourceLocation)
        for (name, w) in a.weights {
            guard let v = b.weights[name], v.shape == w.shape else {
                Issue.record("weight \(name) is missing or has another shape", sourceLocation: sourceLocation); continue
            }
            let scale = Swift.max(1, w.scalars.map(abs).max() ?? 0)
            let diff = zip(w.scalars, v.scalars).map { abs($0 - $1) }.max() ?? 0
            #expect(diff <= tolerance * scale, "weight \(name) differs by \(diff)", sourceLocation: sourceLocation)
        }
    }

    func expectSameGraph(_ a: Graph, _ b: Graph) {
        #expect(a.name == b.name)
        #expect(a.nodes.map { [$0.name, $0.opType] + $0.inputs + ["->"] + $0.outputs } == b.nodes.map { [$0.name, $0.opType] + $0.inputs + ["->"] + $0.outputs })
        #expect(a.nodes.map(\.attributes) == b.nodes.map(\.attributes))
        #expect(a.inputs == b.inputs)
        expectSameWeights(a, b)
    }

    // MARK: (a) the recipe path reproduces the bench path

    /// LeNet on 256 Fashion-MNIST images, as `saliency-bench train lenet-fmnist` calls the
    /// Trainer (momentum 0.9, no weight decay, labels from the data): identical weights.
    @Test func lenetRecipePathGivesTheBenchWeights() throws {
        try #require(Self.fashionMNIST, "Fashion-MNIST is not installed (scripts/bootstrap installs dataset-fashion-mnist)")
        let (i, lines) = try interpreter("""
            let full = dataset("fashion-mnist", split: "train")
            let net = lenet5(classes: 10, input: [1, 28, 28], seed: 0)
            let run = train(net, subset(full, 0, 256), epochs: 2, batch: 64, lr: 0.001, optimizer: "adam",
                            schedule: "cosine", seed: 0, validation: subset(full, 55000, 55128))
            """)
        let viaLanguage = try graph(i, "net")

        let full = try FashionMNISTDataset(split: "train")
        let direct = try ModelZoo.lenet5NICE(classes: 10, seed: 0)
        direct.labels = full.classNames
        let report = try Plugins.train(direct, on: DatasetSubset(full, 0..<256), validation: DatasetSubset(full, 55000..<55128),
                                       epochs: 2, batchSize: 64, learningRate: 1e-3, optimizer: "adam", momentum: 0.9,
                                       weightDecay: 0, schedule: "cosine", seed: 0)
        // Both paths run the same training loop with the same settings; the tolerance (1e-5
        // of the largest weight, a few float roundings over 8 Adam steps) keeps the test about
        // the recipe's settings rather than about the order of a sum.
        expectSameWeights(viaLanguage, direct, tolerance: 1e-5)
        #expect(viaLanguage.labels == FashionMNISTDataset.labels)
        // Training did something: the weights left their initialisation.
        #expect(try ModelZoo.lenet5NICE(classes: 10, seed: 0).weight("fc1.weight")!.scalars != viaLanguage.weight("fc1.weight")!.scalars)
        // The run record matches the Trainer's report.
        guard case let .record(run)? = i.globals.lookup("run"), case let .table(history)? = run["history"] else { Issue.record("no run record"); return }
        #expect(history.rows.count == 2)
        #expect(history.column("validation_accuracy")?.map(\.summary) == report.epochs.map { formatNumber($0.validationAccuracy!) })
        #expect(run["best_epoch"]?.summary == String(report.bestEpoch + 1))
        #expect(lines.first == "training lenet5-caffe-nice on fashion-mnist[0..<256] (256 examples, validation fashion-mnist[55000..<55128], 128): "
            + "epochs: 2, batch: 64, lr: 0.001, optimizer: adam, schedule: cosine, seed: 0")
        #expect(lines.contains { $0.hasPrefix("epoch 2/2: loss ") && $0.contains(", validation ") })
    }

    /// The other options map onto the Trainer's too: SGD with Nesterov momentum, weight decay,
    /// step schedule, flips and shifts, and a validation fraction (the tail of the data).
    @Test func resnetWithEveryOptionGivesTheTrainerWeights() throws {
        let (i, _) = try interpreter("""
            let data = dataset("shapes-loc", split: "train", size: 32, count: 48, seed: 3)
            let net = resnet(classes: 8, input: [3, 32, 32], widths: [8, 16], seed: 4)
            let run = train(net, data, epochs: 2, batch: 16, lr: 0.05, optimizer: "sgd", momentum: 0.8, nesterov: true,
                            weight_decay: 0.0001, schedule: "step", seed: 5, validation: 0.25, flip: true, shift: 2)
            """)
        let data = try ShapesLocDataset(split: "train", size: 32, count: 48, seed: 3)
        let direct = try ModelZoo.smallResNet(classes: 8, inputSize: 32, widths: [8, 16], seed: 4)
        _ = try Plugins.train(direct, on: DatasetSubset(data, 0..<36), validation: DatasetSubset(data, 36..<48), epochs: 2,
                              batchSize: 16, learningRate: 0.05, optimizer: "sgd", momentum: 0.8, nesterov: true, weightDecay: 1e-4,
                              schedule: "step", seed: 5, augment: Augmentation(flipHorizontal: true, maxShift: 2))
        expectSameWeights(try graph(i, "net"), direct)
        #expect(try graph(i, "net").metadata["training"]?.contains("optimizer: sgd") == true)
    }

    // MARK: Ctrl-C

    /// Cancelling during epoch 3 (no validation) ends training normally with the epoch-2
    /// weights, which equal a 2-epoch run (constant rate, same shuffling stream).
    @Test func cancellationKeepsTheLastFinishedEpoch() throws {
        let script = """
            let net = lenet5(seed: 2)
            let run = train(net, dataset("test_squares", split: "test", count: 20), epochs: 5, batch: 4, lr: 0.01, seed: 1)
            """
        let (i, lines) = try interpreter(script, registry: langTestRegistry(), onLine: { line, token in
            if line.hasPrefix("epoch 2/5") { token.cancel() }
        })
        #expect(lines.last == "interrupted after 2 of 5 epochs; the model keeps epoch 2")
        guard case let .record(run)? = i.globals.lookup("run") else { Issue.record("train returned no record"); return }
        #expect(run["interrupted"]?.summary == "true" && run["best_epoch"]?.summary == "2")
        let direct = try ModelZoo.lenet5NICE(seed: 2)
        _ = try Plugins.train(direct, on: SquaresDataset(count: 20), epochs: 2, batchSize: 4, learningRate: 0.01, seed: 1)
        expectSameWeights(try graph(i, "net"), direct)
    }

    // MARK: checkpoints

    /// A run with a checkpoint folder, run again, resumes after its last epoch instead of
    /// training: same weights, same history; multi-step milestones count epochs from 1.
    @Test func checkpointsResumeAndMilestonesDropTheRate() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("train-ckpt-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = """
            let net = lenet5(seed: 2)
            let run = train(net, dataset("test_squares", split: "test", count: 12), epochs: 3, batch: 4, lr: 0.01, seed: 1,
                            schedule: "multistep", milestones: [1], checkpoint: "\(dir)")
            """
        let (first, _) = try interpreter(script, registry: langTestRegistry())
        let (second, lines) = try interpreter(script, registry: langTestRegistry())
        #expect(lines.contains("resuming after epoch 3 from the checkpoint in \(dir)"))
        #expect(!lines.contains { $0.hasPrefix("epoch ") })
        expectSameWeights(try graph(first, "net"), try graph(second, "net"))
        guard case let .record(run)? = second.globals.lookup("run"), case let .table(history)? = run["history"] else { Issue.record("no run record"); return }
        let rates = history.column("lr")?.compactMap { v -> Double? in if case let .number(x) = v { return x }; return nil } ?? []
        // 0.01, then x0.1 from epoch 2 on (float32 rates: compared to 1e-6 relative).
        #expect(rates.count == 3 && zip(rates, [0.01, 0.001, 0.001]).allSatisfy { Swift.abs($0 / $1 - 1) < 1e-6 }, "\(rates)")
    }

    // MARK: (b) argument checks

    func trainError(_ call: String, model: String = "lenet5(seed: 0)") -> String {
        errorText("let net = \(model)\nlet d = dataset(\"test_squares\", split: \"test\", count: 8)\n\(call)")
    }

    @Test func trainArgumentsAreCheckedWithExactMessages() {
        #expect(trainError("train(net, d, 1, optimizer: \"adm\")").hasPrefix(
            "t.sal:3:1: error: wrong arguments to train: unknown optimizer \"adm\"; it must be \"adam\" or \"sgd\"; did you mean \"adam\"?"))
        #expect(trainError("train(net, d, 1, schedule: \"cosin\")").hasPrefix(
            "t.sal:3:1: error: wrong arguments to train: unknown schedule \"cosin\"; it must be \"none\", \"step\", \"multistep\" or \"cosine\"; did you mean \"cosine\"?"))
        #expect(trainError("train(net, d, 3, milestones: [1])").hasPrefix(
            "t.sal:3:1: error: wrong arguments to train: milestones need schedule: \"multistep\""))
        #expect(trainError("train(net, d, 3, schedule: \"multistep\")").hasPrefix(
            "t.sal:3:1: error: wrong arguments to train: schedule: \"multistep\" needs milestones"))
        #expect(trainError("train(net, d, 3, schedule: \"multistep\", milestones: [3])").hasPrefix(
            "t.sal:3:1: error: wrong arguments to train: milestones must be epochs between 1 and 2, got [3]"))
        #expect(trainError("train(net, d, 0)").hasPrefix("t.sal:3:1: error: wrong arguments to train: epochs must be at least 1, got 0"))
        #expect(trainError("train(net, d, 1, batch: 0)").hasPrefix("t.sal:3:1: error: wrong arguments to train: batch must be at least 1, got 0"))
        #expect(trainError("train(net, d, 1, lr: -1)").hasPrefix("t.sal:3:1: error: wrong arguments to train: lr must be a positive number, got -1"))
        #expect(trainError("train(net, d, 1, nesterov: true)").hasPrefix("t.sal:3:1: error: wrong arguments to train: nesterov: true needs optimizer: \"sgd\""))
        #expect(trainError("train(net, [1, 2], 1)").hasPrefix("t.sal:3:1: error: wrong arguments to train: 'data' must be a dataset (dataset(\"name\", ...)), got a list"))
        #expect(trainError("train(net, d, 1, validation: 1.5)").hasPrefix(
            "t.sal:3:1: error: wrong arguments to train: validation as a fraction must leave at least one example on each side (0 < f < 1), got 1.5 of 8"))
        #expect(trainError("train(net, d, 1)", model: "vgg(classes: 6, input: [1, 28, 28])").hasPrefix(
            "t.sal:3:1: error: train: the model predicts 6 classes, data 'test_squares' has 10"))
        #expect(trainError("train(net, d, 1)", model: "lenet5(input: [3, 32, 32])").hasPrefix(
            "t.sal:3:1: error: train: the model takes images of shape [3, 32, 32], data 'test_squares' has [1, 28, 28]"))
        #expect(trainError("train(net, d, 1)", model: "lenet5(labels: [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\", \"j\"])").hasPrefix(
            "t.sal:3:1: error: train: the model's labels [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\", \"j\"] differ from the classes of 'test_squares'"))
        #expect(trainError("accuracy(net, d)", model: "lenet5(classes: 4)").hasPrefix("t.sal:3:1: error: accuracy: the model predicts 4 classes, data 'test_squares' has 10"))
        #expect(trainError("subset(d, 4, 9)").hasPrefix("t.sal:3:1: error: wrong arguments to subset: subset 4..<9 is not a non-empty range inside 0..<8 of 'test_squares'"))
        #expect(errorText("vgg(classes: 6, input: [3, 64, 32])").hasPrefix("t.sal:1:1: error: wrong arguments to vgg: vgg builds square inputs, got [3, 64, 32]"))
        #expect(errorText("resnet(classes: 1, input: [3, 64, 64])").hasPrefix("t.sal:1:1: error: wrong arguments to resnet: classes must be >= 2, got 1"))
    }

    @Test func accuracyIsTheTrainersAccuracy() throws {
        let (i, _) = try interpreter("let net = lenet5(seed: 7)\nlet a = accuracy(net, dataset(\"test_squares\", split: \"test\", count: 20), batch: 7)",
                                     registry: langTestRegistry())
        // Counted here from the logits, not by the accuracy function under test.
        let net = try ModelZoo.lenet5NICE(seed: 7), data = SquaresDataset(count: 20)
        var right = 0
        for k in 0..<data.count {
            let e = try data.example(k)
            let logits = try Autograd.noGrad { try net(e.image.reshaped([1] + e.image.shape)) }.scalars
            if logits.indices.max(by: { logits[$0] < logits[$1] }) == e.label { right += 1 }
        }
        #expect(i.globals.lookup("a")?.summary == formatNumber(Double(right) / 20))
    }

    @Test func accuracyAgainstAModelCountsTopOneAgreement() throws {
        let script = "let a = lenet5(seed: 7)\nlet b = lenet5(seed: 8)\nlet d = dataset(\"test_squares\", split: \"test\", count: 20)\n"
            + "let self_ = accuracy(a, d, against: a)\nlet other = accuracy(a, d, against: b, batch: 6)"
        let (i, _) = try interpreter(script, registry: langTestRegistry())
        // Counted here from both nets' logits, not by the function under test.
        let a = try ModelZoo.lenet5NICE(seed: 7), b = try ModelZoo.lenet5NICE(seed: 8), data = SquaresDataset(count: 20)
        var same = 0
        for k in 0..<data.count {
            let x = try data.example(k).image
            let (la, lb) = try Autograd.noGrad { (try a(x.reshaped([1] + x.shape)).scalars, try b(x.reshaped([1] + x.shape)).scalars) }
            if la.indices.max(by: { la[$0] < la[$1] }) == lb.indices.max(by: { lb[$0] < lb[$1] }) { same += 1 }
        }
        #expect(i.globals.lookup("self_")?.summary == formatNumber(1))
        #expect(i.globals.lookup("other")?.summary == formatNumber(Double(same) / 20))
    }

    // MARK: params and --set

    @Test func paramsTakeCommandLineValuesTypedLikeTheDefaults() throws {
        let defaults = "let p = params({out: \"a.onnx\", epochs: 4, fast: false})\nprint(p)"
        #expect(try interpreter(defaults).1 == ["{out: \"a.onnx\", epochs: 4, fast: false}"])
        #expect(try interpreter(defaults, sets: ["epochs": "2", "fast": "true", "out": "/tmp/b.onnx"]).1 == ["{out: \"/tmp/b.onnx\", epochs: 2, fast: true}"])
        func failure(_ sets: [String: String]) -> String {
            do { _ = try interpreter(defaults, sets: sets); return "" } catch { return "\(error)" }
        }
        #expect(failure(["eopchs": "2"]).contains("error: params: --set eopchs=2: the script has no parameter 'eopchs'; did you mean 'epochs'? (it takes: out, epochs, fast)"))
        #expect(failure(["epochs": "two"]).contains("error: params: --set epochs=two: 'epochs' takes a number"))
        #expect(failure(["fast": "yes"]).contains("error: params: --set fast=yes: 'fast' takes true or false"))
    }

    // MARK: (d) builders are ModelZoo's graphs

    @Test func buildersBuildTheModelZooGraphs() throws {
        let (i, _) = try interpreter("""
            let a = lenet5(seed: 3)
            let b = vgg(classes: 6, input: [3, 64, 64], seed: 1)
            let c = resnet(classes: 8, input: [3, 32, 32], widths: [8, 16], seed: 2)
            let d = vgg(classes: 12, input: [1, 16, 16], widths: [4, 4, 8], hidden: 10, seed: 5, labels: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"])
            """)
        expectSameGraph(try graph(i, "a"), try ModelZoo.lenet5NICE(classes: 10, seed: 3))
        expectSameGraph(try graph(i, "b"), try ModelZoo.vggStyle(classes: 6, inputSize: 64, seed: 1))
        expectSameGraph(try graph(i, "c"), try ModelZoo.smallResNet(classes: 8, inputSize: 32, widths: [8, 16], seed: 2))
        expectSameGraph(try graph(i, "d"), try ModelZoo.vggStyle(classes: 12, inputSize: 16, channels: 1, widths: [4, 4, 8], hidden: 10, seed: 5))
        #expect(try graph(i, "d").labels?.count == 12)
        // A different seed gives different weights (the seed reaches the initialiser).
        #expect(try graph(i, "a").weight("conv1.weight")!.scalars != (try ModelZoo.lenet5NICE(seed: 4)).weight("conv1.weight")!.scalars)
    }

    // MARK: (c) the recipes in models/ stay runnable

    struct Recipe: Sendable, CustomStringConvertible {
        var file: String
        var dryRunLine: String
        var classes: Int
        var builtLike: @Sendable () throws -> Graph
        var needsFashionMNIST = false
        var description: String { file }
    }

    /// Data, counts and epochs the README gives for each shipped model.
    static let recipes: [Recipe] = [
        Recipe(file: "lenet-fmnist.sal",
               dryRunLine: "dry run: would train lenet5-caffe-nice on fashion-mnist[0..<55000] (55000 examples, validation fashion-mnist[55000..<60000], 5000) for 4 epochs",
               classes: 10, builtLike: { try ModelZoo.lenet5NICE(classes: 10, seed: 0) }, needsFashionMNIST: true),
        Recipe(file: "vgg-an8flower-single6c.sal",
               dryRunLine: "dry run: would train vgg-style on an8flower-single-6c (3000 examples, validation an8flower-single-6c, 400) for 3 epochs",
               classes: 6, builtLike: { try ModelZoo.vggStyle(classes: 6, inputSize: 64, seed: 0) }),
        Recipe(file: "vgg-an8flower-double12c.sal",
               dryRunLine: "dry run: would train vgg-style on an8flower-double-12c (3000 examples, validation an8flower-double-12c, 400) for 8 epochs",
               classes: 12, builtLike: { try ModelZoo.vggStyle(classes: 12, inputSize: 64, seed: 0) }),
        Recipe(file: "resnet-shapes.sal",
               dryRunLine: "dry run: would train small-resnet on shapes-loc (10000 examples, validation shapes-loc, 400) for 24 epochs",
               classes: 8, builtLike: { try ModelZoo.smallResNet(classes: 8, inputSize: 64, seed: 0) }),
        Recipe(file: "resnet-an8flower-single6c.sal",
               dryRunLine: "dry run: would train small-resnet on an8flower-single-6c (3000 examples, validation an8flower-single-6c, 400) for 6 epochs",
               classes: 6, builtLike: { try ModelZoo.smallResNet(classes: 6, inputSize: 64, seed: 0) }),
        Recipe(file: "resnet-an8flower-double12c.sal",
               dryRunLine: "dry run: would train small-resnet on an8flower-double-12c (3000 examples, validation an8flower-double-12c, 400) for 10 epochs",
               classes: 12, builtLike: { try ModelZoo.smallResNet(classes: 12, inputSize: 64, seed: 0) }),
        Recipe(file: "vgg-shapes.sal",
               dryRunLine: "dry run: would train vgg-style on shapes-loc (10000 examples, validation shapes-loc, 400) for 10 epochs",
               classes: 8, builtLike: { try ModelZoo.vggStyle(classes: 8, inputSize: 64, seed: 0) }),
    ]

    @Test func everyRecipeIsListedAndDocumented() throws {
        let dir = repositoryRoot.appendingPathComponent("models").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(Set(files.filter { $0.hasSuffix(".sal") }) == Set(Self.recipes.map(\.file)))
        let readme = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
        for r in Self.recipes {
            #expect(files.contains(r.file.replacingOccurrences(of: ".sal", with: ".onnx")), "\(r.file) reproduces no shipped model")
            #expect(readme.contains("saliency-repl exec models/\(r.file)"), "models/README.md does not give \(r.file) as the command")
        }
    }

    /// Each recipe runs end to end in a dry run: its data opens, the model fits the data, the
    /// arguments pass every check, and the (untrained) model saves where `--set out=` says.
    @Test(arguments: recipes) func recipeRunsDry(_ recipe: Recipe) throws {
        if recipe.needsFashionMNIST {
            try #require(Self.fashionMNIST, "Fashion-MNIST is not installed (scripts/bootstrap installs dataset-fashion-mnist)")
        }
        let dir = repositoryRoot.appendingPathComponent("models").path
        let text = try String(contentsOfFile: dir + "/" + recipe.file, encoding: .utf8)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("recipe-\(getpid())-\(recipe.file)/model.onnx").path
        defer { try? FileManager.default.removeItem(atPath: (out as NSString).deletingLastPathComponent) }
        let (i, lines) = try interpreter(text, dryRun: true, sets: ["out": out], base: dir)
        #expect(lines.first == recipe.dryRunLine)
        #expect(lines.last == "saved \(out)")
        expectSameGraph(try graph(i, "net"), try recipe.builtLike())
        let saved = try loadONNX(path: out)
        #expect(saved.labels?.count == recipe.classes)
    }
}
