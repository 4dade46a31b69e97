import Foundation
import Testing

/// The repository root (Tests/CLITests/ is two levels below it).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

func freshDirectory(_ name: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite("Pipelines end to end", .serialized)
struct PipelineCLITests {
    let quick = repositoryRoot + "/examples/quick.yaml"

    @Test func quickPipelineWritesItsReportAndRerunsByteForByte() throws {
        let a = try freshDirectory("quick-a"), b = try freshDirectory("quick-b")
        defer { try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b) }
        let r1 = try runREPLBinary(["run", quick, "--out", a, "--quiet"])
        #expect(r1.code == 0, "stderr: \(r1.err)")
        // The summary table closes the run: one row per method with its metric means.
        #expect(r1.out.contains("maps: mean of each metric over 4 image(s), ms per map"))
        for method in ["gradient", "gradcam", "integrated_gradients", "occlusion"] { #expect(r1.out.contains("lenet-fmnist  \(method)")) }
        let csv = try String(contentsOfFile: a + "/scores.csv", encoding: .utf8)
        let lines = csv.split(separator: "\n")
        #expect(lines.first == "image,model,method,metric,value")
        // 4 images x 4 methods x 3 metrics; the 4 x 3 aggregates are in scores-summary.csv.
        #expect(lines.count == 1 + 48)
        let summary = try String(contentsOfFile: a + "/scores-summary.csv", encoding: .utf8).split(separator: "\n")
        #expect(summary.first == "model,method,metric,n,mean,std,ci95_low,ci95_high" && summary.count == 1 + 12)
        let html = try String(contentsOfFile: a + "/report.html", encoding: .utf8)
        #expect(html.contains("<h2>Pipeline</h2>") && html.contains("data:image/png;base64,") && html.contains("<polyline"))
        #expect(html.contains("name: quick"))
        #expect(FileManager.default.fileExists(atPath: a + "/montage.png"))
        // Same seed, same results.
        let r2 = try runREPLBinary(["run", quick, "--out", b, "--quiet"])
        #expect(r2.code == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a + "/scores.csv")) == Data(contentsOf: URL(fileURLWithPath: b + "/scores.csv")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: a + "/montage.png")) == Data(contentsOf: URL(fileURLWithPath: b + "/montage.png")))
        // No temporary files are left behind (.resume holds the finished blocks for --resume).
        #expect(try FileManager.default.contentsOfDirectory(atPath: a).sorted() == [".resume", "maps.npz", "montage.png", "report.html", "scores-summary.csv", "scores.csv"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: a + "/.resume").allSatisfy { $0.hasSuffix(".maps") || $0.hasSuffix(".scores") })
    }

    @Test func dryRunPrintsThePlanAndRunsNothing() throws {
        let out = try freshDirectory("dry")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runREPLBinary(["run", quick, "--dry-run", "--set", "params.n=10", "--out", out])
        #expect(r.code == 0)
        #expect(r.out.contains("[3] explain: 4 method(s) x 1 model(s) x 10 image(s)  as maps"))
        #expect(r.out.contains("40 saliency maps, 120 metric evaluations (per image)"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }

    @Test func validationErrorsStopBeforeAnythingRuns() throws {
        let dir = try freshDirectory("bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.yaml"
        try """
        steps:
          - model: {path: m.onnx, as: m}
          - explain: {model: m, data: m, methods: [gradcm]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try runREPLBinary(["run", path, "--out", dir + "/out"])
        #expect(r.code == 65)
        #expect(r.err == """
        \(path):3:44: error: unknown method 'gradcm'; did you mean 'gradcam'?
          at steps[1].explain.methods[0]
              - explain: {model: m, data: m, methods: [gradcm]}
                                                       ^
        1 error in pipeline

        """)
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }

    @Test func runtimeErrorsPointIntoThePipeline() throws {
        let dir = try freshDirectory("rt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/missing.yaml"
        try "steps:\n  - model: {path: nowhere.onnx, as: m}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let r = try runREPLBinary(["run", path, "--out", dir + "/out", "--quiet"])
        #expect(r.code == 70)
        #expect(r.err.hasPrefix("\(path):2:5: error: model: "))
        #expect(r.err.contains("no such file: \(dir)/nowhere.onnx"))
    }
}
