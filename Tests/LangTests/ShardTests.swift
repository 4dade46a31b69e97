import Foundation
import Testing
@testable import Lang

/// The pieces of a sharded run that need no process: which images a shard takes, how
/// `--shard` reads Slurm's and Kubernetes' environment, the cluster job files, the status report.
@Suite("Shards")
struct ShardTests {
    @Test func sharesAreWholeContiguousBatchesCoveringEveryImageOnce() throws {
        for (n, batch, count) in [(8, 2, 4), (50, 16, 4), (50, 16, 3), (4, 16, 4), (0, 16, 2), (33, 1, 5), (17, 4, 1)] {
            let ranges = try (0..<count).map { try ShardSpec(index: $0, count: count).range(images: n, batchSize: batch) }
            // In order, contiguous, together exactly 0..<n.
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == n, "\(n) \(batch) \(count)")
            for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
            // Every share with images starts on a batch boundary, and shares differ by at most one batch.
            #expect(ranges.allSatisfy { $0.isEmpty || $0.lowerBound % batch == 0 })
            let batches = ranges.map { ($0.count + batch - 1) / batch }
            #expect((batches.max() ?? 0) - (batches.min() ?? 0) <= 1)
            for i in 0..<n {
                let owner = ShardSpec.owner(ofImage: i, images: n, batchSize: batch, count: count)
                #expect(owner.map { ranges[$0.index].contains(i) } == true)
            }
        }
        // 4 images in one batch of 16: the first shard has them all, the others none.
        #expect(try ShardSpec(index: 0, count: 4).range(images: 4, batchSize: 16) == 0..<4)
        #expect(try ShardSpec(index: 3, count: 4).range(images: 4, batchSize: 16).isEmpty)
    }

    @Test func shardArgumentsReadSlurmAndKubernetesEnvironments() throws {
        #expect(try ShardSpec.parse("2/4", environment: [:]) == ShardSpec(index: 2, count: 4))
        let slurm = ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"]
        #expect(try ShardSpec.parse("auto", environment: slurm) == ShardSpec(index: 3, count: 4))
        // An array numbered 1-4 (no COUNT from older Slurm): the index counts from MIN.
        let oneBased = ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"]
        #expect(try ShardSpec.parse("auto", environment: oneBased) == ShardSpec(index: 0, count: 4))
        // auto/N takes the task id as is: a rerun of task 2 alone (count 1) is still shard 2 of 4.
        #expect(try ShardSpec.parse("auto/4", environment: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "1"]) == ShardSpec(index: 2, count: 4))
        #expect(try ShardSpec.parse("auto/4", environment: ["JOB_COMPLETION_INDEX": "1"]) == ShardSpec(index: 1, count: 4))

        func message(_ text: String, _ env: [String: String]) -> String {
            do { _ = try ShardSpec.parse(text, environment: env); return "no error" } catch { return "\(error)" }
        }
        #expect(message("auto", ["JOB_COMPLETION_INDEX": "1"]).contains("pass it: --shard auto/N"))
        #expect(message("auto", [:]).contains("not in a Slurm array task"))
        #expect(message("auto/4", [:]).contains("neither SLURM_ARRAY_TASK_ID"))
        #expect(message("4/4", [:]) == "shard 4 does not exist: shards are numbered 0 to 3 for 4 shards")
        #expect(message("1/0", [:]).contains("at least 1"))
        #expect(message("x/4", [:]).contains("'x' is not a number"))
        #expect(message("1-4", [:]).contains("--shard takes K/N"))
    }

    func jobs() -> ClusterJobs {
        ClusterJobs(name: "Quick run!", pipeline: "examples/quick.yaml", output: "out/q", directory: "/work/it's here", shards: 4,
                    overrides: ["params.n=8"], plugins: ["p.so"], cacheDirectory: "/shared/cache")
    }

    @Test func slurmScriptsChainTheFitTheShardsAndTheMerge() {
        let o = ClusterJobs.SlurmOptions(binary: "/opt/bin/saliency-repl", logs: "/work/out/q/slurm/logs", partition: "cpu",
                                         time: "1:00:00", extra: ["--mem=2G"])
        let shards = jobs().slurmScript(.shards, o)
        let lines = shards.split(separator: "\n").map(String.init)
        #expect(lines.first == "#!/bin/bash")
        for directive in ["--job-name=sal-quick-run-shards", "--chdir=/work/it's here", "--output=/work/out/q/slurm/logs/shard-%A_%a.out",
                          "--array=0-3", "--partition=cpu", "--time=1:00:00", "--mem=2G"] {
            #expect(lines.contains("#SBATCH " + directive), "\(directive)")
        }
        #expect(lines.contains("export SALIENCY_CACHE_DIR=/shared/cache"))
        #expect(lines.last == "exec /opt/bin/saliency-repl run examples/quick.yaml --out out/q --shard auto/4 --resume --quiet --set params.n=8 --plugin p.so")
        #expect(jobs().slurmScript(.fit, o).contains("\nexec /opt/bin/saliency-repl run examples/quick.yaml --out out/q --fit-only --set params.n=8 --plugin p.so\n"))
        #expect(jobs().slurmScript(.merge, o).hasSuffix("\nexec /opt/bin/saliency-repl merge out/q --shards 4\n"))
        #expect(!jobs().slurmScript(.merge, o).contains("--array"))
        #expect(ClusterJobs.shellQuoted("it's") == "'it'\\''s'")
    }

    @Test func kubernetesManifestsAreAnIndexedJobAndTwoPlainJobs() throws {
        let text = jobs().kubernetesManifest(.shards, image: "reg/saliency:1", claim: "lab")
        guard let root = try YAMLValue.parse(text, file: "shards.yaml") else { Issue.record("empty:\n\(text)"); return }
        func scalar(_ v: YAMLValue?) -> String? { if case let .scalar(s, _, _)? = v { return s }; return nil }
        #expect(scalar(root["kind"]) == "Job" && scalar(root["apiVersion"]) == "batch/v1")
        #expect(scalar(root["metadata"]?["name"]) == "sal-quick-run-shards")
        let spec = root["spec"]
        #expect(scalar(spec?["completionMode"]) == "Indexed")
        #expect(scalar(spec?["completions"]) == "4" && scalar(spec?["parallelism"]) == "4")
        let pod = spec?["template"]?["spec"]
        #expect(scalar(pod?["restartPolicy"]) == "Never")
        guard case let .list(containers, _)? = pod?["containers"], let c = containers.first else { Issue.record("no container"); return }
        #expect(scalar(c["image"]) == "reg/saliency:1" && scalar(c["workingDir"]) == "/work/it's here")
        guard case let .list(command, _)? = c["command"] else { Issue.record("no command"); return }
        #expect(command.compactMap(scalar) == ["saliency-repl", "run", "examples/quick.yaml", "--out", "out/q", "--shard", "auto/4", "--resume",
                                                "--quiet", "--set", "params.n=8", "--plugin", "p.so"])
        guard case let .list(volumes, _)? = pod?["volumes"] else { Issue.record("no volumes"); return }
        #expect(scalar(volumes.first?["persistentVolumeClaim"]?["claimName"]) == "lab")
        let fit = try YAMLValue.parse(jobs().kubernetesManifest(.fit, image: "i", claim: "c"), file: "fit.yaml")
        #expect(scalar(fit?["spec"]?["completionMode"]) == nil && scalar(fit?["metadata"]?["name"]) == "sal-quick-run-fit")
        let script = jobs().kubernetesScript(manifests: "out/q/k8s")
        #expect(script.contains("kubectl apply -f out/q/k8s/fit.yaml\nkubectl wait --for=condition=complete --timeout=168h job/sal-quick-run-fit\n"))
    }

    @Test func statusReportCountsDoneRunningFailedAndMissingShards() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shard-status-\(getpid())-\(UUID().uuidString.prefix(6))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = ShardLayout(output: dir)
        let record = ShardRunRecord(pipeline: "p.yaml", directory: "/w", text: "steps: []", overrides: [], plugins: [])
        var done = ShardStatus(job: "0-of-4", run: record)
        done.finish(error: nil, seconds: 2.5, computed: 16, reused: 0)
        try done.write(to: layout.statusPath(ShardSpec(index: 0, count: 4)))
        var failed = ShardStatus(job: "1-of-4", run: record)
        failed.finish(error: "p.yaml:3:5: error: boom\n  more", seconds: 1)
        try failed.write(to: layout.statusPath(ShardSpec(index: 1, count: 4)))
        try ShardStatus(job: "2-of-4", run: record).write(to: layout.statusPath(ShardSpec(index: 2, count: 4)))
        #expect(layout.counts() == [4])
        #expect(try layout.count(given: nil) == 4)
        let report = try ShardReport(layout: layout, count: 4)
        let text = report.rendered()
        #expect(text.contains("  0-of-4  done in 2.5 s (") && text.contains(" s CPU), 16 block(s) computed"))
        #expect(text.contains("  1-of-4  failed: p.yaml:3:5: error: boom\n"))
        #expect(text.contains("  2-of-4  running on "))
        #expect(text.contains("  3-of-4  not started"))
        #expect(text.hasSuffix("1 done, 1 running, 1 failed, 1 not started"))
        #expect(report.unfinished.map(\.spec.index) == [1, 2, 3])
        // A damaged status file is reported for its shard, not trusted.
        try "{".write(toFile: layout.statusPath(ShardSpec(index: 0, count: 4)), atomically: true, encoding: .utf8)
        #expect(try ShardReport(layout: layout, count: 4).unfinished.first?.why.contains("is damaged") == true)
    }
}
