import Foundation
import Testing

/// `submit --slurm` on a real Slurm: a private single-node cluster (scripts/slurm-local:
/// munged, slurmctld and slurmd from Debian's packages, everything in a temporary folder) is
/// started for each test and stopped after it, also when the test fails. Needs root and the
/// slurm-wlm and munge packages (scripts/bootstrap installs them); without them the tests fail.
@Suite("Sharded runs on Slurm", .serialized)
struct SlurmClusterTests {
    let quick = repositoryRoot + "/examples/quick.yaml"
    /// Four images in batches of one: each of 4 shards explains one batch (small enough for a
    /// debug build; the default batch of 16 would give all four images to shard 0).
    let sets = ["--set", "params.n=4", "--set", "params.batch=1"]

    /// The outputs of examples/quick.yaml compared byte for byte. report.html is not: it
    /// carries the measured ms per map and the environment (date, host) of the run.
    static let exactOutputs = ["scores.csv", "montage.png"]

    /// Runs `body` with a started cluster and an environment that reaches it (SLURM_CONF).
    func withCluster(_ name: String, _ body: (_ dir: String, _ env: [String: String]) throws -> Void) throws {
        let dir = try freshDirectory(name)
        let script = repositoryRoot + "/scripts/slurm-local", cluster = dir + "/cluster"
        defer {
            _ = try? tool([script, "stop", cluster])
            try? FileManager.default.removeItem(atPath: dir)
        }
        let up = try tool([script, "start", cluster])
        try #require(up.code == 0, "the private Slurm cluster did not start: \(up.out)\(up.err)")
        let env = ProcessInfo.processInfo.environment.merging(["SLURM_CONF": cluster + "/slurm.conf", "SALIENCY_CACHE_DIR": dir + "/cache"]) { $1 }
        try body(dir, env)
    }

    /// A command on PATH (or a path); exit code and output.
    func tool(_ args: [String], env: [String: String]? = nil) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        if let env { p.environment = env }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// saliency-repl in the background, its output in `log`.out/.err (read while it runs).
    func launch(_ args: [String], env: [String: String], log: String) throws -> Process {
        let p = Process()
        p.executableURL = productsDirectory.appendingPathComponent("saliency-repl")
        p.arguments = args
        p.environment = env
        for ext in ["out", "err"] { _ = FileManager.default.createFile(atPath: "\(log).\(ext)", contents: nil) }
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log + ".out"))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log + ".err"))
        try p.run()
        return p
    }

    /// Waits for `p`; stops it and returns false after `seconds` (a hung scheduler must not hang the suite).
    func finish(_ p: Process, within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning { p.terminate(); p.waitUntilExit(); return false }
        return true
    }

    func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    func localRun(_ dir: String, env: [String: String]) throws -> String {
        let local = dir + "/local"
        let r = try runREPLBinary(["run", quick, "--out", local, "--quiet"] + sets, environment: env)
        try #require(r.code == 0, "local run: \(r.err)")
        return local
    }

    @Test func fourShardArrayMergesIntoTheBytesOfALocalRun() throws {
        try withCluster("slurm-ok") { dir, env in
            let local = try localRun(dir, env: env)
            let out = dir + "/sharded"
            let p = try launch(["submit", quick, "--slurm", "--shards", "4", "--wait", "--out", out] + sets, env: env, log: dir + "/submit")
            #expect(finish(p, within: 240), "submit --wait did not end in 240 s")
            let stdout = text(dir + "/submit.out"), stderr = text(dir + "/submit.err")
            #expect(p.terminationStatus == 0, "stdout: \(stdout)\nstderr: \(stderr)")
            #expect(stdout.contains("submitted to Slurm (scripts in \(out)/slurm):"))
            #expect(stdout.contains("merged: \(out) (done in "))
            let array = try #require(stdout.firstMatch(of: /array job (\d+), tasks 0-3/)).1
            for k in 0..<4 {
                // Every shard explained its own batch: 4 maps blocks and 4 x 3 scores blocks.
                let status = text("\(out)/shards/\(k)-of-4/status.json")
                #expect(status.contains("\"state\" : \"done\"") && status.contains("\"computed\" : 16"), "shard \(k): \(status)")
                #expect(FileManager.default.fileExists(atPath: "\(out)/slurm/logs/shard-\(array)_\(k).out"))
            }
            for f in Self.exactOutputs { #expect(bytes(out + "/" + f) != nil && bytes(out + "/" + f) == bytes(local + "/" + f), "\(f) differs") }
            #expect(bytes(out + "/report.html") != nil)
        }
    }

    @Test func aKilledTaskStopsTheMergeUntilItReruns() throws {
        try withCluster("slurm-kill") { dir, env in
            let local = try localRun(dir, env: env)
            let out = dir + "/sharded"
            let p = try launch(["submit", quick, "--slurm", "--shards", "4", "--wait", "--out", out] + sets, env: env, log: dir + "/submit")
            // Cancel task 2 as soon as the ids are printed (it still waits for the fit job then).
            var array: Substring?
            let deadline = Date().addingTimeInterval(60)
            while array == nil && p.isRunning && Date() < deadline {
                array = text(dir + "/submit.out").firstMatch(of: /array job (\d+)/)?.1
                usleep(20_000)
            }
            let id = try #require(array, "no array job id in: \(text(dir + "/submit.out"))\(text(dir + "/submit.err"))")
            #expect(try tool(["scancel", "\(id)_2"], env: env).code == 0)
            #expect(finish(p, within: 240), "submit --wait did not end in 240 s")
            let stderr = text(dir + "/submit.err")
            #expect(p.terminationStatus == 1, "stderr: \(stderr)")
            #expect(text(dir + "/submit.out").contains("can never start (a job they wait for failed): cancelled"))
            #expect(stderr.contains("submit: the run did not complete; logs in \(out)/slurm/logs"))
            #expect(stderr.contains("rerun shard 2-of-4 alone: sbatch --array=2 \(out)/slurm/shards.sbatch"))

            let refused = try runREPLBinary(["merge", out])
            #expect(refused.code == 66)
            #expect(refused.err.contains("1 of 4 shard(s) not done; nothing was written"))
            #expect(refused.err.contains("  shard 2-of-4: "))
            for f in Self.exactOutputs + ["report.html"] { #expect(!FileManager.default.fileExists(atPath: out + "/" + f)) }
            #expect(try runREPLBinary(["status", out]).out.contains("3 done, "))

            // The task reruns alone, from the script submit wrote; then the merge succeeds.
            let rerun = try tool(["sbatch", "--wait", "--array=2", out + "/slurm/shards.sbatch"], env: env)
            #expect(rerun.code == 0, "\(rerun.out)\(rerun.err)")
            let merged = try runREPLBinary(["merge", out])
            #expect(merged.code == 0, "stderr: \(merged.err)")
            for f in Self.exactOutputs { #expect(bytes(out + "/" + f) != nil && bytes(out + "/" + f) == bytes(local + "/" + f), "\(f) differs") }
        }
    }
}
