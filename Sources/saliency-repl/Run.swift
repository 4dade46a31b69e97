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

        EXAMPLES
          saliency-repl run examples/quick.yaml --out out/quick
          saliency-repl run examples/demo.yaml --set params.n=8 --out out/demo
          saliency-repl run examples/demo.yaml --dry-run
          saliency-repl run my.yaml --plugin examples/swift-plugin/.build/debug/libSmoothGradSquared.so
          saliency-repl run examples/quick.yaml --out out/quick --resume
        """)

    @ArgumentParser.Argument(help: "The pipeline file (.yaml).") var pipeline: String
    @Option(name: .customLong("set"), help: "Override a parameter: --set params.NAME=VALUE (repeatable).") var overrides: [String] = []
    @Option(help: "Directory for outputs (default: out/<pipeline name>).") var out: String?
    @Flag(help: "Validate and print the plan (steps, maps and metric evaluations) without running.") var dryRun = false
    @Flag(help: "No progress bars.") var quiet = false
    @OptionGroup var plugins: PluginOptions
    @OptionGroup var memory: MemoryOptions
    @Flag(help: "Reuse the finished blocks (maps, scores) of an earlier run with the same --out; compute only the rest.") var resume = false

    func run() throws {
        memory.apply()
        let code = runPipeline()
        if code != 0 { throw ExitCode(code) }
    }

    func runPipeline() -> Int32 {
        let term = Terminal()
        let text: String
        do { text = try SourceFile.read(pipeline) } catch let e as ScriptError {
            term.error(e.description)
            return 65
        } catch {
            term.error("error: cannot read pipeline \(error)")
            return 66
        }
        var sets: [String: String] = [:]
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex else {
                term.error("error: --set takes NAME=VALUE, got '\(o)'")
                return 64
            }
            sets[String(o[..<eq])] = String(o[o.index(after: eq)...])
        }
        // Plugins load before validation (the steps may name their methods); a pipeline's own
        // `plugins:` load during validation, into the same interpreter.
        let interp = Interpreter(cancellation: interruptToken, output: { term.draw($0) })
        guard loadPlugins(plugins.paths, into: interp, term: term) else { return 65 }
        var validator = PipelineValidator(registry: .shared, overrides: sets, pluginInterpreter: interp)
        let p: Pipeline
        do {
            p = try validator.validate(source: text, file: pipeline)
        } catch let e as PipelineError {
            term.error(e.render(source: text))
            return 65
        } catch {
            term.error("error: \(error)")
            return 65
        }
        let runner = PipelineRunner(pipeline: p, outputDirectory: out ?? "out/\(p.name)", quiet: quiet, resume: resume)
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
        do {
            let scored = try runner.run(interpreter: interp, log: { line in if !quiet { print(line) }; fflush(sal_stdout()) },
                                        warn: { term.error($0) })
            for c in scored {
                print("\n\(c.name): mean of each metric over \(c.maps.images.shape[0]) image(s), ms per map")
                print(c.summaryTable.rendered())
            }
            if resume, let cache = interp.resumeCache {
                print("\nresumed: \(cache.reused) block(s) reused, \(cache.computed) computed (\(runner.resumeDirectory))")
            }
            return 0
        } catch let e as PipelineError {
            term.error(e.render(source: text))
            return 65
        } catch let e as ScriptError {
            fflush(sal_stdout())
            let kept = resumeHint(interp, runner)
            if interruptToken.isCancelled {
                term.error("interrupted: stopped at a step boundary; files already written are complete, nothing partial was left" + kept)
                return 130
            }
            term.error(e.description + kept)
            return e.exitCode
        } catch {
            term.error("error: \(error)" + resumeHint(interp, runner))
            return 70
        }
    }

    /// After a failed or interrupted run: how to pick up from the blocks it finished.
    func resumeHint(_ interp: Interpreter, _ runner: PipelineRunner) -> String {
        guard let cache = interp.resumeCache, cache.reused + cache.computed > 0 else { return "" }
        return "\n\(cache.reused + cache.computed) finished block(s) are kept in \(runner.resumeDirectory); rerun with --resume to skip them"
    }
}
