import Foundation
import Lang
import Plugins

/// A command that stopped before running anything, with its exit code (the error is printed).
struct CommandFailure: Error { let code: Int32 }

/// Reads a pipeline, applies `--set`, loads `--plugin`s into `interp` and validates, printing
/// every error; what `run`, `merge` and `submit` all do first. Exit codes: 66 unreadable
/// file, 64 a malformed --set, 65 a plugin or the pipeline is wrong.
func validatedPipeline(_ path: String, overrides: [String], plugins: [String], into interp: Interpreter,
                       term: Terminal) throws -> (pipeline: Pipeline, text: String) {
    let text: String
    do { text = try SourceFile.read(path) } catch let e as ScriptError {
        term.error(e.description)
        throw CommandFailure(code: 65)
    } catch {
        term.error("error: cannot read pipeline \(error)")
        throw CommandFailure(code: 66)
    }
    var sets: [String: String] = [:]
    for o in overrides {
        guard let eq = o.firstIndex(of: "="), eq != o.startIndex else {
            term.error("error: --set takes NAME=VALUE, got '\(o)'")
            throw CommandFailure(code: 64)
        }
        sets[String(o[..<eq])] = String(o[o.index(after: eq)...])
    }
    // Plugins load before validation (the steps may name their methods); a pipeline's own
    // `plugins:` load during validation, into the same interpreter.
    guard loadPlugins(plugins, into: interp, term: term) else { throw CommandFailure(code: 65) }
    var validator = PipelineValidator(registry: .shared, overrides: sets, pluginInterpreter: interp)
    do {
        return (try validator.validate(source: text, file: path), text)
    } catch let e as PipelineError {
        term.error(e.render(source: text))
    } catch {
        term.error("error: \(error)")
    }
    throw CommandFailure(code: 65)
}

/// The summary table of each scored comparison, as `run` and `merge` print them.
func printSummaries(_ scored: [ComparisonValue]) {
    for c in scored {
        print("\n\(c.name): mean of each metric over \(c.maps.images.shape[0]) image(s), ms per map")
        print(c.summaryTable.rendered())
    }
}

/// `path` made absolute against the current directory.
func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
}
