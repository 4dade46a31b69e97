import Foundation
import Testing

/// examples/surrogate-tables.yaml (the attentive surrogate's Tables 3-4, docs/surrogate.md)
/// validates against the real registry and plans what it documents, and the Table 2 script
/// (examples/surrogate/fidelity.sal) checks its models, data and arguments without fitting.
@Suite("Surrogate tables example", .serialized)
struct SurrogateExampleTests {
    @Test func tablesPipelineValidatesAndPlansTheComparison() throws {
        let out = try freshDirectory("surrogate-tables-dry")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/surrogate-tables.yaml", "--dry-run", "--out", out])
        #expect(r.code == 0, "stderr: \(r.err)")
        for binding in ["shapes_maps", "fmnist_maps"] {
            #expect(r.out.contains("explain: 4 method(s) x 1 model(s) x 50 image(s)  as \(binding)"), "\(r.out)")
        }
        #expect(r.out.contains("500 saliency maps, 2000 metric evaluations (per image)"), "\(r.out)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }
}
