import ArgumentParser
import CReadline
import Foundation
import Lang
import Plugins

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a YAML pipeline: load, model, explain, metric, save.",
        discussion: """
        The pipeline is validated completely first (every error with file:line:col, key path
        and a caret); nothing runs if anything is wrong. Relative model and data paths are
        relative to the pipeline file; relative save paths go under --out.

        EXAMPLES
          saliency-repl run examples/quick.yaml --out out/quick
          saliency-repl run examples/demo.yaml --set params.n=8 --out out/demo
          saliency-repl run examples/demo.yaml --dry-run
          saliency-repl run my.yaml --plugin examples/swift-plugin/.build/debug/libSmoothGradSquared.so
        """)

    @ArgumentParser.Argument(help: "The pipeline file (.yaml).") var pipeline: String
    @Option(name: .customLong("set"), help: "Override a parameter: --set params.NAME=VALUE (repeatable).") var overrides: [String] = []
    @Option(help: "Directory for outputs (default: out/<pipeline name>).") var out: String?
    @Flag(help: "Validate and print the plan (steps, maps and metric evaluations) without running.") var dryRun = false
    @Flag(help: "No progress bars.") var quiet = false
    @OptionGroup var plugins: PluginOptions

    func run() throws {
        let code = runPipeline()
        if code != 0 { throw ExitCode(code) }
    }

    func runPipeline() -> Int32 {
        let term = Terminal()
        guard let text = try? String(contentsOfFile: pipeline, encoding: .utf8) else {
            term.error("error: cannot read pipeline '\(pipeline)'")
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
        let runner = PipelineRunner(pipeline: p, outputDirectory: out ?? "out/\(p.name)", quiet: quiet)
        if dryRun {
            print(runner.plan())
            return 0
        }
        // Ctrl-C and SIGTERM cancel the running step; every output is written atomically, so
        // an interrupted run leaves complete files only.
        signal(SIGINT) { _ in interruptToken.cancel() }
        signal(SIGTERM) { _ in interruptToken.cancel() }
        do {
            let scored = try runner.run(interpreter: interp, log: { line in if !quiet { print(line) }; fflush(sal_stdout()) })
            for c in scored {
                print("\n\(c.name): mean of each metric over \(c.maps.images.shape[0]) image(s), ms per map")
                print(c.summaryTable.rendered())
            }
            return 0
        } catch let e as ScriptError {
            fflush(sal_stdout())
            if interruptToken.isCancelled {
                term.error("interrupted: stopped at a step boundary; files already written are complete, nothing partial was left")
                return 130
            }
            term.error(e.description)
            return e.exitCode
        } catch {
            term.error("error: \(error)")
            return 70
        }
    }
}
