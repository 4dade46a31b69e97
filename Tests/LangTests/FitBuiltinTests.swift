import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// fit(...), explain(..., fit:), compare(..., fit:), save/load .salfit, the pipeline `fit:` key.
struct FitBuiltinTests {
    func registry() -> Registry {
        let r = langTestRegistry()
        r.register(ExpectedGradientsExplainer())
        return r
    }

    func interpreter() -> (Interpreter, String) {
        let dir = NSTemporaryDirectory() + "fit-lang-" + UUID().uuidString
        let i = Interpreter(registry: registry())
        i.fitCache = FitCache(directory: dir + "/cache")
        i.quiet = true
        return (i, dir)
    }

    @Test func fitExplainSaveAndLoad() throws {
        let (i, dir) = interpreter()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let v = try i.run("""
        let d = dataset("test_squares", count: 12)
        let m = model("lenet5")
        let f = fit(m, d, "expected_gradients", references: 5, seed: 2)
        f
        """)
        #expect(v.summary.hasPrefix("fitted expected_gradients on test_squares (12 examples) #"))
        #expect(v.summary.contains(", 1 tensor, "))
        #expect(try i.run("explain(m, d[0], \"expected_gradients\", fit: f, samples: 4)").summary.hasPrefix("saliency expected_gradients [1, 1, 28, 28]"))
        // A dataset as fit: goes through the cache: the same key as the explicit fit (same seed).
        let files = { (try? FileManager.default.contentsOfDirectory(atPath: dir + "/cache")) ?? [] }
        #expect(files().count == 1)
        let viaData = try i.run("explain(m, d[0], \"expected_gradients\", fit: d, samples: 4, references: 5, seed: 2)")
        let viaState = try i.run("explain(m, d[0], \"expected_gradients\", fit: f, samples: 4, seed: 2)")
        // The same state either way, so the same maps: to float rounding (maps ~1e-2..1).
        #expect(try #require(viaData.asTensor).maxAbsDifference(try #require(viaState.asTensor)) < 1e-6)
        #expect(files().count == 1)
        // Explicit save and load.
        try i.run("save(f, \"\(dir)/eg.salfit\")")
        let loaded = try i.run("let g = load(\"\(dir)/eg.salfit\")\nexplain(m, d[0], \"expected_gradients\", fit: g, samples: 4, seed: 2)")
        #expect(try #require(loaded.asTensor).maxAbsDifference(try #require(viaState.asTensor)) < 1e-6)
    }

    @Test func errorsSayWhatToDo() {
        let reg = registry()
        let text = errorText("""
        let m = model("lenet5")
        explain(m, zeros([1, 1, 28, 28]), "expected_gradients")
        """, registry: reg)
        #expect(text.contains("method 'expected_gradients' learns from a dataset before it explains: pass fit: <dataset>"))
        #expect(text.contains("t.sal:2:1"))
        #expect(errorText("""
        let m = model("lenet5")
        fit(m, zeros([2, 1, 28, 28]), "expected_gradients")
        """, registry: reg).contains("'data' must be a dataset (dataset(...)), got a tensor"))
        #expect(errorText("""
        let m = model("lenet5")
        fit(m, dataset("test_squares"), "test_abs")
        """, registry: reg).contains("method 'test_abs' has no fit phase; it explains without learning from a dataset"))
        #expect(errorText("save(1, \"x.salfit\")", registry: reg).contains("cannot save a number as .salfit; it takes fitted states from fit(...)"))
    }

    @Test func compareFitsOncePerModelThroughTheCache() throws {
        let (i, dir) = interpreter()
        let v = try i.run("""
        let d = dataset("test_squares", count: 6)
        let a = model("lenet5", seed: 1)
        let b = model("lenet5", seed: 2)
        let c = compare([a, b], d, [{expected_gradients: {samples: 2, references: 3}}, "test_abs"], fit: d)
        c
        """)
        guard case let .comparison(c) = v else { Issue.record("not a comparison"); return }
        #expect(c.maps.entries.map(\.method) == ["expected_gradients", "test_abs", "expected_gradients", "test_abs"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/cache").count == 2)
        #expect(errorText("""
        let d = dataset("test_squares", count: 2)
        compare(model("lenet5"), d, ["expected_gradients"])
        """, registry: registry()).contains("learns from a dataset before it explains"))
    }
}

extension FitBuiltinTests {
    /// A pipeline's explain step takes `fit: <dataset binding>`; an unknown binding is a
    /// positioned validation error like any other reference.
    @Test func pipelinesFitOnABoundDataset() throws {
        let yaml = """
        name: fitting
        seed: 1
        steps:
          - load: {dataset: test_squares, limit: 3, as: data}
          - load: {dataset: test_squares, limit: 8, as: reference_data}
          - model: {path: m.onnx, as: m}
          - explain: {model: m, data: data, fit: reference_data, methods: [{expected_gradients: {samples: 2, references: 4}}], as: maps}
        """
        let (i, dir) = interpreter()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Architectures.lenet5Caffe(seed: 1).saveONNX(path: dir + "/m.onnx")
        var v = PipelineValidator(registry: i.registry)
        let p = try v.validate(source: yaml, file: dir + "/p.yaml")
        try PipelineRunner(pipeline: p, outputDirectory: dir + "/out", quiet: true).run(interpreter: i, log: { _ in })
        guard case let .comparison(c)? = i.globals.lookup("maps") else { Issue.record("no maps"); return }
        #expect(c.maps.entries.count == 1 && c.maps.entries[0].saliency.map.shape == [3, 1, 28, 28])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/cache").count == 1)

        var bad = PipelineValidator(registry: i.registry)
        let badYAML = yaml.replacingOccurrences(of: "fit: reference_data", with: "fit: refdata")
        do {
            _ = try bad.validate(source: badYAML, file: "p.yaml")
            Issue.record("validated")
        } catch let e as PipelineError {
            let text = e.render(source: badYAML)
            #expect(text.contains("p.yaml:7:42"), "\(text)")
            #expect(text.contains("refdata"), "\(text)")
        }
    }
}
