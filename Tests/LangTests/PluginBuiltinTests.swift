import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// explain / metric / dataset / show / save through test plugins in a fresh registry.
struct PluginBuiltinTests {
    @Test func explainOnADatasetImage() throws {
        let i = Interpreter(registry: langTestRegistry())
        let v = try i.run("""
        let d = dataset("test_squares", limit: 3)
        let m = model("lenet5")
        let s = explain(m, d[2], "test_abs", target: 3, seed: 4)
        s
        """)
        guard case let .saliency(s) = v else { Issue.record("not a map: \(v.summary)"); return }
        #expect(s.map.map.shape == [1, 1, 28, 28])
        #expect(s.map.targets == [3])
        #expect(s.map.params["power"] == .float(1))
        // The map is |x|: 1 on the 4x4 square at (2, 2), 0 elsewhere.
        #expect(s.map.map.scalars.reduce(0, +) == 16)
        #expect(s.map.map.scalars[2 * 28 + 2] == 1)
        #expect(try i.run("s.method").summary == "\"test_abs\"")
        #expect(try i.run("d[2].label_name").summary == "\"c2\"")
        #expect(try i.run("len(d)").summary == "3")
    }

    /// target: "second" explains each image's second most probable class.
    @Test func explainTheSecondClass() throws {
        let i = Interpreter(registry: langTestRegistry())
        let v = try i.run("""
        let d = dataset("test_squares", limit: 2)
        let m = model("lenet5")
        explain(m, d, "test_abs", target: "second")
        """)
        guard case let .saliency(s) = v else { Issue.record("not a map: \(v.summary)"); return }
        let g = try #require(i.globals.lookup("m").flatMap { if case let .model(m) = $0 { return m.graph } else { return nil } })
        let images = try #require(i.globals.lookup("d").flatMap { if case let .dataset(d) = $0 { return try? d.dataset.batch([0, 1]).images } else { return nil } })
        #expect(s.map.targets == (try resolveTargets(.ranked(2), model: g, images: images)))
        #expect(s.map.targets != (try resolveTargets(.predicted, model: g, images: images)))
    }

    @Test func aListOfMethodsGivesARecordAndMetricsATable() throws {
        let i = Interpreter(registry: langTestRegistry())
        let maps = try i.run("""
        let d = dataset("test_squares", limit: 2)
        let m = model("lenet5")
        let maps = explain(m, d, ["test_abs"], power: 2)
        maps
        """)
        guard case let .record(r) = maps else { Issue.record("not a record: \(maps.summary)"); return }
        #expect(r.keys == ["test_abs"])
        // Per image: the square covers 16 of 784 pixels.
        #expect(try i.run("metric(\"test_mean\", m, d, maps.test_abs)").summary == "[\(formatNumber(16.0 / 784)), \(formatNumber(16.0 / 784))]")
        #expect(try i.run("metric([\"test_mean\", \"test_inside\"], m, d[0], explain(m, d[0], \"test_abs\"))").summary
                == "{test_mean: \(formatNumber(16.0 / 784)), test_inside: 1}")
        let t = try i.run("metric([\"test_inside\"], m, d, maps)")
        guard case let .table(tab) = t else { Issue.record("not a table"); return }
        #expect(tab.columns == ["method", "test_inside"])
        #expect(tab.rows.count == 1)
        #expect(tab.rows[0][1].summary == "1")
    }

    @Test func metricsNeedingGroundTruthSayWhatIsMissing() {
        let text = errorText("let m = model(\"lenet5\")\nlet x = zeros([1, 1, 28, 28])\nmetric(\"test_inside\", m, x, explain(m, x, \"test_abs\"))")
        #expect(text.hasPrefix("t.sal:3:1: error: metric: metric 'test_inside' needs ground-truth masks or boxes; this data has none"))
    }

    @Test func datasetParametersAndSplitsAreChecked() {
        #expect(errorText("dataset(\"test_squares\", count: 99)").contains("dataset: parameter 'count' of 'test_squares' is 99, outside 1...20"))
        #expect(errorText("dataset(\"test_squares\", split: \"train\")").contains("test_squares has only a test split"))
        #expect(errorText("dataset(\"test_square\")").contains("unknown dataset 'test_square'; did you mean 'test_squares'?"))
    }

    @Test func cancellationStopsAPluginAndTheSessionGoesOn() throws {
        let token = CancellationToken()
        let i = Interpreter(registry: langTestRegistry(), cancellation: token)
        DispatchQueue.global().async { SlowExplainer.started.wait(); token.cancel() }
        let r = run("let m = model(\"lenet5\")\nexplain(m, zeros([1, 1, 28, 28]), \"test_slow\")", interpreter: i)
        #expect(r.error?.description.contains("error: explain: cancelled") == true)
        token.reset()
        #expect(try i.run("1 + 1").summary == "2")
    }

    @Test func cancellationStopsScriptLoops() {
        let token = CancellationToken()
        let i = Interpreter(registry: langTestRegistry(), cancellation: token)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { token.cancel() }
        let r = run("let n = 0\nfor k in 0..<1000000000 { n = n + 1 }", interpreter: i)
        #expect(r.error?.description.contains("error: cancelled") == true)
    }

    @Test func showAndSaveByExtension() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lang-save-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let i = Interpreter(registry: langTestRegistry())
        i.baseDirectory = dir.path
        let r = run("""
        let d = dataset("test_squares", limit: 2)
        let m = model("lenet5")
        let s = explain(m, d[1], "test_abs")
        show(s)
        show(d[0])
        save(s, "map.png")
        save(s, "map.npy")
        save(table([{a: 1}]), "t.csv")
        save(m, "m.onnx")
        save(s, "r.html")
        let back = load("map.npy")
        print(shape(back), sum(back))
        let img = load("map.png", size: 14)
        print(img)
        print(model("m.onnx"))
        """, interpreter: i)
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(Array(r.lines.dropFirst(2)) == ["[1, 1, 28, 28] 16", "image[1, 3, 14, 14] from map.png", "model lenet5-caffe (8 nodes, input [1, 1, 28, 28])"])
        #expect(r.lines[0].hasPrefix("[image [3, 28, 28] test_abs target "))
        #expect(r.lines[1] == "[image [1, 28, 28] test_squares/test[0]]")
        #expect(try String(contentsOf: dir.appendingPathComponent("t.csv"), encoding: .utf8) == "a\n1\n")
        let html = try String(contentsOf: dir.appendingPathComponent("r.html"), encoding: .utf8)
        #expect(html.contains("data:image/png;base64,iVBOR"))
    }
}
