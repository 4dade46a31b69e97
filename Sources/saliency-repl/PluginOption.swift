import ArgumentParser
import Lang
import Plugins

/// `--plugin PATH` (repeatable) on `repl`, `exec` and `run`.
struct PluginOptions: ParsableArguments {
    @Option(name: .customLong("plugin"),
            help: ArgumentHelp("Load a plugin first: a compiled library (.so, .dylib) or a .sal script (repeatable).", valueName: "path"))
    var paths: [String] = []
}

/// Loads every `--plugin` into the interpreter's registry before anything else runs. On a
/// failure it prints the error and returns false: the caller exits 65 (nothing ran), as for
/// a pipeline whose `plugins:` fail.
func loadPlugins(_ paths: [String], into interpreter: Interpreter, term: Terminal, announce: Bool = false) -> Bool {
    for path in paths {
        do {
            let loaded = try PluginLoader.load(path, into: interpreter)
            if announce { print(loaded.summary) }
        } catch let e as ScriptError {
            term.error("error: --plugin \(path) failed:\n" + e.description)
            return false
        } catch {
            term.error("error: \(error)")
            return false
        }
    }
    return true
}
