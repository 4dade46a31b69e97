import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// The real explainers plus the test squares dataset (28x28 gray, labels index % 10, classes c0...c9).
func squaresRegistry() -> Registry {
    let r = Registry()
    r.register(SquaresProvider())
    r.register(MeanMetric())
    r.register(NaNOnFirstMetric())
    return r
}

/// NaN for image 0, 1 for the others: a metric undefined on some images.
struct NaNOnFirstMetric: Metric {
    let name = "test_nan_first"
    let summary = "NaN on image 0 (test)"
    let reference = "test"
    let direction = MetricDirection.neither
    func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        MetricResult(values: (0..<ctx.images.shape[0]).map { $0 == 0 ? .nan : 1 })
    }
}

/// Runs python3 on `code`; returns what it printed on stdout and on stderr.
func python(_ code: String) throws -> (out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", code]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (o, e)
}

func temporaryDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("firsthour-\(getpid())-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite("Targets and labels")
struct TargetTests {
    let setup = "let d = dataset(\"test_squares\", count: 4)\nlet m = model(\"lenet5\")\n"

    @Test func oneTargetPerImageFromAListATensorOrTheLabels() {
        let r = run(setup + """
        print(explain(m, d, "gradient", target: [9, 2, 0, 1]).targets)
        print(explain(m, d, "gradient", target: tensor([3, 3, 1, 1])).targets)
        print(explain(m, d, "gradient", target: "label").targets)
        print(compare(m, d, ["gradient"], target: [5, 6, 7, 8], batch: 3).maps["gradient"].targets)
        print(compare(m, d, ["gradient"], target: "label").targets)
        """, registry: squaresRegistry())
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.lines == ["[9, 2, 0, 1]", "[3, 3, 1, 1]", "[0, 1, 2, 3]", "[5, 6, 7, 8]", "[0, 1, 2, 3]"])
    }

    @Test func aListOfTheWrongLengthOrNoLabelsSaySo() {
        let wrong = errorText(setup + "explain(m, d, \"gradient\", target: [1, 2])", registry: squaresRegistry())
        #expect(wrong.contains("there are 2 targets for 4 images; give one target per image"), "\(wrong)")
        let noLabels = errorText(setup + "explain(m, zeros([2, 1, 28, 28]), \"gradient\", target: \"label\")", registry: squaresRegistry())
        #expect(noLabels.contains("x has no labels"), "\(noLabels)")
        let nested = errorText(setup + "explain(m, d, \"gradient\", target: [[1], 2, 3, 4])", registry: squaresRegistry())
        #expect(nested.contains("got a list holding a list"), "\(nested)")
    }

    @Test func classNamesFromModelLabelsOrFromTheDataset() {
        let names = (0..<10).map { "\"k\($0)\"" }.joined(separator: ", ")
        let r = run(setup + """
        let g = explain(m, d, "gradient", target: "c3")
        print(g.targets, g.target_names)
        let named = model("lenet5", labels: [\(names)])
        print(named.labels[2], explain(named, d, "gradient", target: "k7").targets)
        """, registry: squaresRegistry())
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.lines == ["[3, 3, 3, 3] [\"c3\", \"c3\", \"c3\", \"c3\"]", "k2 [7, 7, 7, 7]"])
        let count = errorText(setup + "model(\"lenet5\", labels: [\"a\", \"b\"])", registry: squaresRegistry())
        #expect(count.contains("labels has 2 names, but the model has 10 classes"), "\(count)")
        // Without labels and without a dataset to borrow from, the error says both ways out.
        let none = errorText(setup + "explain(m, d[0], \"gradient\", target: \"c3\")", registry: squaresRegistry())
        #expect(none.contains("model(path, labels: [...])"), "\(none)")
    }

    @Test func aDatasetShowsItsLabelsAndImages() {
        let r = run(setup + """
        print(d.labels, d.label_names, d.images.shape, d.files)
        """, registry: squaresRegistry())
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.lines == ["[0, 1, 2, 3] [\"c0\", \"c1\", \"c2\", \"c3\"] [4, 1, 28, 28] none"])
    }
}

@Suite("Exports of maps")
struct MapExportTests {
    let setup = "let d = dataset(\"test_squares\", count: 3)\nlet m = model(\"lenet5\")\n"

    @Test func aComparisonHandsOutItsRawMaps() throws {
        let r = run(setup + """
        let c = compare(m, d, ["gradient", "gradcam"])
        print(c.methods, c.maps["gradcam"].shape, c.maps["gradcam"].method, c.images.shape)
        """, registry: squaresRegistry())
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.lines == ["[\"gradient\", \"gradcam\"] [3, 1, 28, 28] gradcam [3, 1, 28, 28]"])
        let e = errorText(setup + "compare(m, d, [\"gradient\"]).mapz", registry: squaresRegistry())
        #expect(e.contains("a comparison has no field 'mapz'; did you mean 'maps'? (it has: name, maps, methods"), "\(e)")
    }

    /// numpy reads both: the stacked .npy and the named .npz.
    @Test func mapsSaveAsNpyAndNpzThatNumpyReads() throws {
        let dir = try temporaryDirectory()
        let r = run(setup + """
        let c = compare(m, d, ["gradient", "gradcam"])
        save(c, "\(dir)/maps.npy")
        save(c, "\(dir)/maps.npz")
        save(c.maps["gradcam"], "\(dir)/gc.npy")
        """, registry: squaresRegistry())
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        let check = """
        import numpy as np
        a = np.load("\(dir)/maps.npy"); z = np.load("\(dir)/maps.npz"); g = np.load("\(dir)/gc.npy")
        assert a.shape == (2, 3, 1, 28, 28), a.shape
        assert sorted(z.files) == ["gradcam", "gradient"], z.files
        assert (z["gradcam"] == g).all() and (a[1] == g).all() and (a[0] == z["gradient"]).all()
        print("ok")
        """
        let (text, error) = try python(check)
        #expect(text == "ok\n", "\(text)\(error)")
    }

    @Test func overlaysOnePNGPerImage() throws {
        let dir = try temporaryDirectory()
        let r = run(setup + """
        let g = explain(m, d, "gradient")
        save(g, "\(dir)/gc.png", over: d, cmap: "viridis", alpha: 0.4, sign: "positive")
        save(g, "\(dir)/plain.png", over: d, alpha: 0)
        """, registry: squaresRegistry())
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        for k in 0..<3 { #expect(try readPNG(path: "\(dir)/gc-\(k).png").shape == [3, 28, 28]) }
        // alpha 0 draws the image alone: (1 - 0) * x + 0 * colour is x exactly, and the squares are 0 or 1.
        let plain = try readPNG(path: "\(dir)/plain-1.png").scalars
        let image = try SquaresDataset(count: 3).example(1).image.scalars
        #expect(Array(plain[0..<(28 * 28)]) == image)
        let bad = errorText(setup + "save(explain(m, d, \"gradient\"), \"\(dir)/x.png\", over: d, sign: \"both\")", registry: squaresRegistry())
        #expect(bad.contains("sign must be one of \"all\", \"positive\", \"negative\", \"absolute_value\""), "\(bad)")
        let noOver = errorText(setup + "save(explain(m, d, \"gradient\"), \"\(dir)/x.png\", alpha: 0.2)", registry: squaresRegistry())
        #expect(noOver.contains("alpha: styles overlays; give over:"), "\(noOver)")
    }
}

@Suite("Output size and warnings")
struct OutputSizeTests {
    @Test func aMapOfManyImagesPrintsAFewTargets() {
        let r = run("let d = dataset(\"test_squares\", count: 20)\nprint(explain(model(\"lenet5\"), d, \"gradient\", target: 1))", registry: squaresRegistry())
        #expect(r.error == nil)
        #expect(r.lines.count == 1 && r.lines[0].contains("target 1, 1, 1, 1, 1, 1, 1, 1, ... (20 in all) (c1, c1, c1, c1, c1, c1, c1, c1, ... (20 in all)), "), "\(r.lines)")
    }

    @Test func nanScoresWarnWithTheReason() {
        let r = run("""
        let d = dataset("test_squares", count: 3)
        let c = score(compare(model("lenet5"), d, ["gradient"]), ["test_nan_first"])
        """, registry: squaresRegistry())
        #expect(r.error == nil)
        #expect(r.lines == ["warning: test_nan_first of gradient: 1 of 3 values are NaN (the metric found its value undefined there (see help(\"test_nan_first\"))); the mean and CI are over the other 2"])
    }

    @Test func metricDirectionIsSaidOnce() throws {
        let text = PluginCatalog.describe(try Registry().metric("deletion"))
        #expect(text.components(separatedBy: "lower is better").count == 2, "\(text)")
    }
}

@Suite("Pipeline checks before compute")
struct PipelineChecksTests {
    func errors(_ yaml: String, overrides: [String: String] = [:]) -> String {
        var v = PipelineValidator(registry: testRegistry(), overrides: overrides)
        do { _ = try v.validate(source: yaml, file: "p.yaml"); return "ok" } catch let e as PipelineError { return e.render(source: yaml) } catch { return "unexpected \(error)" }
    }

    @Test func setOfAParameterThePipelineLacksIsAnError() {
        let yaml = "params: {n: 2}\nsteps:\n  - load: {dataset: an8flower, limit: \"${params.n}\", as: d}\n"
        #expect(errors(yaml, overrides: ["params.m": "2"]).contains("error: --set params.m: the pipeline has no parameter 'm'; did you mean 'n'?"))
        #expect(errors(yaml, overrides: ["n": "2"]).contains("error: --set n: only params.NAME can be set; did you mean 'params.n'?"))
        #expect(errors(yaml, overrides: ["params.n": "3"]) == "ok")
    }

    @Test func saveExtensionsAreCheckedFirst() {
        let yaml = "steps:\n  - load: {dataset: an8flower, as: d}\n  - save: {value: d, path: report.pdf}\n"
        #expect(errors(yaml).contains("p.yaml:3:28: error: cannot save to '.pdf' files; use .png, .npy, .npz, .csv, .json, .md, .onnx, .salfit, .html"), "\(errors(yaml))")
    }

    /// A wrong layer stops the run after the models load and before any map is computed.
    @Test func layerNamesAreCheckedBeforeAnyExplainRuns() throws {
        let model = repositoryRoot.appendingPathComponent("models/lenet-fmnist.onnx").path
        let yaml = """
        steps:
          - load: {dataset: test_squares, limit: 2, as: d}
          - model: {path: \(model), as: m}
          - explain: {model: m, data: d, methods: [gradient], as: first}
          - explain: {model: m, data: d, methods: [{gradcam: {layer: conv5}}], as: second}
        """
        let registry = squaresRegistry()
        var v = PipelineValidator(registry: registry)
        let p = try v.validate(source: yaml, file: "p.yaml")
        var log: [String] = []
        let runner = PipelineRunner(pipeline: p, outputDirectory: try temporaryDirectory(), quiet: true)
        do {
            try runner.run(interpreter: Interpreter(registry: registry), log: { log.append($0) })
            Issue.record("the run should fail")
        } catch let e as ScriptError {
            #expect(e.description.contains("p.yaml:5:62: error: method 'gradcam' on model 'm': unknown layer 'conv5'; did you mean 'conv1'?"), "\(e)")
        }
        #expect(log.count == 2 && !log.contains { $0.contains("explain") }, "\(log)")
    }
}

@Suite("Folder datasets")
struct FolderDatasetTests {
    /// 16x8 RGB, left 8 columns (200, 30, 30), right (20, 120, 220); quality 95, no chroma
    /// subsampling (made with Pillow, which decodes it to (200, 30, 30) and (21, 120, 221)).
    static let rgbJPEG = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/2wBDAQICAgICAgUDAwUKBwYHCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgr/wAARCAAIABADAREAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD5Dr8LP9VD1Sv9gD/nDP/Z"
    /// 8x8 gray 90, quality 95.
    static let grayJPEG = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/wAALCAAIAAgBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/APmev//Z"

    func write(_ base64: String, to path: String) throws {
        try Data(base64Encoded: base64)!.write(to: URL(fileURLWithPath: path))
    }

    @Test func jpegDecodesLikePillow() throws {
        let dir = try temporaryDirectory()
        try write(Self.rgbJPEG, to: "\(dir)/a.jpg")
        try write(Self.grayJPEG, to: "\(dir)/g.JPEG")
        let rgb = try readJPEG(path: "\(dir)/a.jpg"), gray = try readImage(path: "\(dir)/g.JPEG")
        #expect(rgb.shape == [3, 8, 16] && gray.shape == [1, 8, 8])
        // Pillow and we both decode with libjpeg-turbo's default (islow) IDCT; one level of
        // 8-bit rounding is allowed for a different build's colour conversion.
        let tolerance: Float = 1.5 / 255
        let s = rgb.scalars, plane = 8 * 16
        for (k, (left, right)) in [(200, 21), (30, 120), (30, 221)].enumerated() {
            #expect(Swift.abs(s[k * plane + 3 * 16 + 3] - Float(left) / 255) < tolerance)
            #expect(Swift.abs(s[k * plane + 5 * 16 + 12] - Float(right) / 255) < tolerance)
        }
        #expect(Swift.abs(gray.scalars[18] - 90 / 255) < tolerance)
        #expect(throws: IOError.self) { try readJPEG(path: "\(dir)/missing.jpg") }
        try Data([0xFF, 0xD8, 0xFF, 0x00]).write(to: URL(fileURLWithPath: "\(dir)/bad.jpg"))
        #expect(throws: IOError.self) { try readJPEG(path: "\(dir)/bad.jpg") }
    }

    @Test func aFlatFolderOfJPEGAndPNGNamesItsItems() throws {
        let dir = try temporaryDirectory()
        try write(Self.grayJPEG, to: "\(dir)/b.jpg")
        try writePNG(Tensor(shape: [1, 8, 8], repeating: 0.5), path: "\(dir)/a.png")
        try "not an image".write(toFile: "\(dir)/notes.txt", atomically: true, encoding: .utf8)
        let r = run("""
        let d = dataset("folder", path: "\(dir)", gray: true)
        print(len(d), d.files, d.classes, d[1].source, d[1].label)
        print(d.images.shape)
        """, registry: Registry())
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.lines == ["2 [\"a.png\", \"b.jpg\"] [] b.jpg none", "[2, 1, 8, 8]"])
        let e = errorText("explain(model(\"lenet5\"), dataset(\"folder\", path: \"\(dir)\", gray: true, size: 28), \"gradient\", target: \"label\")", registry: Registry())
        #expect(e.contains("x has no labels"), "\(e)")
    }

    @Test func classSubfoldersGiveLabelsAndNames() throws {
        let dir = try temporaryDirectory()
        for (k, c) in ["cat", "dog"].enumerated() {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(c)", withIntermediateDirectories: true)
            try write(Self.grayJPEG, to: "\(dir)/\(c)/\(k).jpg")
        }
        let r = run("""
        let d = dataset("folder", path: "\(dir)", size: 28, gray: true)
        print(d.files, d.labels, d.label_names)
        let g = explain(model("lenet5"), d, "gradient", target: "dog")
        print(g.targets, g.target_names)
        """, registry: Registry())
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.lines == ["[\"cat/0.jpg\", \"dog/1.jpg\"] [0, 1] [\"cat\", \"dog\"]", "[1, 1] [\"dog\", \"dog\"]"])
    }

    /// The hint names the fix for where the images came from.
    @Test func hintsFitTheMistake() throws {
        let dir = try temporaryDirectory()
        try write(Self.grayJPEG, to: "\(dir)/g.jpg")
        let wrongSize = errorText("explain(model(\"lenet5\"), dataset(\"folder\", path: \"\(dir)\", gray: true), \"gradient\")", registry: Registry())
        #expect(wrongSize.contains("the model expects images of shape [1, 28, 28], got [1, 8, 8]; dataset(..., size: 28) resizes"), "\(wrongSize)")
        let rgb = errorText("predict(model(\"resnet18\"), load(\"\(dir)/g.jpg\"))", registry: Registry())
        #expect(rgb.contains("a gray image on an RGB model: load(path, gray: false) gives 3 channels"), "\(rgb)")
    }
}

@Suite("REPL help for a first hour")
struct FirstHourSessionTests {
    func session() -> (Session, () -> [String]) {
        var lines: [String] = []
        let s = Session(registry: Registry(), display: { item in if case let .text(t) = item { lines.append(t) } })
        return (s, { lines })
    }

    @Test func completionKnowsTheMethodsParametersAndTheModelsLayers() {
        let (s, _) = session()
        _ = s.run("let m = model(\"lenet5\")")
        let line = "explain(m, zeros([1, 1, 28, 28]), \"integrated_gradients\", st"
        #expect(s.completions(line: line, cursor: line.count).candidates.first == "steps: ")
        let layer = "explain(m, x, \"gradcam\", layer: \"con"
        let c = s.completions(line: layer, cursor: layer.count)
        #expect(c.start == layer.count - 3 && c.candidates.contains("conv2") && c.candidates.allSatisfy { $0.hasPrefix("con") }, "\(c)")
    }

    @Test func timeRunsAWholeCellAndKeepsItsBinding() {
        let (s, lines) = session()
        guard case .value = s.run(":time let r = 6 * 7") else { Issue.record("the cell failed"); return }
        #expect(lines().last?.hasPrefix("time: ") == true && lines().last?.hasSuffix(" ms") == true, "\(lines())")
        guard case let .value(_, v?) = s.run("r") else { Issue.record("r is unbound"); return }
        #expect(v.summary == "42")
    }

    @Test func helpGoesThroughThePagerWhenThereIsOne() {
        let (s, lines) = session()
        var paged: [String] = []
        s.pager = { paged.append($0) }
        _ = s.run(":help")
        _ = s.run(":help gradcam")
        #expect(paged.count == 2 && lines().isEmpty)
        #expect(paged[0].hasPrefix("commands:") && paged[1].contains("recorded in the map's params"), "\(paged)")
        #expect(!paged[1].contains("defaultConvBlockLayer"))
    }

    @Test func theDefaultLayerIsRecordedInTheMapsParams() {
        let (s, _) = session()
        guard case let .value(_, v?) = s.run("explain(model(\"lenet5\"), zeros([1, 1, 28, 28]), \"gradcam\").params") else { Issue.record("failed"); return }
        #expect(v.summary == "{layer: \"conv2\"}", "\(v.summary)")
    }
}

@Suite("CSV for numpy and pandas")
struct ScoresCSVTests {
    @Test func missingCellsAreEmptyAndNumbersKeepFullPrecision() {
        let t = Table(columns: ["a", "b"], rows: [[.number(0.1 + 0.2), .none], [.number(3), .string("x,y")]])
        #expect(t.csv == "a,b\n0.30000000000000004,\n3,\"x,y\"\n")
    }

    /// An AUC's t-interval past 1 (or below 0) is clipped to the metric's range.
    @Test func boundedMetricsClipTheirIntervals() {
        let rows = [0.99, 0.2, 1.0].enumerated().map { ComparisonScores.Row(image: $0.offset, model: "m", method: "a", metric: "insertion", value: $0.element) }
        let scores = ComparisonScores(rows: rows, curves: [:], seconds: [:], bounds: ["insertion": 0...1])
        let summary = Table(aggregatesOf: scores)
        #expect(summary.columns == ["model", "method", "metric", "n", "mean", "std", "ci95_low", "ci95_high"])
        guard case let .number(low) = summary.rows[0][6], case let .number(high) = summary.rows[0][7] else { Issue.record("no CI"); return }
        // The unclipped interval is about -0.40...1.86 (t with 2 degrees of freedom); the clip is exact.
        #expect(low == 0 && high == 1)
        let unbounded = Table(aggregatesOf: ComparisonScores(rows: rows, curves: [:], seconds: [:]))
        if case let .number(h) = unbounded.rows[0][7] { #expect(h > 1) } else { Issue.record("no CI") }
    }

    @Test func aScoredComparisonSavesPerImageAndSummaryFilesNumpyReads() throws {
        let dir = try temporaryDirectory()
        let r = run("""
        let c = score(compare(model("lenet5"), dataset("test_squares", count: 3), ["gradient", "gradcam"]), ["deletion", "test_mean"])
        save(c, "\(dir)/scores.csv")
        """, registry: squaresRegistry())
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        let check = """
        import numpy as np
        d = np.genfromtxt("\(dir)/scores.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
        s = np.genfromtxt("\(dir)/scores-summary.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
        assert d.dtype.names == ("image", "model", "method", "metric", "value") and len(d) == 12, d.dtype
        assert d.dtype["image"].kind == "i" and d.dtype["value"].kind == "f", d.dtype
        assert len(s) == 4 and (s["n"] == 3).all(), s
        dl = s[s["metric"] == "deletion"]
        assert ((dl["ci95_low"] >= 0) & (dl["ci95_high"] <= 1)).all(), dl
        print("ok")
        """
        let (text, error) = try python(check)
        #expect(text == "ok\n", "\(error)")
    }
}
