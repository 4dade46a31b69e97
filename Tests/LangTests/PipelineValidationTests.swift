import Testing
@testable import Lang
import Plugins
import Runtime

/// Explainers and a metric with real schemas, registered in a private registry so the
/// validator's messages can be tested exactly.
struct FakeExplainer: Explainer {
    let name: String
    let summary = "test method"
    let reference = "none"
    var parameters: [ParamSpec] {
        [ParamSpec("layer", .layer, doc: "layer"), ParamSpec("steps", .int, default: .int(50), range: 1...1000, doc: "steps")]
    }
    func explain(_ ctx: inout ExplainContext) throws -> Explanation { Explanation(map: Tensor.zeros([ctx.images.shape[0], 1] + Array(ctx.images.shape[2...]))) }
}

struct FakeMetric: Metric {
    let name = "deletion"
    let summary = "test metric"
    let reference = "none"
    let direction = MetricDirection.lowerIsBetter
    func evaluate(_ ctx: inout MetricContext) throws -> MetricResult { MetricResult(values: [0]) }
}

struct FakeDatasets: DatasetProvider {
    let name = "an8flower"
    let summary = "test"
    let parameters: [ParamSpec] = []
    func open(split: String, params: Params) throws -> any Dataset { throw PluginError.invalid("not in tests") }
}

func testRegistry() -> Registry {
    let r = Registry(builtins: false)
    r.register(FakeExplainer(name: "gradcam"))
    r.register(FakeExplainer(name: "gradient"))
    r.register(FakeMetric())
    r.register(FakeDatasets())
    return r
}

@Suite("Pipeline validation")
struct PipelineValidationTests {
    func errors(_ yaml: String, overrides: [String: String] = [:]) -> String {
        var v = PipelineValidator(registry: testRegistry(), overrides: overrides)
        do {
            _ = try v.validate(source: yaml, file: "p.yaml")
            return "ok"
        } catch let e as PipelineError {
            return e.render(source: yaml)
        } catch {
            return "unexpected \(error)"
        }
    }

    let good = """
    name: t
    seed: 3
    params:
      n: 4
    steps:
      - load: {dataset: an8flower, split: test, limit: "${params.n}", as: data}
      - model: {path: m.onnx, as: m}
      - explain: {model: m, data: data, methods: [gradient, {gradcam: {steps: 10}}], as: maps}
      - metric: {maps: maps, metrics: [deletion], as: scores}
      - save: {value: scores, path: out/scores.csv}
    """

    /// A save step without `value` used to validate and then trap in the runner.
    @Test func aSaveStepNeedsAValue() {
        let yaml = """
        steps:
          - save: {path: out.csv}
        """
        #expect(errors(yaml).hasPrefix("p.yaml:2:5: error: 'save' is missing its argument 'value'"), "\(errors(yaml))")
    }

    @Test func aGoodPipelineValidates() throws {
        var v = PipelineValidator(registry: testRegistry(), overrides: ["params.n": "8"])
        let p = try v.validate(source: good, file: "p.yaml")
        #expect(p.name == "t" && p.seed == 3 && p.steps.count == 5)
        #expect(p.steps[0].arg("limit") == .scalar("8", YAMLPosition(file: "p.yaml", line: 6, column: 52), quoted: false))
        #expect(p.steps[2].binding == "maps")
    }

    @Test func unknownMethodWithSuggestion() {
        let yaml = good.replacingOccurrences(of: "[gradient, {gradcam: {steps: 10}}]", with: "[gradcm]")
        #expect(errors(yaml) == """
        p.yaml:8:47: error: unknown method 'gradcm'; did you mean 'gradcam'?
          at steps[2].explain.methods[0]
              - explain: {model: m, data: data, methods: [gradcm], as: maps}
                                                          ^
        1 error in pipeline
        """)
    }

    @Test func unknownStepAndBadReferenceAndWrongTypeAreAllReported() {
        let yaml = """
        steps:
          - lod: {dataset: an8flower, as: data}
          - explain: {model: m, data: data, methods: gradient}
          - metric: {maps: mpas, metrics: deletion, as: 3x}
          - save: {value: x, path: [a, b]}
        """
        #expect(errors(yaml) == """
        p.yaml:2:5: error: unknown step 'lod'; did you mean 'load'?
          at steps[0]
              - lod: {dataset: an8flower, as: data}
                ^

        p.yaml:3:22: error: 'm' is not the name of an earlier result (bind results with 'as: NAME')
          at steps[1].explain.model
              - explain: {model: m, data: data, methods: gradient}
                                 ^

        p.yaml:3:31: error: 'data' is not the name of an earlier result (bind results with 'as: NAME')
          at steps[1].explain.data
              - explain: {model: m, data: data, methods: gradient}
                                          ^

        p.yaml:4:20: error: 'mpas' is not the name of an earlier result (bind results with 'as: NAME')
          at steps[2].metric.maps
              - metric: {maps: mpas, metrics: deletion, as: 3x}
                               ^

        p.yaml:4:49: error: '3x' is not a valid name (letters, digits and _, not starting with a digit)
          at steps[2].metric.as
              - metric: {maps: mpas, metrics: deletion, as: 3x}
                                                            ^

        p.yaml:5:19: error: 'x' is not the name of an earlier result (bind results with 'as: NAME')
          at steps[3].save.value
              - save: {value: x, path: [a, b]}
                              ^

        p.yaml:5:28: error: 'path' expects a string, found a list
          at steps[3].save.path
              - save: {value: x, path: [a, b]}
                                       ^
        7 errors in pipeline
        """)
    }

    @Test func missingKeyAndParameterTypeAndRange() {
        let yaml = """
        steps:
          - model: {as: m}
          - explain:
              models: [m]
              data: m
              methods:
                - gradcam:
                    steps: many
                - gradient: {stepz: 3}
        """
        #expect(errors(yaml) == """
        p.yaml:2:5: error: 'model' is missing its argument 'path' (the .onnx file)
          at steps[0].model
              - model: {as: m}
                ^

        p.yaml:8:20: error: parameter 'steps' of 'gradcam' expects int, got a string
          at steps[1].explain.methods[0].gradcam.steps
                        steps: many
                               ^

        p.yaml:9:22: error: 'gradient' has no parameter 'stepz'; did you mean 'steps'?
          at steps[1].explain.methods[1].gradient.stepz
                    - gradient: {stepz: 3}
                                 ^
        3 errors in pipeline
        """)
    }

    @Test func badIndentationIsAYAMLSyntaxErrorWithPosition() {
        let yaml = "steps:\n  - model: {path: m.onnx, as: m}\n   - save: {value: m, path: x.onnx}\n"
        let out = errors(yaml)
        #expect(out.hasPrefix("p.yaml:3:"))
        #expect(out.contains("error: invalid YAML"))
        #expect(out.hasSuffix("1 error in pipeline"))
    }

    @Test func unknownParamsReferenceAndTopLevelKey() {
        let yaml = """
        sed: 1
        params: {n: 2}
        steps:
          - load: {dataset: an8flower, limit: "${params.m}", as: d}
        """
        let out = errors(yaml)
        #expect(out.contains("p.yaml:1:1: error: unknown key 'sed'; did you mean 'seed'?"))
        #expect(out.contains("p.yaml:4:39: error: unknown parameter 'm' in ${params.m}; did you mean 'n'?"))
    }
}

@Suite("Method labels")
struct MethodLabelTests {
    @Test func oneMethodSeveralTimesNeedsLabels() throws {
        let ok = """
        steps:
          - model: {path: m.onnx, as: m}
          - explain: {model: m, data: m, methods: [{gradcam: {layer: a, label: g-a}}, {gradcam: {layer: b, label: g-b}}]}
        """
        var v = PipelineValidator(registry: testRegistry())
        _ = try v.validate(source: ok, file: "p.yaml")
        let r = Registry(builtins: false)
        r.register(FakeExplainer(name: "gradcam"))
        let interp = Interpreter(registry: r, output: { _ in })
        do {
            try interp.run("let c = compare(model(\"lenet5\"), zeros([1, 1, 28, 28]), [{gradcam: {}}, {gradcam: {steps: 2}}])")
            Issue.record("expected an error")
        } catch let e as ScriptError {
            #expect(e.description.contains("method 'gradcam' appears twice; give each a different label"))
        }
        try interp.run("let c = compare(model(\"lenet5\"), zeros([1, 1, 28, 28]), [{gradcam: {label: \"one\"}}, {gradcam: {steps: 2, label: \"two\"}}])")
        guard case let .comparison(c)? = interp.globals.lookup("c") else { Issue.record("no comparison"); return }
        #expect(c.maps.entries.map(\.method) == ["one", "two"])
        #expect(c.maps.entries.map(\.saliency.method) == ["gradcam", "gradcam"])
    }
}
