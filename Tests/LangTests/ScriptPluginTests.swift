import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// Explanation methods written in the language (`register_method`) used exactly like
/// built-ins: explain, compare, help, methods(), :methods, completion, pipelines.
struct ScriptPluginTests {
    /// x * gain as the map (a [N, 1, H, W] result on a one-channel model is the map as is).
    static let bright = """
    fn brightness(model, x, target, params) {
      return x * params.gain
    }
    register_method("bright", brightness, params: {gain: {default: 2, min: 0, max: 10, doc: "factor"}}, summary: "x times gain")
    let m = model("lenet5", seed: 1)
    let x = ones([2, 1, 28, 28]) * 0.5
    """

    static var lenetPath: String { repositoryRoot.appendingPathComponent("models/lenet-fmnist.onnx").path }

    @Test func registeredMethodWorksInExplainCompareHelpAndMethods() throws {
        let r = run(ScriptPluginTests.bright + """

        let s = explain(m, x, "bright")
        print(s.method, s.shape, max(s.map), s.params, s.targets)
        print(max(explain(m, x, "bright", gain: 3).map))
        let maps = explain(m, x, ["bright", "test_abs"])
        print(keys(maps))
        help("bright")
        print(methods().method)
        """)
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        let preds = try Autograd.noGrad { try Architectures.lenet5Caffe(seed: 1)(Tensor.ones([2, 1, 28, 28]) * Tensor(Float(0.5))) }.argmax(axis: 1)
        #expect(r.lines.first == "bright [2, 1, 28, 28] 1 {gain: 2} [\(preds[0]), \(preds[1])]")
        #expect(r.lines.contains("1.5"))
        #expect(r.lines.contains("[\"bright\", \"test_abs\"]"))
        #expect(r.lines.contains("method bright: x times gain"))
        #expect(r.lines.contains("    gain: float = 2.0 in 0...10"))
        #expect(r.lines.contains("        factor"))
        #expect(r.lines.contains { $0.hasPrefix("  script: fn brightness(model, x, target, params) at t.sal:1:1") })
        #expect(r.lines.contains("[\"bright\", \"test_abs\", \"test_slow\"]"))
    }

    @Test func comparisonRunsTheScriptMethodPerEntry() throws {
        let reg = langTestRegistry()
        let interp = Interpreter(registry: reg)
        let r = run(ScriptPluginTests.bright + "\nlet c = compare(m, x, [{bright: {gain: 4, label: \"bright4\"}}, \"bright\"], batch: 1)", interpreter: interp)
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        guard case let .comparison(c)? = interp.globals.lookup("c") else { Issue.record("no comparison"); return }
        #expect(c.maps.entries.map(\.method) == ["bright4", "bright"])
        #expect(c.maps.entries[0].saliency.map.max().item == 2)
        #expect(c.maps.entries[1].saliency.map.max().item == 1)
        #expect(c.maps.entries[1].saliency.map.shape == [2, 1, 28, 28])
    }

    @Test func sessionListsParametersAndCompletesTheName() {
        var shown: [String] = []
        let s = Session(registry: langTestRegistry(), display: { if case let .text(t) = $0 { shown.append(t) } })
        guard case .value = s.run(ScriptPluginTests.bright) else { Issue.record("register"); return }
        _ = s.run(":methods")
        #expect(shown.last?.contains("method bright: x times gain") == true)
        #expect(shown.last?.contains("    gain: float = 2.0 in 0...10\n        factor") == true)
        #expect(shown.last?.contains("method test_abs:") == true)
        #expect(s.completions(line: "explain(m, x, \"br", cursor: 17).candidates == ["bright"])
        let line = "compare(m, x, [\"test_abs\", \"b"
        #expect(s.completions(line: line, cursor: line.count).candidates == ["bright"])
    }

    @Test func parameterDefaultsAndValidation() {
        #expect(errorText(ScriptPluginTests.bright + "\nexplain(m, x, \"bright\", gain: 20)")
            .contains("explain: parameter 'gain' of 'bright' is 20.0, outside 0...10"))
        #expect(errorText(ScriptPluginTests.bright + "\nexplain(m, x, \"bright\", gian: 1)")
            .contains("'bright' has no parameter 'gian'; did you mean 'gain'?"))
        #expect(errorText(ScriptPluginTests.bright + "\nexplain(m, x, \"bright\", gain: \"a lot\")")
            .contains("parameter 'gain' of 'bright' expects float, got a string"))
        // Declarations are checked when registering.
        let f = "fn f(model, x, target, params) { return x }\n"
        #expect(errorText(f + "register_method(\"f\", f, params: {k: {defualt: 1}})").contains("unknown field 'defualt'; did you mean 'default'?"))
        #expect(errorText(f + "register_method(\"f\", f, params: {k: {default: 11, max: 10}})").contains("the default of parameter 'k' of 'f' is 11.0, outside -inf...10"))
        #expect(errorText(f + "register_method(\"f\", f, params: {seed: 1})").contains("parameter name 'seed' is taken by explain(...)"))
        #expect(errorText(f + "register_method(\"f\", f, params: {k: {type: \"flaot\", default: 1}})").contains("unknown type \"flaot\"; did you mean \"float\"?"))
        #expect(errorText(f + "register_method(\"f\", f, params: {k: {doc: \"no default\"}})").contains("parameter 'k' needs a default or a type"))
        #expect(errorText(f + "register_method(\"f\", f, capabilities: [\"gradient\"])").contains("did you mean \"gradients\"?"))
        #expect(errorText("fn g(a, b) { return a }\nregister_method(\"g\", g)").contains("'fn' must take (model, x, target, params) and optionally info; g takes 2 parameters"))
        #expect(errorText(f + "register_method(\"no good\", f)").contains("a method name is letters, digits"))
        // Types, choices and optional parameters reach the function as a record.
        let r = run("""
        fn show_params(model, x, target, params) {
          print(params)
          return x
        }
        register_method("p", show_params, params: {n: {default: 3, type: "int"}, mode: {choices: ["a", "b"], default: "a"}, layer: {type: "layer"}, on: true})
        let m = model("lenet5", seed: 1)
        let s = explain(m, ones([1, 1, 28, 28]), "p", mode: "b", n: 4)
        help("p")
        """)
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.lines.first == "{n: 4, mode: \"b\", layer: none, on: true}")
        #expect(r.lines.contains("  capabilities: gradients, layer, batched"))
        #expect(r.lines.contains("    mode: \"a\" | \"b\" = \"a\""))
        #expect(errorText("""
        fn f(model, x, target, params) { return x }
        register_method("p", f, params: {mode: {choices: ["a", "b"], default: "a"}})
        explain(model("lenet5"), ones([1, 1, 28, 28]), "p", mode: "c")
        """).contains("parameter 'mode' of 'p' must be one of \"a\" | \"b\", got \"c\""))
    }

    @Test func wrongReturnShapeNamesTheMethodAndTheShape() {
        let bad = """
        fn flat(model, x, target, params) { return reshape(x, [2, 28, 28]) }
        fn number(model, x, target, params) { return 1 }
        fn rgb(model, x, target, params) { return zeros([2, 3, 28, 28]) }
        register_method("flat", flat)
        register_method("number", number)
        register_method("rgb", rgb)
        register_method("attr", flat, returns: "attribution")
        let m = model("lenet5", seed: 1)
        let x = ones([2, 1, 28, 28])
        """
        let e = errorText(bad + "\nexplain(m, x, \"flat\")")
        #expect(e.contains("t.sal:10:1: error: explain: method 'flat' (fn flat(model, x, target, params) at t.sal:1:1) returned a tensor of shape [2, 28, 28]; expected [2, 1, 28, 28]"), "\(e)")
        #expect(errorText(bad + "\nexplain(m, x, \"number\")").contains("method 'number' (fn number(model, x, target, params) at t.sal:2:1) must return a tensor [2, 1, 28, 28], got a number"))
        #expect(errorText(bad + "\nexplain(m, x, \"rgb\")").contains("returned a tensor of shape [2, 3, 28, 28]; expected [2, 1, 28, 28]"))
        #expect(errorText(bad + "\nexplain(m, x, \"attr\")").contains("expected [2, 1, 28, 28] (returns: \"attribution\")"))
    }

    @Test func errorInsideTheFunctionPointsIntoTheScript() throws {
        let interp = Interpreter(registry: langTestRegistry())
        let plugin = """
        # a plugin file
        fn broken(model, x, target, params) {
          let g = x * params.gian
          return g
        }
        register_method("broken", broken, params: {gain: 1})
        """
        #expect(run(plugin, file: "plugin.sal", interpreter: interp).error == nil)
        let r = run("let m = model(\"lenet5\", seed: 1)\nlet maps = explain(m, ones([1, 1, 28, 28]), \"broken\")", file: "main.sal", interpreter: interp)
        let text = try #require(r.error?.description)
        #expect(text == """
        plugin.sal:3:22: error: a record has no field 'gian'; did you mean 'gain'?
          let g = x * params.gian
                             ^
        note: in script method 'broken' (fn broken(model, x, target, params) at plugin.sal:2:1)
        """, "\(text)")
        // The same through compare (what pipelines lower to).
        let c = run("compare(model(\"lenet5\", seed: 1), ones([1, 1, 28, 28]), [\"broken\"])", file: "main2.sal", interpreter: interp)
        #expect(c.error?.description.hasPrefix("plugin.sal:3:22: error: a record has no field 'gian'") == true)

        // A plugin file run by one interpreter (a loader), used from another sharing the registry.
        let reg = langTestRegistry()
        let file = "loaded-\(UUID().uuidString.prefix(8)).sal"
        #expect(run(plugin, file: file, interpreter: Interpreter(registry: reg)).error == nil)
        let other = run("explain(model(\"lenet5\", seed: 1), ones([1, 1, 28, 28]), \"broken\")", file: "main.sal", registry: reg)
        #expect(other.error?.description.hasPrefix("\(file):3:22: error: a record has no field 'gian'; did you mean 'gain'?\n  let g = x * params.gian\n") == true,
                "\(other.error?.description ?? "")")
    }

    @Test func reRegisteringReplacesAndBuiltinNamesWarn() {
        let r = run("""
        fn one(model, x, target, params) { return zeros([1, 1, 28, 28]) + 1 }
        fn two(model, x, target, params) { return zeros([1, 1, 28, 28]) + 2 }
        register_method("k", one)
        register_method("k", two)
        let m = model("lenet5", seed: 1)
        print(max(explain(m, ones([1, 1, 28, 28]), "k").map))
        register_method("gradient", one)
        print(max(explain(m, ones([1, 1, 28, 28]), "gradient").map))
        """, registry: Registry())
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.lines == ["2", "warning: register_method: 'gradient' shadows the built-in method of that name in this session", "1"])
        // The shadow lives in that registry only.
        let builtin = try? Registry().explainer("gradient")
        #expect(builtin != nil && !(builtin! is ScriptExplainer))
    }

    /// The end-to-end proof: a three-line script gradient equals the built-in `gradient`
    /// on the shipped Fashion-MNIST LeNet, for logits and for probabilities.
    @Test func scriptGradientEqualsTheBuiltinOnTheShippedModel() throws {
        let reg = Registry()
        let interp = Interpreter(registry: reg)
        let r = run("""
        fn script_gradient(model, x, target, params, info) {
          fn score(v) { return pick(logits(model, v), target, score: info.score) }
          return grad(score, x)
        }
        register_method("script_gradient", script_gradient, returns: "attribution")
        """, interpreter: interp)
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        let g = try loadONNX(path: ScriptPluginTests.lenetPath)
        let data = try reg.dataset("fashion-mnist").open(split: "test", params: Params.resolve([:], schema: reg.dataset("fashion-mnist").parameters, plugin: "fashion-mnist"))
        let images = try data.batch(Array(0..<4)).images
        for score in [ScoreKind.logit, .prob] {
            let mine = try Plugins.explain(reg.explainer("script_gradient"), model: g, images: images, score: score)
            let builtin = try Plugins.explain(reg.explainer("gradient"), model: g, images: images, score: score)
            #expect(mine.targets == builtin.targets)
            #expect(mine.map.shape == builtin.map.shape)
            let scale = builtin.map.abs().max().item
            #expect(scale > 0)
            let diff = (mine.map - builtin.map).abs().max().item
            #expect(diff <= 1e-6 * scale, "score \(score): max difference \(diff) (scale \(scale))")
            #expect(mine.attribution?.shape == [4, 1, 28, 28])
        }
    }

    /// Layer access from script code: Grad-CAM written with activations, grad_wrt, axis
    /// reductions and resize equals the built-in `gradcam` at the same layer.
    @Test func scriptGradCAMEqualsTheBuiltin() throws {
        let reg = Registry()
        let interp = Interpreter(registry: reg)
        let r = run("""
        fn script_gradcam(model, x, target, params, info) {
          let r = activations(model, x, params.layer)
          let a = r[params.layer]
          let g = grad_wrt(pick(r.logits, target, score: info.score), a)
          let cam = relu(sum(a * mean(g, axes: [2, 3]), axes: [1]))
          return resize(cam, [shape(x)[2], shape(x)[3]])
        }
        register_method("script_gradcam", script_gradcam, returns: "map",
                        params: {layer: {type: "layer", default: "conv2", doc: "conv layer"}})
        """, interpreter: interp)
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(try reg.explainer("script_gradcam").capabilities.contains(.layerChoice))
        let g = try loadONNX(path: ScriptPluginTests.lenetPath)
        let data = try reg.dataset("fashion-mnist").open(split: "test", params: Params.resolve([:], schema: reg.dataset("fashion-mnist").parameters, plugin: "fashion-mnist"))
        let images = try data.batch(Array(0..<4)).images
        for layer in ["conv1", "conv2"] {
            let mine = try Plugins.explain(reg.explainer("script_gradcam"), model: g, images: images, params: ["layer": .string(layer)])
            let builtin = try Plugins.explain(reg.explainer("gradcam"), model: g, images: images, params: ["layer": .string(layer)])
            let scale = builtin.map.abs().max().item
            #expect(scale > 0)
            let diff = (mine.map - builtin.map).abs().max().item
            #expect(diff <= 1e-5 * scale, "\(layer): max difference \(diff) (scale \(scale))")
        }
        #expect(errorText("sum(ones([2, 3]), axes: [2])").contains("axes of a rank-2 tensor are -2..<2, got 2"))
        #expect(errorText("resize(ones([2, 3]), [4, 4])").contains("'x' must be [N, C, H, W], got [2, 3]"))
        #expect(run("print(shape(mean(ones([2, 3, 4, 4]), axes: [-1, 2])), sum(ones([2, 3]), axes: 1))").lines
            == ["[2, 3, 1, 1] tensor[2, 1] [3, 3]"])
    }

    @Test func infoSeedMakesStochasticMethodsReproducible() {
        let r = run("""
        fn noisy(model, x, target, params, info) { return randn(shape(x), seed: info.seed) }
        register_method("noisy", noisy, capabilities: ["batched", "stochastic"])
        let m = model("lenet5", seed: 1)
        let x = ones([1, 1, 28, 28])
        print(explain(m, x, "noisy", seed: 1).map == explain(m, x, "noisy", seed: 1).map)
        print(explain(m, x, "noisy", seed: 1).map == explain(m, x, "noisy", seed: 2).map)
        help("noisy")
        """)
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(Array(r.lines.prefix(2)) == ["true", "false"])
        #expect(r.lines.contains("  capabilities: batched, stochastic"))
    }

    @Test func layerActivationsAndTheirGradients() throws {
        let r = run("""
        let m = model("lenet5", seed: 1)
        let x = ones([2, 1, 28, 28]) * 0.5
        let r = activations(m, x, ["conv2", "fc2"])
        print(keys(r), shape(r.conv2))
        print(grad_wrt(pick(r.logits, [3, 7]), r.fc2))
        print(shape(grad_wrt(pick(r.logits, 3, score: "prob"), r.conv2)))
        print(max(abs(r.logits - logits(m, x))) < 0.000001)
        """)
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.lines[0] == "[\"logits\", \"conv2\", \"fc2\"] [2, 50, 8, 8]")
        #expect(r.lines[1].hasPrefix("tensor[2, 10] min 0 max 1 mean 0.1"))
        #expect(r.lines[2] == "[2, 50, 8, 8]")
        // Captured logits are differentiable, so the comparison stays a 0-d tensor: [1] is true.
        #expect(r.lines[3] == "tensor[] [1]")
        #expect(errorText("activations(model(\"lenet5\"), ones([1, 1, 28, 28]), \"conv9\")").contains("the model has no layer 'conv9'; did you mean 'conv"))
        #expect(errorText("grad_wrt(3, ones([2]))").contains("y is a plain number"))
        #expect(errorText("let m = model(\"lenet5\")\ngrad_wrt(pick(logits(m, ones([1, 1, 28, 28])), 3), ones([2]))").contains("'x' does not take part in autograd"))
        #expect(errorText("pick(tensor([[1, 2]]), 5)").contains("target 5 is out of range: the scores have 2 classes"))
        #expect(errorText("pick(tensor([[1, 2]]), [0, 1])").contains("'target' has 2 classes for 1 rows of scores"))
    }

    /// Pipelines validate method names and parameters against the registry the run uses,
    /// including methods a script registered before validation.
    @Test func pipelinesValidateAndRunScriptMethods() throws {
        let reg = Registry()
        let interp = Interpreter(registry: reg)
        #expect(run(ScriptPluginTests.bright, interpreter: interp).error == nil)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scriptplug-\(getpid())-\(UUID().uuidString.prefix(6))").path
        func yaml(_ methods: String) -> String {
            """
            steps:
              - load: {dataset: fashion-mnist, split: test, limit: 2, as: data}
              - model: {path: \(ScriptPluginTests.lenetPath), as: lenet}
              - explain: {model: lenet, data: data, methods: \(methods), as: maps}
              - metric: {maps: maps, metrics: [png_size], as: scores}
            """
        }
        var bad = PipelineValidator(registry: reg)
        let badSource = yaml("[gradient, {bright: {gian: 3}}, brigth]")
        do {
            _ = try bad.validate(source: badSource, file: "p.yaml")
            Issue.record("expected validation errors")
        } catch let e as PipelineError {
            let text = e.render(source: badSource)
            #expect(text.contains("'bright' has no parameter 'gian'; did you mean 'gain'?"), "\(text)")
            #expect(text.contains("unknown method 'brigth'; did you mean 'bright'?"), "\(text)")
        }
        var v = PipelineValidator(registry: reg)
        let p = try v.validate(source: yaml("[gradient, {bright: {gain: 3}}]"), file: "p.yaml")
        let scored = try PipelineRunner(pipeline: p, outputDirectory: dir, quiet: true).run(interpreter: interp, log: { _ in })
        #expect(scored.first?.maps.entries.map(\.method) == ["gradient", "bright"])
        #expect(scored.first?.maps.entries[1].saliency.params["gain"] == .float(3))
        try? FileManager.default.removeItem(atPath: dir)
    }
}
