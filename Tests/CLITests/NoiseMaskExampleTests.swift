import Foundation
import Testing

/// examples/noise-mask-tables.yaml (the Noise Mask thesis' Tables 1-3 on the shipped models)
/// validates against the real registry and plans the comparison it documents: four models,
/// five methods, 50 images each, three metrics, with nothing run or written by a dry run.
@Suite("Noise Mask tables example")
struct NoiseMaskExampleTests {
    @Test func tablesPipelineValidatesAndPlansTheComparison() throws {
        let out = try freshDirectory("nm-tables-dry")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/noise-mask-tables.yaml", "--dry-run", "--out", out])
        #expect(r.code == 0, "stderr: \(r.err)")
        for binding in ["lenet_maps", "vgg6_maps", "vgg12_maps", "resnet_maps"] {
            #expect(r.out.contains("explain: 5 method(s) x 1 model(s) x 50 image(s)  as \(binding)"))
        }
        for model in ["lenet-fmnist", "vgg-an8flower-single6c", "vgg-an8flower-double12c", "resnet-shapes"] {
            #expect(r.out.contains("model ../models/\(model).onnx"))
        }
        #expect(r.out.contains("1000 saliency maps, 3000 metric evaluations (per image)"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }

    /// A parameter override reaches the plan (the README's quick rerun uses --set params.n=...).
    @Test func imageCountIsAParameter() throws {
        let out = try freshDirectory("nm-tables-dry3")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/noise-mask-tables.yaml", "--dry-run", "--set", "params.n=3", "--out", out])
        #expect(r.code == 0, "stderr: \(r.err)")
        #expect(r.out.contains("60 saliency maps, 180 metric evaluations (per image)"))
    }
}
