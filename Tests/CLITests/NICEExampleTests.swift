import Foundation
import Testing

/// examples/nice/*.sal (the NICE re-measurement behind docs/nice.md) run end to end on a
/// handful of images with one epoch, so a script that no longer parses or calls a builtin
/// wrongly fails here rather than on the next full run. The fits go to a fresh cache folder.
@Suite("NICE example scripts", .serialized)
struct NICEExampleTests {
    func run(_ script: String, _ sets: [String]) throws -> (code: Int32, out: String, err: String, dir: String) {
        let dir = try freshDirectory("nice-\(script)")
        var env = ProcessInfo.processInfo.environment
        env["SALIENCY_CACHE_DIR"] = dir + "/cache"
        let args = ["exec", repositoryRoot + "/examples/nice/\(script).sal", "--set", "out=\(dir)"] + sets.flatMap { ["--set", $0] }
        let r = try runREPLBinary(args, environment: env)
        return (r.code, r.out, r.err, dir)
    }

    @Test func sparsitySweepWritesItsTable() throws {
        let r = try run("fmnist-sparsity", ["train=12", "test=6", "epochs=1"])
        defer { try? FileManager.default.removeItem(atPath: r.dir) }
        #expect(r.code == 0, "stderr: \(r.err)")
        #expect(r.out.contains("lambda_1   density  acc_nice  acc_gradient  acc_occlusion"))
        #expect(FileManager.default.fileExists(atPath: r.dir + "/fmnist-sparsity.csv"))
    }

    @Test func compressionSweepCoversEveryMaskAndBlock() throws {
        let r = try run("compression", ["train=8", "test=4", "epochs=1", "occlusion_window=32"])
        defer { try? FileManager.default.removeItem(atPath: r.dir) }
        #expect(r.code == 0, "stderr: \(r.err)")
        let csv = try String(contentsOfFile: r.dir + "/compression.csv", encoding: .utf8)
        // A header and 5 masks x 7 block sizes.
        #expect(csv.split(separator: "\n").count == 1 + 5 * 7)
        // b = 1 is the original image: ratio 1 for every mask (structural: same bytes).
        for mask in ["nice fixed", "nice finetuned", "uniform", "gradcam", "occlusion"] { #expect(csv.contains("\n\(mask),1,1,")) }
    }

    @Test func objectsAndSanityScriptsRun() throws {
        let objects = try run("objects", ["train=8", "test=4", "epochs=1"])
        defer { try? FileManager.default.removeItem(atPath: objects.dir) }
        #expect(objects.code == 0, "stderr: \(objects.err)")
        #expect(objects.out.contains("an8flower single-6c  nice"))
        let sanity = try run("sanity", ["train=8", "test=2", "epochs=1"])
        defer { try? FileManager.default.removeItem(atPath: sanity.dir) }
        #expect(sanity.code == 0, "stderr: \(sanity.err)")
        #expect(FileManager.default.fileExists(atPath: sanity.dir + "/sanity.csv"))
    }
}
