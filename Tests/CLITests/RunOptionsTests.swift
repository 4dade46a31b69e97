import Foundation
import Testing

/// `run --plugin` and `$SALIENCY_CACHE_DIR`, end to end through the binary.
@Suite("run: plugins and the fit cache", .serialized)
struct RunOptionsTests {
    let lenet = repositoryRoot + "/models/lenet-fmnist.onnx"

    /// A `.sal` plugin given on the command line registers a method the pipeline uses; its
    /// map is what the script computes: 3 x the gradient, so its raw mean intensity is 3 x
    /// the built-in gradient's. Without the option the same pipeline does not validate.
    @Test func runLoadsAScriptPluginGivenOnTheCommandLine() throws {
        let dir = try freshDirectory("run-plugin")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        fn tripled_gradient(model, x, target, params) {
          fn score(v) { return pick(logits(model, v), target) }
          return grad(score, x) * 3
        }
        register_method("tripled_gradient", tripled_gradient, summary: "3 x the input gradient", reference: "test",
          returns: "attribution", capabilities: ["gradients", "batched"])
        """.write(toFile: dir + "/tripled.sal", atomically: true, encoding: .utf8)
        let path = dir + "/p.yaml"
        try """
        seed: 2
        steps:
          - load: {dataset: fashion-mnist, split: test, limit: 2, as: data}
          - model: {path: \(lenet), as: lenet}
          - explain: {model: lenet, data: data, methods: [gradient, tripled_gradient], as: maps}
          - metric: {maps: maps, metrics: [{mean_intensity: {normalize: none}}], as: scores}
          - save: {value: scores, path: scores.csv}
        """.write(toFile: path, atomically: true, encoding: .utf8)

        let without = try runREPLBinary(["run", path, "--out", dir + "/none", "--quiet"])
        #expect(without.code == 65)
        #expect(without.err.contains("unknown method 'tripled_gradient'"), "stderr: \(without.err)")

        let r = try runREPLBinary(["run", "--plugin", dir + "/tripled.sal", path, "--out", dir + "/out", "--quiet"])
        #expect(r.code == 0, "stderr: \(r.err)")
        let csv = try ScoresCSV(path: dir + "/out/scores.csv")
        csv.check(model: "lenet-fmnist", methods: ["gradient", "tripled_gradient"], metrics: ["mean_intensity": 0...1e6], images: 2,
                  file: "scores.csv")
        func value(_ method: String, _ image: String) throws -> Double {
            let row = try #require(csv.rows.first { $0[2] == method && $0[0] == image })
            return try #require(Double(row[4]))
        }
        for image in ["0", "1"] {
            let g = try value("gradient", image), t = try value("tripled_gradient", image)
            // The CSV keeps full precision; the plugin's tripling is in float32.
            #expect(g > 0 && abs(t - 3 * g) <= 1e-5 * t, "image \(image): \(t) vs 3 x \(g)")
        }
    }

    /// A fit goes to `$SALIENCY_CACHE_DIR/fit`; a second run (another output directory, so
    /// nothing is resumed) reuses it and writes the same scores.
    @Test func fitsAreCachedInTheDirectoryTheEnvironmentNames() throws {
        let dir = try freshDirectory("run-cache")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/p.yaml"
        try """
        seed: 4
        steps:
          - load: {dataset: fashion-mnist, split: test, limit: 2, as: data}
          - load: {dataset: fashion-mnist, split: train, limit: 8, as: train}
          - model: {path: \(lenet), as: lenet}
          - explain: {model: lenet, data: data, fit: train, methods: [{expected_gradients: {samples: 4, references: 4}}], as: maps}
          - metric: {maps: maps, metrics: [deletion], as: scores}
          - save: {value: scores, path: scores.csv}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let cache = dir + "/cache"
        // HOME and XDG_CACHE_HOME point elsewhere: the variable must win over both.
        var env = ExamplePipeline.environment(cache: cache)
        env["HOME"] = dir + "/home"
        env["XDG_CACHE_HOME"] = dir + "/xdg"

        let first = try runREPLBinary(["run", path, "--out", dir + "/a"], environment: env)
        #expect(first.code == 0, "stderr: \(first.err)")
        let fits = try FileManager.default.contentsOfDirectory(atPath: cache + "/fit")
        try #require(fits.count == 1, "cache holds \(fits)")
        let file = cache + "/fit/" + fits[0]
        #expect(fits[0].hasPrefix("expected_gradients-") && fits[0].hasSuffix(".salfit"))
        // The fit's log line (not printed with --quiet) goes to stderr.
        #expect(first.err.contains("expected_gradients: fitted on ") && first.err.contains(", cached in \(file)\n"), "stderr: \(first.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/home") && !FileManager.default.fileExists(atPath: dir + "/xdg"))

        let second = try runREPLBinary(["run", path, "--out", dir + "/b"], environment: env)
        #expect(second.code == 0, "stderr: \(second.err)")
        #expect(second.err.contains("expected_gradients: fitted state reused from \(file)"), "stderr: \(second.err)")
        #expect(!second.err.contains("fitted on "))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache + "/fit") == fits)
        let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/a/scores.csv")), b = try Data(contentsOf: URL(fileURLWithPath: dir + "/b/scores.csv"))
        #expect(a == b, "the cached fit gave other scores")
    }
}
