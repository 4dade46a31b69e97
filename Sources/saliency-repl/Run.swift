import ArgumentParser
import CReadline
import Foundation
import Lang
import Plugins

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a YAML pipeline: load, model, explain, metric, save.",
        discussion: """
        The pipeline is validated completely first (every error with file:line:col,
        key path and a caret); nothing runs if anything is wrong. Relative model and
        data paths are relative to the pipeline file; relative save paths go under
        --out.

        RESUMING
        Every finished block of work (one model x method's maps, one metric on those
        maps) is stored under OUT/.resume, keyed by a hash of all it depends on
        (model weights, images, method, parameters, target, score, seeds, tool
        version). After an interrupted or failed run, --resume reuses the blocks
        that match and computes the rest; the outputs are byte-identical to an
        uninterrupted run's (reused maps keep their measured time). A changed --set
        recomputes only the blocks it affects; a damaged block is recomputed with a
        warning. --dry-run --resume loads the data and models and counts the blocks
        already complete. Delete OUT/.resume to reclaim its space.

        SHARDING
        --shard K/N runs shard K of N (from 0): every method and metric on its slice of
        each comparison's images (whole batches, contiguous), kept in OUT/shards/K-of-N/
        with a status.json; save steps are left to the merge. Methods that learn from data
        are fitted once, first, with --fit-only (into the fit cache, $SALIENCY_CACHE_DIR,
        which the shards read; a shard never fits). `saliency-repl merge OUT` then writes
        the outputs, byte-identical to an unsharded run's. --shard auto reads a Slurm
        array task's SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (or _MIN/_MAX);
        --shard auto/N takes the index from SLURM_ARRAY_TASK_ID or Kubernetes'
        JOB_COMPLETION_INDEX. A failed shard reruns alone with --resume.

        EXAMPLES
          saliency-repl run examples/quick.yaml --out out/quick
          saliency-repl run examples/demo.yaml --set params.n=8 --out out/demo
          saliency-repl run examples/demo.yaml --dry-run
          saliency-repl run my.yaml --plugin examples/swift-plugin/.build/debug/libSmoothGradSquared.so
          saliency-repl run examples/quick.yaml --out out/quick --resume
          saliency-repl run examples/demo.yaml --set params.n=32 --fit-only
          saliency-repl run examples/demo.yaml --set params.n=32 --shard 0/2   # and 1/2, anywhere
          saliency-repl merge out/demo
        """)

    @ArgumentParser.Argument(help: "The pipeline file (.yaml).") var pipeline: String
    @Option(name: .customLong("set"), help: "Override a parameter: --set params.NAME=VALUE (repeatable).") var overrides: [String] = []
    @Option(help: "Directory for outputs (default: out/<pipeline name>).") var out: String?
    @Flag(help: "Validate and print the plan (steps, maps and metric evaluations) without running.") var dryRun = false
    @Flag(help: "No progress bars.") var quiet = false
    @OptionGroup var plugins: PluginOptions
    @OptionGroup var memory: MemoryOptions
    @Flag(help: "Reuse the finished blocks (maps, scores) of an earlier run with the same --out; compute only the rest.") var resume = false
    @Option(help: ArgumentHelp("Run one shard of the images: K/N (shard K of N, from 0), auto (a Slurm array task) or auto/N (Slurm or a Kubernetes indexed job); writes OUT/shards/K-of-N/.", valueName: "K/N"))
    var shard: String?
    @Flag(help: "Only fit the methods that learn from data (into the fit cache, $SALIENCY_CACHE_DIR), before the shards run.") var fitOnly = false

    func run() throws {
        memory.apply()
        let code = runPipeline()
        if code != 0 { throw ExitCode(code) }
    }

    func runPipeline() -> Int32 {
        let term = Terminal()
        let interp = Interpreter(cancellation: interruptToken, output: { term.draw($0) })
        let p: Pipeline, text: String
        do { (p, text) = try validatedPipeline(pipeline, overrides: overrides, plugins: plugins.paths, into: interp, term: term) }
        catch { return (error as? CommandFailure)?.code ?? 65 }
        var runner = PipelineRunner(pipeline: p, outputDirectory: out ?? "out/\(p.name)", quiet: quiet, resume: resume)
        let job: ShardJob?
        do { job = try ShardJob.make(shard: shard, fitOnly: fitOnly, pipeline: pipeline, text: text, overrides: overrides, plugins: plugins.paths, runner: &runner) }
        catch { term.error("error: \(error)"); return 64 }
        if dryRun {
            do { try runner.preflight(registry: interp.registry) } catch let e as PipelineError {
                term.error(e.render(source: text))
                return 65
            } catch {
                term.error("error: \(error)")
                return 65
            }
            print(runner.plan())
            if resume { print(runner.probeResume(interpreter: Interpreter(output: { _ in }))) }
            return 0
        }
        // Ctrl-C and SIGTERM cancel the running step; every output is written atomically, so
        // an interrupted run leaves complete files only.
        signal(SIGINT) { _ in interruptToken.cancel() }
        signal(SIGTERM) { _ in interruptToken.cancel() }
        // A parent may start us with these signals blocked (Foundation's Process does, from a
        // test runner); blocked, they would stay pending and the run could not be stopped.
        var stop = sigset_t()
        sigemptyset(&stop)
        sigaddset(&stop, SIGINT)
        sigaddset(&stop, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &stop, nil)
        do { try job?.start() } catch { term.error("error: \(error)"); return 73 }
        let (code, failure) = execute(runner, interp, term, source: text)
        job?.finish(error: failure, cache: interp.resumeCache)
        return code
    }

    /// Runs the pipeline and prints its summaries: the exit code and, on failure, the error printed.
    func execute(_ runner: PipelineRunner, _ interp: Interpreter, _ term: Terminal, source text: String) -> (Int32, String?) {
        func fail(_ code: Int32, _ message: String) -> (Int32, String?) { term.error(message); return (code, message) }
        do {
            let scored = try runner.run(interpreter: interp, log: { line in if !quiet { print(line) }; fflush(sal_stdout()) },
                                        warn: { term.error($0) })
            if case .none = runner.sharding { printSummaries(scored) }
            if resume, let cache = interp.resumeCache {
                print("\nresumed: \(cache.reused) block(s) reused, \(cache.computed) computed (\(runner.resumeDirectory))")
            }
            return (0, nil)
        } catch let e as ScriptError {
            fflush(sal_stdout())
            let kept = resumeHint(interp, runner)
            if interruptToken.isCancelled {
                return fail(130, "interrupted: stopped at a step boundary; files already written are complete, nothing partial was left" + kept)
            }
            return fail(e.exitCode, e.description + kept)
        } catch let e as PipelineError {
            // A save path that a symlink made during the run leads out of --out: a validation
            // error at the step, like every other one.
            return fail(65, e.render(source: text))
        } catch {
            return fail(70, "error: \(error)" + resumeHint(interp, runner))
        }
    }

    /// After a failed or interrupted run: how to pick up from the blocks it finished.
    func resumeHint(_ interp: Interpreter, _ runner: PipelineRunner) -> String {
        guard let cache = interp.resumeCache, cache.reused + cache.computed > 0 else { return "" }
        return "\n\(cache.reused + cache.computed) finished block(s) are kept in \(runner.resumeDirectory); rerun with --resume to skip them"
    }
}
