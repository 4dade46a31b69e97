import Plugins

extension Builtins {
    static let pluginLoading: [Builtin] = [
        Builtin("load_plugin", [BuiltinParam("path")],
                doc: "Loads a plugin: a compiled library (.so, .dylib; see saliency_plugin.h) or a .sal script; relative to the script's directory. Returns the names of the methods it added.") { a in
            let loaded = try PluginLoader.load(try a.path("path"), into: a.interpreter)
            return .list(loaded.methods.map { .string($0) })
        },
    ]
}
