import Foundation
import Testing

/// `run --resume`: a rerun after a failed or interrupted run reuses the finished blocks and
/// writes the same bytes an uninterrupted run writes.
@Suite("Pipelines resume", .serialized)
struct PipelineResumeTests {
    let lenet = repositoryRoot + "/models/lenet-fmnist.onnx"

    /// A pipeline on the shipped LeNet; `extra` steps are appended.
    func pipeline(in dir: String, methods: String, metrics: String = "[deletion, png_size]", n: Int = 3, steps: Int = 8, extra: String = "") throws -> String {
        let path = dir + "/p.yaml"
        try """
        version: 1
        name: resume
        seed: 3
        params:
          n: \(n)
          steps: \(steps)
        steps:
          - load: {dataset: fashion-mnist, split: test, limit: "${params.n}", as: data}
          - model: {path: \(lenet), as: lenet}
          - explain: {model: lenet, data: data, methods: \(methods), as: maps}
          - metric: {maps: maps, metrics: \(metrics), as: scores}
          - save: {value: scores, path: scores.csv}
          - save: {value: scores, path: montage.png}
        \(extra)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
    func blocks(_ out: String, _ ext: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: out + "/.resume").filter { $0.hasSuffix("." + ext) }.sorted()
    }

    @Test func failedLaterStepThenResumeReusesBlocksAndWritesTheSameBytes() throws {
        let dir = try freshDirectory("resume-fail")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The second model's file is missing: the run fails at step 7, after the comparison.
        let path = try pipeline(in: dir, methods: "[gradient, {integrated_gradients: {steps: \"${params.steps}\"}}, {occlusion: {window: 4}}]", extra: """
          - model: {path: second.onnx, as: second}
          - explain: {model: second, data: data, methods: [{gradcam: {layer: conv2}}], as: more}
          - save: {value: more, path: more.png}
        """)
        let out = dir + "/out", clean = dir + "/clean"
        let failed = try runREPLBinary(["run", path, "--out", out, "--quiet"])
        #expect(failed.code == 70)
        #expect(failed.err.contains("no such file: \(dir)/second.onnx"))
        #expect(failed.err.contains("9 finished block(s) are kept in \(out)/.resume; rerun with --resume to skip them"))
        #expect(try blocks(out, "maps").count == 3 && blocks(out, "scores").count == 6)
        // Fix the cause, rerun with --resume: the comparison and its scores are reused.
        try FileManager.default.copyItem(atPath: lenet, toPath: dir + "/second.onnx")
        let resumed = try runREPLBinary(["run", path, "--out", out, "--resume"])
        #expect(resumed.code == 0, "stderr: \(resumed.err)")
        #expect(resumed.out.contains("[3/9] explain maps: comparison maps: 3 method(s) x 1 model(s) x 3 image(s); 3 reused, 0 computed"))
        #expect(resumed.out.contains("[4/9] metric scores: comparison maps: 3 method(s) x 1 model(s) x 3 image(s), 2 metric(s) scored; 6 reused, 0 computed"))
        #expect(resumed.out.contains("[8/9] explain more: comparison more: 1 method(s) x 1 model(s) x 3 image(s); 0 reused, 1 computed"))
        #expect(resumed.out.hasSuffix("\nresumed: 9 block(s) reused, 1 computed (\(out)/.resume)\n"))
        #expect(resumed.err.isEmpty)
        // An uninterrupted run writes the same bytes, and its maps blocks have the same keys
        // (keys do not depend on the output directory or on timing).
        let full = try runREPLBinary(["run", path, "--out", clean, "--quiet"])
        #expect(full.code == 0, "stderr: \(full.err)")
        #expect(!full.out.contains("resumed:"))
        for f in ["scores.csv", "montage.png", "more.png"] { #expect(try bytes(out + "/" + f) == bytes(clean + "/" + f), "\(f) differs") }
        #expect(try blocks(out, "maps") == blocks(clean, "maps"))
    }

    /// Ctrl-C (SIGINT) and SIGTERM stop a run at a step boundary. The signal is sent once the
    /// first block is on disk (synchronised on the file, not on time); how many blocks a
    /// faster or slower build finishes before it lands varies, so the test counts the blocks
    /// kept and checks that the message and the resumed run agree with that count.
    @Test(arguments: [SIGINT, SIGTERM])
    func interruptedRunResumesFromTheBlocksFinishedBeforeTheSignal(_ signal: Int32) throws {
        let dir = try freshDirectory("resume-signal-\(signal)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Gradient finishes in milliseconds; integrated gradients with 1200 steps takes seconds,
        // so the signal lands after the first block and (almost always) inside the second.
        let path = try pipeline(in: dir, methods: "[gradient, {integrated_gradients: {steps: \"${params.steps}\"}}]", metrics: "[deletion]",
                                n: 2, steps: 1200)
        let out = dir + "/out", clean = dir + "/clean"
        let p = Process()
        p.executableURL = productsDirectory.appendingPathComponent("saliency-repl")
        p.arguments = ["run", path, "--out", out, "--quiet"]
        let stderr = Pipe()
        p.standardError = stderr
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning && Date() < deadline && ((try? blocks(out, "maps")) ?? []).isEmpty { usleep(10_000) }
        try #require(p.isRunning, "the run ended before the first block appeared")
        // What Ctrl-C sends (Foundation's Process.interrupt() is not reliably SIGINT on Linux).
        kill(p.processIdentifier, signal)
        let err = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130, "stderr: \(err)")
        #expect(err.contains("interrupted: stopped at a step boundary"))
        // The pipeline has 4 blocks: 2 maps (one per method), 2 scores. Only complete blocks
        // exist (no temporary files), at least the one seen, and not all: the run was stopped.
        let kept = try FileManager.default.contentsOfDirectory(atPath: out + "/.resume").sorted()
        let maps = try blocks(out, "maps"), scores = try blocks(out, "scores")
        #expect(kept == (maps + scores).sorted())
        #expect(maps.count >= 1 && kept.count < 4, "kept \(kept)")
        #expect(err.contains("\(kept.count) finished block(s) are kept in \(out)/.resume; rerun with --resume to skip them"))
        let resumed = try runREPLBinary(["run", path, "--out", out, "--resume"])
        #expect(resumed.code == 0, "stderr: \(resumed.err)")
        #expect(resumed.out.contains("2 image(s); \(maps.count) reused, \(2 - maps.count) computed"))
        #expect(resumed.out.hasSuffix("\nresumed: \(kept.count) block(s) reused, \(4 - kept.count) computed (\(out)/.resume)\n"))
        let full = try runREPLBinary(["run", path, "--out", clean, "--quiet"])
        #expect(full.code == 0)
        for f in ["scores.csv", "montage.png"] { #expect(try bytes(out + "/" + f) == bytes(clean + "/" + f), "\(f) differs") }
    }

    @Test func changedParameterRecomputesOnlyItsMethodAndDamagedBlocksAreRecomputed() throws {
        let dir = try freshDirectory("resume-set")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try pipeline(in: dir, methods: "[gradient, {integrated_gradients: {steps: \"${params.steps}\"}}, {gradcam: {layer: conv2}}]",
                                metrics: "[deletion]")
        let out = dir + "/out"
        #expect(try runREPLBinary(["run", path, "--out", out, "--quiet"]).code == 0)
        let r = try runREPLBinary(["run", path, "--out", out, "--resume", "--set", "params.steps=9"])
        #expect(r.code == 0, "stderr: \(r.err)")
        #expect(r.out.contains("image(s); 2 reused, 1 computed"))
        #expect(r.out.contains("1 metric(s) scored; 2 reused, 1 computed"))
        // The dry run tells which blocks of a configuration are complete, and writes nothing.
        let stored = try FileManager.default.contentsOfDirectory(atPath: out + "/.resume").sorted()
        #expect(stored.count == 8)
        let dry = try runREPLBinary(["run", path, "--out", out, "--resume", "--dry-run", "--set", "params.steps=9"])
        #expect(dry.out.hasSuffix("\nresume: 6 of 6 block(s) complete in \(out)/.resume, 0 to compute\n"))
        let dry10 = try runREPLBinary(["run", path, "--out", out, "--resume", "--dry-run", "--set", "params.steps=10"])
        #expect(dry10.out.hasSuffix("\nresume: 4 of 6 block(s) complete in \(out)/.resume, 2 to compute\n"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out + "/.resume").sorted() == stored)
        // Damage every maps block: each is recomputed with a warning, the outputs are unchanged.
        let before = try bytes(out + "/scores.csv")
        for f in try blocks(out, "maps") {
            let p = out + "/.resume/" + f
            let b = try bytes(p)
            try b.prefix(b.count - 1).write(to: URL(fileURLWithPath: p))
        }
        let again = try runREPLBinary(["run", path, "--out", out, "--resume", "--set", "params.steps=9", "--quiet"])
        #expect(again.code == 0)
        #expect(again.err.components(separatedBy: "is unusable (checksum mismatch (damaged or truncated)); recomputing it").count == 1 + 3)
        #expect(again.out.contains("resumed: 0 block(s) reused, 6 computed"))
        #expect(try bytes(out + "/scores.csv") == before)
    }

    @Test func helpDocumentsResume() throws {
        let r = try runREPLBinary(["run", "--help"])
        #expect(r.out.contains("--resume"))
        #expect(r.out.contains("OUT/.resume"))
    }
}
