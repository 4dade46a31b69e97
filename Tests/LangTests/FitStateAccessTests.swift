import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// A test-only fitting method that trains nothing: its fit stores two small networks built
/// with GraphBuilder ("decoder": image -> 1-channel map; "student": a classifier over the
/// dataset's classes), a tensor, a scalar and a note, and with `finetune: true` a copy of
/// the model with 0.5 added to its first weight as the fine-tuned model. Its explain runs the
/// decoder (times `gain`) and reports the fit parameter `width` it reads from `ctx.params`.
struct GraphFittingExplainer: Explainer {
    let name = "test_graph_fit"
    let summary = "stores networks in its fitted state (test)"
    let reference = "test"
    var parameters: [ParamSpec] {
        [
            ParamSpec("width", .int, default: .int(4), range: 1...16, phase: .fit, doc: "channels of the stored networks"),
            ParamSpec("finetune", .bool, default: .bool(false), phase: .fit, doc: "return a fine-tuned copy of the model"),
            ParamSpec("gain", .float, default: .float(1), range: 0...10, doc: "map scale"),
        ]
    }
    var capabilities: Capabilities { [.batched, .fits] }

    func fit(_ ctx: FitContext) throws -> FitState {
        let first = try ctx.dataset.example(0).image
        let width = try ctx.params.int("width")
        let d = GraphBuilder(name: "decoder", inputShape: first.shape, seed: 1)
        try d.conv(name: "c1", out: width, kernel: 3, padding: 1)
        try d.relu(name: "r1")
        try d.conv(name: "c2", out: 1, kernel: 1)
        try d.sigmoid(name: "map")
        let s = GraphBuilder(name: "student", inputShape: first.shape, seed: 2)
        try s.conv(name: "c1", out: width, kernel: 3, padding: 1)
        try s.relu(name: "r1")
        try s.globalAvgPool(name: "gap")
        try s.flatten(name: "flatten")
        try s.linear(name: "fc", out: ctx.dataset.classNames.count)
        var tuned: Graph?
        if try ctx.params.bool("finetune") {
            let m = try ctx.model.copy()
            guard let w = m.weights.keys.sorted().first else { throw PluginError.invalid("the model has no weights to fine-tune") }
            try m.setWeight(w, m.weight(w)! + 0.5)
            tuned = m
        }
        return FitState(method: name, tensors: ["first": first], scalars: ["examples": Double(ctx.dataset.count)],
                        notes: ["kind": "test"], graphs: ["decoder": try d.build(), "student": try s.build(labels: ctx.dataset.classNames)],
                        model: tuned)
    }

    func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        let state = try ctx.fittedState()
        let map = try state.graph("decoder")(ctx.images) * Float(try ctx.params.float("gain"))
        if let tuned = state.model { _ = try tuned(ctx.images) }
        let n = ctx.images.shape[0]
        return Explanation(map: map, scalars: ["width": [Double](repeating: Double(try ctx.params.int("width")), count: n)])
    }
}

struct FitStateAccessTests {
    func interpreter() throws -> (Interpreter, String) {
        let dir = NSTemporaryDirectory() + "fitstate-lang-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = langTestRegistry()
        r.register(GraphFittingExplainer())
        r.register(ExpectedGradientsExplainer())
        let i = Interpreter(registry: r)
        i.fitCache = FitCache(directory: dir + "/cache")
        i.quiet = true
        return (i, dir)
    }

    @Test func everyFieldOfAStateReadsInTheLanguage() throws {
        let (i, dir) = try interpreter()
        try i.run("""
        let d = dataset("test_squares", count: 6)
        let m = model("lenet5")
        let f = fit(m, d, "test_graph_fit", width: 3, finetune: true, seed: 1)
        """)
        func v(_ e: String) throws -> String { try i.run(e).summary }
        #expect(try v("f").hasPrefix("fitted test_graph_fit on test_squares (6 examples) #"))
        #expect(try v("f").contains(", 1 tensor, 2 graphs (decoder, student), a fine-tuned model, "))
        #expect(try v("f.method") == "\"test_graph_fit\"")
        #expect(try v("f.params") == "{finetune: true, width: 3}")
        #expect(try v("f.notes") == "{kind: \"test\"}")
        #expect(try v("f.scalars") == "{examples: 6}")
        #expect(try v("f.tensors.first.shape") == "[1, 28, 28]")
        #expect(try v("f.graphs") == "[\"decoder\", \"student\"]")
        // A graph is a model value: every builtin that takes a model takes it.
        #expect(try v("f.graph(\"student\")").hasPrefix("model student (5 nodes, input [1, 1, 28, 28], 10 classes)"))
        #expect(try v("layers(f.graph(\"student\")).count") == "5")
        let accuracy = try i.run("accuracy(f.graph(\"student\"), d)")
        guard case let .number(a) = accuracy else { Issue.record("accuracy is \(accuracy.summary)"); return }
        #expect(a >= 0 && a <= 1)
        #expect(try v("explain(f.graph(\"student\"), d[0], \"test_abs\")").hasPrefix("saliency test_abs [1, 1, 28, 28]"))
        try i.run("save(f.graph(\"student\"), \"\(dir)/s.onnx\")")
        let saved = try loadONNX(path: dir + "/s.onnx")
        guard case let .fitted(state) = try i.run("f") else { Issue.record("f is not a state"); return }
        #expect(saved.contentDigest == state.graphs["student"]!.contentDigest)
        // The fine-tuned model is a model too; the method's own explain uses the state.
        #expect(try v("f.model").hasPrefix("model lenet5"))
        #expect(try v("explain(f.model, d[0], \"test_abs\")").hasPrefix("saliency test_abs"))
        #expect(try v("explain(m, d[0], \"test_graph_fit\", fit: f).params") == "{finetune: true, gain: 1, width: 3}")
        // Without fine-tuning there is no model.
        #expect(try v("fit(m, d, \"test_graph_fit\", cache: false).model") == "none")
        // A state saved and loaded keeps its networks.
        try i.run("save(f, \"\(dir)/f.salfit\")")
        #expect(try v("load(\"\(dir)/f.salfit\").graphs") == "[\"decoder\", \"student\"]")
        #expect(try v("load(\"\(dir)/f.salfit\").graph(\"decoder\")").hasPrefix("model decoder"))
    }

    @Test func wrongFieldsAndGraphsSayWhatExists() throws {
        let reg = langTestRegistry()
        reg.register(GraphFittingExplainer())
        let setup = "let f = fit(model(\"lenet5\"), dataset(\"test_squares\", count: 2), \"test_graph_fit\", cache: false)\n"
        #expect(errorText(setup + "f.tensros", registry: reg).hasPrefix(
            "t.sal:2:3: error: a fitted state has no field 'tensros'; did you mean 'tensors'? "
            + "(it has: method, dataset, params, tensors, scalars, notes, graphs, graph, model, seconds, key)"))
        #expect(errorText(setup + "f.graph(\"decodr\")", registry: reg).hasPrefix(
            "t.sal:2:3: error: graph: the fitted state of 'test_graph_fit' has no graph 'decodr'; did you mean 'decoder'? (it has: decoder, student)"))
        #expect(errorText(setup + "explain(model(\"lenet5\"), zeros([1, 1, 28, 28]), \"test_graph_fit\", fit: f, width: 5)", registry: reg).contains(
            "test_graph_fit was fitted with width: 4; this call says width: 5: refit or drop the parameter"))
    }

    /// Fitting (even a fit that fine-tunes) and explaining never change the caller's model.
    @Test func fitAndExplainLeaveTheCallersModelAsItWas() throws {
        let g = try Architectures.lenet5Caffe(seed: 1)
        g.setTrainable(["conv1.weight"])
        let before = g.contentDigest, trainable = g.trainable
        let data = SquaresDataset(count: 4)
        let e = GraphFittingExplainer()
        let state = try Plugins.fit(e, model: g, dataset: data, params: ["finetune": .bool(true)])
        _ = try Plugins.explain(e, model: g, images: Tensor.zeros([1, 1, 28, 28]), params: ["gain": .float(2)], fitted: state)
        #expect(g.contentDigest == before && g.trainable == trainable)
        #expect(state.modelDigest == before)
        let tuned = try #require(state.model)
        #expect(tuned.contentDigest != before)
        // The state's networks are frozen results.
        #expect(tuned.trainable.isEmpty && state.graphs.values.allSatisfy { $0.trainable.isEmpty })
    }

    /// help("method") of a method that fits: fit parameters and explain parameters apart.
    @Test func helpShowsFitAndExplainParametersApart() throws {
        let (i, _) = try interpreter()
        let s = try Builtins.helpText(.string("expected_gradients"), registry: i.registry)
        #expect(s == """
        method expected_gradients: integrated gradients averaged over baselines drawn from the data (fit: draw references)
          Erion, Janizek, Sturmfels, Lundberg, Lee, Improving performance of deep learning models with axiomatic attribution priors and expected gradients, Nature Machine Intelligence 2021
          capabilities: gradients, batched, stochastic, fits
          fit parameters (fixed by the fit; explain reads them from the state):
            references: int = 100 in 1...100000
                dataset images kept as the reference distribution
          explain parameters:
            samples: int = 64 in 1...100000
                (reference, alpha) draws per image
            batch_size: int = 32 in 1...4096
                inputs per forward pass when the method expands each image into many copies (memory vs. speed)
        """)
        // A method without a fit phase keeps one list.
        #expect(try Builtins.helpText(.string("test_abs"), registry: i.registry).hasSuffix("  capabilities: gradients, batched\n  parameters:\n    power: float = 1.0 in 0...4\n        exponent"))
    }
}
