import Foundation
import Testing

/// The CHIP re-measurement pipelines (examples/chip-*.yaml, docs/chip.md) validate against
/// the real registry and plan what docs/chip.md reports; the test-set localisation pipeline
/// runs for real on 4 images with a 4-image fit and writes its table.
@Suite("CHIP examples", .serialized)
struct CHIPExampleTests {
    @Test(arguments: [
        ("chip-localization-validation.yaml", "8800 saliency maps, 17600 metric evaluations (per image)"),
        ("chip-localization.yaml", "7600 saliency maps, 7600 metric evaluations (per image)"),
        ("chip-an8flower-validation.yaml", "8000 saliency maps, 16000 metric evaluations (per image)"),
        ("chip-an8flower.yaml", "10400 saliency maps, 20800 metric evaluations (per image)"),
    ])
    func pipelineValidatesAndPlans(_ file: String, _ plan: String) throws {
        let out = try freshDirectory("chip-dry")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/" + file, "--dry-run", "--out", out])
        #expect(r.code == 0, "stderr: \(r.err)")
        #expect(r.out.hasSuffix(plan + "\n"), "\(r.out)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }

    /// The test-set pipeline as written on 4 images, fitted on 4 (the fit and the thresholds
    /// are what the file says; only the counts and LIME's samples shrink): one top-1 row per
    /// method and image on both models, one CHIP fit per model.
    @Test func localizationRunsOnFourImages() throws {
        let dir = try freshDirectory("chip-loc-run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/out"
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/chip-localization.yaml", "--set", "params.n=4", "--set", "params.fit_n=4",
                                   "--set", "params.lime_n=4", "--set", "params.lime_samples=20",
                                   "--out", out, "--quiet"], environment: ExamplePipeline.environment(cache: dir + "/cache"))
        #expect(r.code == 0, "stderr: \(r.err)")
        try ScoresCSV(path: out + "/resnet-shapes.csv").check(model: "resnet-shapes", methods: ["chip", "gradcam", "gradient", "cam", "c_mwp", "lime"],
                                                               metrics: ["box_localization": 0...1], images: 4, file: "resnet-shapes.csv")
        try ScoresCSV(path: out + "/vgg-shapes.csv").check(model: "vgg-shapes", methods: ["chip", "gradcam", "gradient", "c_mwp", "lime"],
                                                            metrics: ["box_localization": 0...1], images: 4, file: "vgg-shapes.csv")
        let fits = try FileManager.default.contentsOfDirectory(atPath: dir + "/cache/fit")
        #expect(fits.count == 2 && fits.allSatisfy { $0.hasPrefix("chip-") }, "\(fits)")
    }
}
