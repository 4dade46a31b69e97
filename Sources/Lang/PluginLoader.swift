import Foundation
import Plugins
import Runtime

/// The one way plugins get loaded, whatever asks (`load_plugin(path)`, `:plugin`,
/// `--plugin`, a pipeline's `plugins:`): the file's extension chooses how.
///   - `.so` / `.dylib`: a compiled plugin (the C ABI of saliency_plugin.h), `NativePlugin.load`.
///   - `.sal`: a script run in the interpreter (it registers methods with `register_method`).
public enum PluginLoader {
    public static let libraryExtensions = ["so", "dylib"]

    /// What a load did: the file and the methods that became available.
    public struct Loaded: Sendable, Equatable {
        public var path: String
        /// Methods the plugin declares (compiled) or that the script added (`.sal`).
        public var methods: [String]
        public var summary: String {
            "loaded plugin \(path): " + (methods.isEmpty ? "no new methods" : "method\(methods.count == 1 ? "" : "s") " + methods.joined(separator: ", "))
        }
    }

    /// Loads `path` (already resolved against whatever it is relative to) into the
    /// interpreter's registry. Errors: `PluginError` for libraries and unknown kinds,
    /// `ScriptError` from a `.sal` file (rendered with its own file:line:col).
    @discardableResult
    public static func load(_ path: String, into interpreter: Interpreter) throws -> Loaded {
        let ext = (path as NSString).pathExtension.lowercased()
        if libraryExtensions.contains(ext) {
            return Loaded(path: path, methods: try NativePlugin.load(path, into: interpreter.registry))
        }
        guard ext == "sal" else {
            throw PluginError.invalid("cannot load plugin '\(path)': a plugin is a shared library (.so, .dylib) or a script (.sal)")
        }
        // A script that loads itself, directly or through others, would recurse until the
        // stack ran out: the scripts being loaded are kept, and a second entry is an error.
        let canonical = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
        if let first = interpreter.pluginsLoading.firstIndex(of: canonical) {
            let cycle = (interpreter.pluginsLoading[first...] + [canonical]).map { ($0 as NSString).lastPathComponent }
            throw PluginError.invalid("cannot load plugin '\(path)': it is already being loaded (\(cycle.joined(separator: " -> "))); plugins must not load each other in a cycle")
        }
        interpreter.pluginsLoading.append(canonical)
        defer { interpreter.pluginsLoading.removeLast() }
        let text: String
        do { text = try SourceFile.read(path) } catch let e as IOError {
            throw PluginError.invalid("cannot load plugin '\(path)': \(e.message)")
        }
        let before = Set(interpreter.registry.explainers.map(\.name))
        // The script's own relative paths resolve against its directory, as with `exec`.
        let base = interpreter.baseDirectory
        interpreter.baseDirectory = (path as NSString).deletingLastPathComponent
        defer { interpreter.baseDirectory = base }
        try interpreter.run(text, file: path)
        let added = interpreter.registry.explainers.map(\.name).filter { !before.contains($0) }
        return Loaded(path: path, methods: added)
    }

    /// `path` relative to `directory` unless absolute ("" = the current directory).
    public static func resolve(_ path: String, relativeTo directory: String) -> String {
        path.hasPrefix("/") || directory.isEmpty ? path : (directory as NSString).appendingPathComponent(path)
    }
}
