import Foundation
import Lang

/// A `run --shard K/N` or `run --fit-only`: sets the runner's mode and output folder, and
/// keeps the job's status file (`OUT/shards/K-of-N/status.json`, `OUT/shards/fit.json`)
/// from start to finish, so `status` and `merge` know how it went.
struct ShardJob {
    var status: ShardStatus
    let path: String
    let started = Date()

    /// The job for these options, or nil for a plain run.
    static func make(shard: String?, fitOnly: Bool, pipeline: String, text: String, overrides: [String], plugins: [String],
                     runner: inout PipelineRunner) throws -> ShardJob? {
        guard shard != nil || fitOnly else { return nil }
        if shard != nil && fitOnly { throw ShardError("--shard and --fit-only are separate runs: first --fit-only (once), then each --shard") }
        let record = ShardRunRecord(pipeline: pipeline, directory: FileManager.default.currentDirectoryPath, text: text,
                                    overrides: overrides, plugins: plugins)
        let layout = ShardLayout(output: runner.outputDirectory)
        guard let shard else {
            runner.sharding = .fitOnly
            return ShardJob(status: ShardStatus(job: "fit", run: record), path: layout.fitStatusPath)
        }
        let spec = try ShardSpec.parse(shard, environment: ProcessInfo.processInfo.environment)
        runner.sharding = .shard(spec)
        runner.outputDirectory = layout.directory(spec)
        return ShardJob(status: ShardStatus(job: spec.name, run: record), path: layout.statusPath(spec))
    }

    func start() throws { try status.write(to: path) }

    /// Records how the job ended; a shard also says so on stdout.
    func finish(error: String?, cache: ResumeCache?) {
        var s = status
        s.finish(error: error, seconds: Date().timeIntervalSince(started), computed: cache?.computed, reused: cache?.reused)
        do { try s.write(to: path) } catch {
            FileHandle.standardError.write(Data("warning: cannot record the end of \(s.job) in \(path) (\(error))\n".utf8))
        }
        if s.state == .done { print("\(s.job == "fit" ? "fit" : "shard \(s.job)"): \(s.summary); status in \(path)") }
    }
}
