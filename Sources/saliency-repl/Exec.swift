import CReadline
import Foundation
import Lang
import Plugins

/// Runs a script file: output to stdout, diagnostics to stderr; sysexits codes
/// (64 bad --set, 65 parse/static error, nothing ran; 70 runtime error).
func execScript(_ path: String, args: [String], plugins: [String] = []) -> Int32 {
    let term = Terminal()
    let text: String
    do { text = try SourceFile.read(path) } catch let e as ScriptError {
        term.error(e.description)
        return 65
    } catch {
        term.error("error: cannot read script \(error)")
        return 66
    }
    // `--set name=value` (or `--set=name=value`) go to `params(...)`, `--dry-run` makes train and
    // accuracy check without computing; everything else is `args`.
    var rest: [String] = [], sets: [String: String] = [:], dryRun = false
    var i = 0
    while i < args.count {
        var setting: String? = nil
        if args[i] == "--dry-run" {
            dryRun = true; i += 1
        } else if args[i] == "--set" {
            guard i + 1 < args.count else { term.error("error: --set needs NAME=VALUE"); return 64 }
            setting = args[i + 1]; i += 2
        } else if args[i].hasPrefix("--set=") {
            setting = String(args[i].dropFirst(6)); i += 1
        } else {
            rest.append(args[i]); i += 1
        }
        if let s = setting {
            guard let eq = s.firstIndex(of: "="), eq != s.startIndex else { term.error("error: --set takes NAME=VALUE, got '\(s)'"); return 64 }
            sets[String(s[..<eq])] = String(s[s.index(after: eq)...])
        }
    }
    let interp = Interpreter(cancellation: interruptToken, output: { term.draw($0) })
    signal(SIGINT) { _ in interruptToken.cancel() }
    interp.baseDirectory = (path as NSString).deletingLastPathComponent
    interp.scriptParameters = sets
    interp.dryRun = dryRun
    interp.define("args", .list(rest.map { .string($0) }))
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
