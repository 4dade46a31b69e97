import CReadline
import Foundation
import Lang

/// `submit --slurm`: writes the three batch scripts, submits them with afterok dependencies,
/// and with `--wait` follows them until the merge has run (squeue, then the status files).
struct SlurmSubmission {
    let jobs: ClusterJobs
    let options: ClusterJobs.SlurmOptions
    var folder: String { (jobs.output as NSString).appendingPathComponent("slurm") }
    func script(_ job: ClusterJobs.Job) -> String { (folder as NSString).appendingPathComponent("\(job.rawValue).sbatch") }

    struct JobIDs { let fit: String, shards: String, merge: String }

    func submit() throws -> JobIDs {
        try FileManager.default.createDirectory(atPath: options.logs, withIntermediateDirectories: true)
        for job in ClusterJobs.Job.allCases {
            try jobs.slurmScript(job, options).write(toFile: script(job), atomically: true, encoding: .utf8)
        }
        let fit = try sbatch(script(.fit), after: nil)
        let shards = try sbatch(script(.shards), after: fit)
        let merge = try sbatch(script(.merge), after: shards)
        let logs = options.logs
        print("""
        submitted to Slurm (scripts in \(folder)):
          fit job \(fit): \(jobs.arguments(.fit).joined(separator: " ")); log \(logs)/fit-\(fit).out
          array job \(shards), tasks 0-\(jobs.shards - 1): one shard each, after job \(fit); logs \(logs)/shard-\(shards)_K.out
          merge job \(merge): after every task of job \(shards); log \(logs)/merge-\(merge).out
        progress: saliency-repl status \(jobs.output)
        rerun a failed shard K: sbatch --array=K \(script(.shards)), then sbatch \(script(.merge))
        """)
        fflush(sal_stdout())
        return JobIDs(fit: fit, shards: shards, merge: merge)
    }

    /// Submits a script, after job `after` succeeded; the job id.
    func sbatch(_ path: String, after: String?) throws -> String {
        let r = try runTool(["sbatch", "--parsable"] + (after.map { ["--dependency=afterok:\($0)"] } ?? []) + [path])
        let id = r.out.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        guard r.code == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw ShardError("sbatch \(path) failed (exit \(r.code)): \((r.err + r.out).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return id
    }

    /// Follows the jobs until none is queued. A job whose dependency failed would stay
    /// pending forever (DependencyNeverSatisfied): it is cancelled. The result comes from the
    /// status files: 0 when the merge is done, else 1 with the state of every shard.
    func wait(for ids: JobIDs) -> Int32 {
        print("waiting for merge job \(ids.merge) ...")
        fflush(sal_stdout())
        var cancelled: [String] = []
        while true {
            let r: (code: Int32, out: String, err: String)
            do { r = try runTool(["squeue", "--noheader", "--jobs", "\(ids.fit),\(ids.shards),\(ids.merge)", "--format", "%i|%T|%r"]) }
            catch { FileHandle.standardError.write(Data("submit: \(error)\n".utf8)); return 69 }
            // squeue rejects a list of ids that have all left the queue.
            if r.code != 0 && !r.err.contains("Invalid job id") {
                FileHandle.standardError.write(Data("submit: squeue failed: \(r.err)".utf8))
                return 69
            }
            let queued = r.code == 0 ? r.out.split(separator: "\n").map(String.init) : []
            if queued.isEmpty { break }
            let stuck = queued.filter { $0.hasSuffix("|DependencyNeverSatisfied") }
                .compactMap { $0.split(separator: "|").first?.split(separator: "_").first.map(String.init) }
            let fresh = Array(Set(stuck)).filter { !cancelled.contains($0) }.sorted()
            if !fresh.isEmpty {
                _ = try? runTool(["scancel"] + fresh)
                cancelled += fresh
                print("job(s) \(fresh.joined(separator: ", ")) can never start (a job they wait for failed): cancelled")
            }
            sleep(1)
        }
        let layout = ShardLayout(output: jobs.output)
        if let merge = try? ShardStatus.read(layout.mergeStatusPath), merge.state == .done,
           let fit = try? ShardStatus.read(layout.fitStatusPath), fit.state == .done {
            print("merged: \(jobs.output) (\(merge.summary))")
            return 0
        }
        var lines = ["submit: the run did not complete; logs in \(options.logs)"]
        if let report = try? ShardReport(layout: layout, count: jobs.shards) { lines.append(report.rendered()) }
        if let first = (try? ShardReport(layout: layout, count: jobs.shards))?.unfinished.first {
            lines.append("rerun shard \(first.spec.name) alone: sbatch --array=\(first.spec.index) \(script(.shards)); then: sbatch \(script(.merge))")
        }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        return 1
    }
}

/// Runs a command found on PATH; its exit code and output.
func runTool(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // sbatch, squeue and scancel write a few lines: reading stdout to its end, then stderr,
    // cannot leave the tool blocked on a full pipe.
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}
