import CReadline
import Foundation
import Lang
import Plugins

/// Runs a script file: output to stdout, diagnostics to stderr; sysexits codes
/// (65 parse/static error, nothing ran; 70 runtime error).
func execScript(_ path: String, args: [String], plugins: [String] = []) -> Int32 {
    let term = Terminal()
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        term.error("error: cannot read script '\(path)'")
        return 66
    }
    let interp = Interpreter(cancellation: interruptToken, output: { term.draw($0) })
    signal(SIGINT) { _ in interruptToken.cancel() }
    interp.baseDirectory = (path as NSString).deletingLastPathComponent
    interp.define("args", .list(args.map { .string($0) }))
    guard loadPlugins(plugins, into: interp, term: term) else { return 65 }
    do {
        try interp.run(text, file: path)
        return 0
    } catch let e as ScriptError {
        fflush(sal_stdout())
        term.error(e.description)
        return e.exitCode
    } catch {
        term.error("error: \(error)")
        return 70
    }
}
