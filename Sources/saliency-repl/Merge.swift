import ArgumentParser
import CReadline
import Foundation
import Lang

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Assemble a sharded run's outputs (tables, CSV/JSON, montages, the report) from its shards.",
        discussion: """
        Runs the pipeline the shards ran (the file, --set values and plugins recorded in
        OUT/shards/K-of-N/status.json, from the directory they ran in) over the blocks the
        shards stored, computing nothing: the outputs are written by the same code an
        unsharded run uses, so they are byte-identical to it (scores.csv, .json, montages);
        the time columns (ms/map, time per map) and the report's environment (date, host)
        show what the shards measured, not what a single run would.

        Every shard must be done: a shard that never started, is still running, failed, or
        whose blocks are missing or damaged is named, with the command that reruns it alone
        (--resume reuses its finished blocks), and nothing is written.

        EXAMPLES
          saliency-repl merge out/quick
          saliency-repl merge out/quick --shards 4
        """)

    @ArgumentParser.Argument(help: "The output directory the shards ran with (their --out).") var out: String
    @Option(help: "The number of shards (default: the only N with folders OUT/shards/K-of-N).") var shards: Int?
    @Flag(help: "No progress lines.") var quiet = false

    func run() throws {
        let code = merge()
        if code != 0 { throw ExitCode(code) }
    }

    func merge() -> Int32 {
        let term = Terminal()
        let layout = ShardLayout(output: absolutePath(out))
        let count: Int, report: ShardReport
        do {
            count = try layout.count(given: shards)
            report = try ShardReport(layout: layout, count: count)
        } catch {
            term.error("merge: \(error)")
            return 66
        }
        let records = report.shards.compactMap(\.status?.run)
        let unfinished = report.unfinished
        guard unfinished.isEmpty, let record = records.first else {
            var lines = ["merge: cannot merge \(out): \(unfinished.count) of \(count) shard(s) not done; nothing was written"]
            lines += unfinished.map { "  shard \($0.spec.name): \($0.why)" }
            if let record = records.first, let first = unfinished.first {
                lines.append("rerun it alone (in \(record.directory)): " + record.rerun(first.spec, output: layout.output))
            }
            term.error(lines.joined(separator: "\n"))
            return 66
        }
        if let other = report.shards.first(where: { $0.status?.run != record }) {
            term.error("merge: shard \(other.spec.name) ran another configuration than shard 0-of-\(count) (pipeline, its text, --set or plugins differ); nothing was written")
            return 66
        }
        // The pipeline's relative paths (models, data, plugins) are relative to where the shards ran.
        guard FileManager.default.changeCurrentDirectoryPath(record.directory) else {
            term.error("merge: cannot enter \(record.directory), where the shards ran")
            return 66
        }
        let interp = Interpreter(cancellation: interruptToken, output: { term.draw($0) })
        let p: Pipeline, text: String
        do { (p, text) = try validatedPipeline(record.pipeline, overrides: record.overrides, plugins: record.plugins, into: interp, term: term) }
        catch { return (error as? CommandFailure)?.code ?? 65 }
        guard ShardRunRecord.sha256(of: text) == record.sha256 else {
            term.error("merge: \(record.pipeline) changed since the shards ran; merge the shards of the pipeline they ran, or rerun them; nothing was written")
            return 66
        }
        var runner = PipelineRunner(pipeline: p, outputDirectory: layout.output, quiet: quiet)
        var status = ShardStatus(job: "merge", run: record)
        let t0 = Date()
        let failure: String?
        do {
            let cache = try ShardMergeCache(layout: layout, count: count, record: record)
            runner.sharding = .merge(cache)
            try status.write(to: layout.mergeStatusPath)
            let scored = try runner.run(interpreter: interp, log: { line in if !quiet { print(line) }; fflush(sal_stdout()) },
                                        warn: { term.error($0) })
            printSummaries(scored)
            print("\nmerged \(count) shard(s) into \(out): \(cache.read) block(s) read")
            failure = nil
        } catch let e as ScriptError {
            failure = "merge: " + e.description
        } catch {
            failure = "merge: \(error)"
        }
        status.finish(error: failure, seconds: Date().timeIntervalSince(t0))
        try? status.write(to: layout.mergeStatusPath)
        if let failure { term.error(failure); return 66 }
        return 0
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a sharded run's progress: the fit, each shard (done / running / failed / not started), the merge.",
        discussion: """
        Reads only the status files under OUT/shards (written by run --fit-only, run --shard
        and merge), so it works the same for Slurm, Kubernetes and shards started by hand. A
        shard recorded as running on this host whose process is gone is shown as stopped.

        EXAMPLE
          saliency-repl status out/quick
        """)

    @ArgumentParser.Argument(help: "The output directory of the sharded run (its --out).") var out: String
    @Option(help: "The number of shards (default: the only N with folders OUT/shards/K-of-N).") var shards: Int?

    func run() throws {
        let layout = ShardLayout(output: out)
        do {
            print(try ShardReport(layout: layout, count: try layout.count(given: shards)).rendered())
        } catch {
            Terminal().error("status: \(error)")
            throw ExitCode(66)
        }
    }
}
