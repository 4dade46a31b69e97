import Foundation
import Testing

/// examples/demo.yaml, the README's `make demo`: the plan as written, and its every step run
/// for real on two images per dataset with cheaper settings (the full demo takes ~5 minutes
/// of a debug build's time with only --set params.n=2).
@Suite("Demo pipeline", .serialized)
struct DemoPipelineTests {
    static let methods = ["gradient", "input_x_gradient", "deconvnet", "guided_backprop", "activation", "gradcam", "guided_gradcam",
                          "integrated_gradients", "expected_gradients", "smoothgrad", "vargrad", "occlusion", "rise", "noise_mask"]

    @Test func demoValidatesAndPlansEveryMethodOnBothModels() throws {
        let out = try freshDirectory("demo-dry")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/demo.yaml", "--dry-run", "--out", out])
        #expect(r.code == 0, "stderr: \(r.err)")
        #expect(r.out.hasPrefix("pipeline demo (\(repositoryRoot)/examples/demo.yaml), seed 0, 15 steps:\n"))
        for binding in ["fmnist_maps", "flower_maps"] {
            #expect(r.out.contains("explain: 14 method(s) x 1 model(s) x 16 image(s)  as \(binding)"))
        }
        #expect(r.out.contains("load dataset fashion-mnist (200 examples)  as fmnist_train"))
        #expect(r.out.contains("load dataset an8flower (200 examples)  as flowers_train"))
        #expect(r.out.contains("metric: 3 metric(s) on 14 method/model pair(s) x 16 image(s)  as flower_scores"))
        for file in ["fmnist.csv", "an8flower.csv", "montage-an8flower.png", "montage-fmnist.png", "report.html"] {
            #expect(r.out.contains("save -> \(out)/\(file)"))
        }
        #expect(r.out.hasSuffix("448 saliency maps, 1120 metric evaluations (per image)\n"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }

    /// The demo's steps as written (both datasets and models, all 14 methods with the fit on
    /// training images, the three metrics, all five outputs), on 2 images per dataset with
    /// fewer samples, masks, iterations and curve steps. Every substitution is counted, so a
    /// change to the demo that the reduction no longer covers fails here.
    @Test func demoRunsEveryStepOnTwoImagesPerDataset() throws {
        let dir = try freshDirectory("demo-run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try ExamplePipeline.reducedCopy(of: "demo.yaml", in: dir, replacing: [
            ("limit: 200", "limit: 8", count: 2),
            ("- integrated_gradients\n", "- integrated_gradients: {steps: 4}\n", count: 2),
            ("- expected_gradients\n", "- expected_gradients: {samples: 4, references: 4}\n", count: 2),
            ("smoothgrad: {samples: 16}", "smoothgrad: {samples: 2}", count: 2),
            ("vargrad: {samples: 16}", "vargrad: {samples: 2}", count: 2),
            ("- occlusion\n", "- occlusion: {window: 16}\n", count: 2),
            ("rise: {masks: 1000}", "rise: {masks: 8}", count: 2),
            ("noise_mask: {max_iterations: 300}", "noise_mask: {max_iterations: 2}", count: 2),
            ("metrics: [deletion, insertion", "metrics: [{deletion: {step: 1024}}, {insertion: {step: 1024}}", count: 2),
        ])
        let out = dir + "/out"
        let r = try runREPLBinary(["run", path, "--set", "params.n=2", "--out", out, "--quiet"],
                                  environment: ExamplePipeline.environment(cache: dir + "/cache"))
        #expect(r.code == 0, "stderr: \(r.err)")
        for m in Self.methods {
            #expect(r.out.contains("lenet-fmnist  \(m)"), "no summary row for \(m) on Fashion-MNIST")
            #expect(r.out.contains("vgg-an8flower-single6c  \(m)"), "no summary row for \(m) on an8flower")
        }
        let unit: ClosedRange<Double> = 0...1
        try ScoresCSV(path: out + "/fmnist.csv").check(model: "lenet-fmnist", methods: Self.methods,
                                                      metrics: ["deletion": unit, "insertion": unit], images: 2, file: "fmnist.csv")
        try ScoresCSV(path: out + "/an8flower.csv").check(model: "vgg-an8flower-single6c", methods: Self.methods,
                                                         metrics: ["deletion": unit, "insertion": unit, "iou": unit], images: 2, file: "an8flower.csv")
        for png in ["montage-an8flower.png", "montage-fmnist.png"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: out + "/" + png))
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) && bytes.count > 1000, "\(png): \(bytes.count) bytes")
        }
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(html.contains("fmnist_scores") && html.contains("flower_scores") && html.contains("<polyline"))
        for m in Self.methods { #expect(html.contains(m)) }
        // The fit went to the cache directory given, once per dataset.
        let fits = try FileManager.default.contentsOfDirectory(atPath: dir + "/cache/fit")
        #expect(fits.count == 2 && fits.allSatisfy { $0.hasPrefix("expected_gradients-") && $0.hasSuffix(".salfit") })
    }
}
