import Foundation
import Testing

/// examples/noise-mask-tables.yaml (the Noise Mask thesis' Tables 1-3 on the shipped models)
/// validates against the real registry and plans the comparison it documents: four models,
/// nine methods (Noise Mask's three outputs), 16 images each, five metrics, with nothing run or written by a dry run; run
/// for real on 2 images it writes the four tables. examples/noise-mask-layers.yaml too.
@Suite("Noise Mask tables example", .serialized)
struct NoiseMaskExampleTests {
    @Test func tablesPipelineValidatesAndPlansTheComparison() throws {
        let out = try freshDirectory("nm-tables-dry")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/noise-mask-tables.yaml", "--dry-run", "--out", out])
        #expect(r.code == 0, "stderr: \(r.err)")
        for binding in ["lenet_maps", "vgg6_maps", "vgg12_maps", "resnet_maps"] {
            #expect(r.out.contains("explain: 9 method(s) x 1 model(s) x 16 image(s)  as \(binding)"))
        }
        for model in ["lenet-fmnist", "vgg-an8flower-single6c", "vgg-an8flower-double12c", "resnet-shapes"] {
            #expect(r.out.contains("model ../models/\(model).onnx"))
        }
        #expect(r.out.contains("576 saliency maps, 2880 metric evaluations (per image)"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }

    /// A parameter override reaches the plan (the README's quick rerun uses --set params.n=...).
    @Test func imageCountIsAParameter() throws {
        let out = try freshDirectory("nm-tables-dry3")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/noise-mask-tables.yaml", "--dry-run", "--set", "params.n=3", "--out", out])
        #expect(r.code == 0, "stderr: \(r.err)")
        #expect(r.out.contains("108 saliency maps, 540 metric evaluations (per image)"))
    }

    static let tableMethods = ["gradient", "integrated_gradients", "guided_backprop", "occlusion", "deeplift", "epsilon_lrp", "noise_mask", "nm_kept", "nm_composite"]

    /// The tables for real on 2 images with 5 Noise Mask iterations (--set, as the README's
    /// quick rerun does), the ABPC curves 10x coarser than written (the one change to the
    /// file: its 90-point curves are most of a debug build's time). Every table has each
    /// method x metric for both images and their mean, with finite values in range.
    @Test func tablesPipelineWritesEveryTableOnTwoImages() throws {
        let dir = try freshDirectory("nm-tables-run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try ExamplePipeline.reducedCopy(of: "noise-mask-tables.yaml", in: dir, replacing: [
            ("{abpc: {pixels_per_step: 8, iterations: 88}}", "{abpc: {pixels_per_step: 80, iterations: 8}}", count: 1),
            ("{abpc: {pixels_per_step: 40, iterations: 92}}", "{abpc: {pixels_per_step: 400, iterations: 9}}", count: 3),
        ])
        let out = dir + "/out"
        let r = try runREPLBinary(["run", path, "--set", "params.n=2", "--set", "params.nm_iterations=5", "--out", out, "--quiet"],
                                  environment: ExamplePipeline.environment(cache: dir + "/cache"))
        #expect(r.code == 0, "stderr: \(r.err)")
        // png_size: bytes of a 28x28 or 64x64 8-bit PNG; ssim in [-1, 1]; abpc in logit units.
        let metrics: [String: ClosedRange<Double>] = ["png_size": 50...20_000, "ssim": -1...1, "png_x_input": 50...20_000, "ssim_x_input": -1...1,
                                                       "abpc": -1e4...1e4]
        for model in ["lenet-fmnist", "vgg-an8flower-single6c", "vgg-an8flower-double12c", "resnet-shapes"] {
            try ScoresCSV(path: "\(out)/\(model).csv").check(model: model, methods: Self.tableMethods, metrics: metrics, images: 2,
                                                          file: "\(model).csv")
        }
        for file in ["montage-lenet-fmnist.png", "montage-resnet-shapes.png", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(file)"), "\(file) was not written")
        }
    }

    /// examples/noise-mask-layers.yaml as written, on 2 images with 5 iterations: one map per
    /// layer, scored, and the per-iteration loss curves of every layer in the report.
    @Test func layersPipelineRunsOnTwoImages() throws {
        let out = try freshDirectory("nm-layers-run")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/noise-mask-layers.yaml", "--set", "params.n=2", "--set", "params.iterations=5",
                                   "--out", out, "--quiet"])
        #expect(r.code == 0, "stderr: \(r.err)")
        let labels = ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2"].map { "nm-" + $0 }
        try ScoresCSV(path: out + "/scores.csv").check(model: "lenet-fmnist", methods: labels,
                                                       metrics: ["png_size": 50...20_000, "ssim": -1...1, "mean_intensity": 0...1],
                                                       images: 2, file: "scores.csv")
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        // Two figures (the thesis' Figures 10-11), each with one curve per layer.
        #expect(html.contains("preservation per iteration") && html.contains("loss_term per iteration"))
        #expect(html.components(separatedBy: "<polyline").count - 1 == 2 * labels.count)
        for label in labels { #expect(html.components(separatedBy: ">\(label)</text>").count - 1 == 2, "\(label) is not in both legends") }
        #expect(FileManager.default.fileExists(atPath: out + "/montage.png"))
    }

    /// examples/noise-mask-convergence.yaml on 2 images with 5 iterations: the mask of every
    /// model scored with and without the input, and the report carries Noise Mask's final
    /// mean(M) ("preservation") and the share of undecided pixels the README quotes.
    @Test func convergencePipelineRunsOnTwoImages() throws {
        let out = try freshDirectory("nm-convergence-run")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/noise-mask-convergence.yaml", "--set", "params.n=2",
                                   "--set", "params.iterations=5", "--out", out, "--quiet"])
        #expect(r.code == 0, "stderr: \(r.err)")
        let metrics: [String: ClosedRange<Double>] = ["png_size": 50...20_000, "ssim": -1...1, "png_x_input": 50...20_000, "ssim_x_input": -1...1]
        for model in ["lenet-fmnist", "vgg-an8flower-single6c", "vgg-an8flower-double12c", "resnet-shapes"] {
            try ScoresCSV(path: out + "/scores.csv").only(model: model).check(model: model, methods: ["noise_mask"], metrics: metrics, images: 2,
                                                                               file: "scores.csv")
        }
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(html.contains("undecided") && html.contains("preservation"))
    }
}

