import Foundation
import Testing

/// Sharded runs by hand (no scheduler): `run --fit-only`, `run --shard K/N`, `status`, `merge`.
@Suite("Sharded runs", .serialized)
struct ShardCLITests {
    let lenet = repositoryRoot + "/models/lenet-fmnist.onnx"

    /// Six images in batches of two (so three shards get one batch each), a method that is
    /// fitted and stochastic (expected gradients), a stochastic method without fit
    /// (SmoothGrad) and a stochastic metric (MoRF's random replacement colours).
    func pipeline(in dir: String) throws -> String {
        let path = dir + "/sharded.yaml"
        try """
        version: 1
        name: sharded
        seed: 5
        params:
          n: 6
        steps:
          - load: {dataset: fashion-mnist, split: test, limit: "${params.n}", as: data}
          - load: {dataset: fashion-mnist, split: train, limit: 20, as: train}
          - model: {path: \(lenet), as: lenet}
          - explain:
              model: lenet
              data: data
              fit: train
              batch: 2
              methods: [gradient, {expected_gradients: {references: 8, samples: 4}}, {smoothgrad: {samples: 3}}]
              as: maps
          - metric: {maps: maps, metrics: [{morf: {pixels_per_step: 98, iterations: 4}}, png_size], as: scores}
          - save: {value: scores, path: scores.csv}
          - save: {value: scores, path: scores.json}
          - save: {value: scores, path: montage.png}
          - save: {value: scores, path: report.html}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func environment(cache: String, _ extra: [String: String] = [:]) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(["SALIENCY_CACHE_DIR": cache].merging(extra) { $1 }) { $1 }
    }

    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// The outputs a merge must reproduce byte for byte. report.html is left out: it carries
    /// the measured ms per map and the environment (date, host) of the run that wrote it.
    static let exactOutputs = ["scores.csv", "scores-summary.csv", "scores.json", "montage.png"]

    @Test func shardsFailWithoutAFitThenMergeIntoTheBytesOfAnUnshardedRun() throws {
        let dir = try freshDirectory("shards")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try pipeline(in: dir)
        let whole = dir + "/whole", out = dir + "/sharded"
        let w = try runREPLBinary(["run", path, "--out", whole, "--quiet"], environment: environment(cache: dir + "/cache-whole"))
        #expect(w.code == 0, "stderr: \(w.err)")

        // Another fit cache, still empty: a shard refuses to fit on its own.
        let env = environment(cache: dir + "/cache")
        let unfitted = try runREPLBinary(["run", path, "--out", out, "--shard", "0/3", "--quiet"], environment: env)
        #expect(unfitted.code == 70)
        #expect(unfitted.err.contains("method 'expected_gradients' has no fitted state in the fit cache (\(dir)/cache/fit/"))
        #expect(unfitted.err.contains("a shard never fits; run `saliency-repl run PIPELINE --fit-only` first"))
        let early = try runREPLBinary(["status", out])
        #expect(early.code == 0)
        #expect(early.out.contains("  0-of-3  failed: \(path):"))
        #expect(early.out.hasSuffix("0 done, 0 running, 1 failed, 2 not started\n"))
        let refused = try runREPLBinary(["merge", out])
        #expect(refused.code == 66)
        #expect(refused.err.contains("merge: cannot merge \(out): 3 of 3 shard(s) not done; nothing was written"))
        #expect(refused.err.contains("  shard 0-of-3: failed: "))
        #expect(refused.err.contains("  shard 1-of-3: never started (no \(out)/shards/1-of-3/status.json)"))
        #expect(refused.err.contains("rerun it alone (in \(FileManager.default.currentDirectoryPath)): saliency-repl run \(path) --shard 0/3 --out \(out) --resume"))
        #expect(bytes(out + "/scores.csv") == nil)

        let fit = try runREPLBinary(["run", path, "--out", out, "--fit-only"], environment: env)
        #expect(fit.code == 0, "stderr: \(fit.err)")
        #expect(fit.err.contains("expected_gradients: fitted on fashion-mnist"))
        #expect(fit.out.contains("fit: done in "))
        // Shard 1 as a Slurm array task would run it.
        let runs = [(["--shard", "0/3", "--resume"], [String: String]()),
                    (["--shard", "auto"], ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3"]),
                    (["--shard", "2/3"], [:])]
        for (k, (args, extra)) in runs.enumerated() {
            let r = try runREPLBinary(["run", path, "--out", out, "--quiet"] + args, environment: environment(cache: dir + "/cache", extra))
            #expect(r.code == 0, "shard \(k): \(r.err)")
            #expect(r.out.contains("shard \(k)-of-3: done in "))
            #expect(FileManager.default.fileExists(atPath: "\(out)/shards/\(k)-of-3/.resume"))
        }
        // No shard wrote outputs; the merge writes them, identical to the unsharded run's.
        #expect(bytes(out + "/scores.csv") == nil)
        let merged = try runREPLBinary(["merge", out])
        #expect(merged.code == 0, "stderr: \(merged.err)")
        #expect(merged.out.contains("merged 3 shard(s) into \(out): 27 block(s) read"))
        for f in Self.exactOutputs { #expect(bytes(out + "/" + f) != nil && bytes(out + "/" + f) == bytes(whole + "/" + f), "\(f) differs") }
        #expect(bytes(out + "/report.html") != nil)
        let status = try runREPLBinary(["status", out])
        #expect(status.out.contains("  fit     done in "))
        #expect(status.out.contains("  merge   done in "))
        #expect(status.out.hasSuffix("3 done, 0 running, 0 failed, 0 not started\n"))

        // A damaged block is named with its shard; nothing is written; the shard reruns alone.
        for f in Self.exactOutputs + ["report.html"] { try FileManager.default.removeItem(atPath: out + "/" + f) }
        let store = out + "/shards/1-of-3/.resume"
        let block = try #require(try FileManager.default.contentsOfDirectory(atPath: store).sorted().first { $0.hasSuffix(".maps") })
        var data = try #require(bytes(store + "/" + block))
        data[data.count / 2] ^= 0xFF
        try data.write(to: URL(fileURLWithPath: store + "/" + block))
        let damaged = try runREPLBinary(["merge", out])
        #expect(damaged.code == 66)
        #expect(damaged.err.contains("shard 1-of-3 cannot be merged: the maps of "))
        #expect(damaged.err.contains("images 2..<4: its block is damaged: resume block \(store)/\(block) is unusable (checksum mismatch"))
        #expect(damaged.err.contains("nothing was written. Rerun the shard: saliency-repl run \(path) --shard 1/3 --out \(out) --resume"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["shards"])
        let rerun = try runREPLBinary(["run", path, "--out", out, "--shard", "1/3", "--resume", "--quiet"], environment: env)
        #expect(rerun.code == 0, "stderr: \(rerun.err)")
        #expect(rerun.out.contains("resumed: 6 block(s) reused, 3 computed"))
        #expect(try runREPLBinary(["merge", out]).code == 0)
        for f in Self.exactOutputs { #expect(bytes(out + "/" + f) == bytes(whole + "/" + f), "\(f) differs after the rerun") }
    }

    /// `submit --k8s` checks the pipeline, writes the three manifests and the script that
    /// applies them, and submits nothing.
    @Test func kubernetesSubmissionWritesManifestsOnly() throws {
        let dir = try freshDirectory("shards-k8s")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try pipeline(in: dir), out = dir + "/k8s-run"
        let r = try runREPLBinary(["submit", path, "--k8s", "--shards", "3", "--out", out, "--image", "reg/s:1", "--volume-claim", "lab",
                                   "--cache-dir", dir + "/cache", "--set", "params.n=9"])
        #expect(r.code == 0, "stderr: \(r.err)")
        #expect(r.out.contains("wrote \(out)/k8s/fit.yaml, shards.yaml (an Indexed Job of 3), merge.yaml; nothing was submitted."))
        #expect(r.out.contains("run them in order (each waits for the previous one): sh \(out)/k8s/run.sh"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out + "/k8s").sorted() == ["fit.yaml", "merge.yaml", "run.sh", "shards.yaml"])
        let shards = try String(contentsOfFile: out + "/k8s/shards.yaml", encoding: .utf8)
        #expect(shards.contains("  completionMode: Indexed\n  completions: 3\n"))
        #expect(shards.contains("\"--shard\", \"auto/3\", \"--resume\", \"--quiet\", \"--set\", \"params.n=9\"]"))
        #expect(shards.contains("{name: SALIENCY_CACHE_DIR, value: \"\(dir)/cache\"}"))
        // A wrong pipeline fails before anything is written; the target must be chosen.
        let wrong = try runREPLBinary(["submit", path, "--k8s", "--shards", "3", "--out", dir + "/never", "--set", "params.n=x"])
        #expect(wrong.code == 65 && !FileManager.default.fileExists(atPath: dir + "/never"))
        let neither = try runREPLBinary(["submit", path, "--shards", "3"])
        #expect(neither.code == 64 && neither.err.contains("say where: --slurm or --k8s"))
    }
}
