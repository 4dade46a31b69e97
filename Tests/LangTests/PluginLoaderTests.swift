import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// The one plugin loader behind load_plugin, :plugin, --plugin and pipelines' plugins:.
@Suite("Plugin loading")
struct PluginLoaderTests {
    func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plugin-loader-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        return dir
    }

    @Test func scriptPluginsRunInTheInterpreterRelativeToTheirCaller() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "let plugin_value = 7\nprint(\"plugin ran\")\n".write(toFile: dir + "/sub/p.sal", atomically: true, encoding: .utf8)
        var printed: [String] = []
        let interp = Interpreter(registry: Registry(), output: { if case let .text(t) = $0 { printed.append(t) } })
        interp.baseDirectory = dir
        let v = try interp.run("let names = load_plugin(\"sub/p.sal\")\nnames\n")
        guard case let .list(names) = v else { Issue.record("load_plugin returned \(v.summary)"); return }
        #expect(names.isEmpty)
        #expect(printed == ["plugin ran"])
        guard case let .number(n)? = interp.globals.lookup("plugin_value") else { Issue.record("plugin_value is not defined"); return }
        #expect(n == 7)
        #expect(interp.baseDirectory == dir)
        #expect(throws: PluginError.invalid("cannot load plugin '\(dir)/sub/p.txt': a plugin is a shared library (.so, .dylib) or a script (.sal)")) {
            try PluginLoader.load(dir + "/sub/p.txt", into: interp)
        }
        #expect(throws: PluginError.invalid("cannot load plugin '\(dir)/none.sal': no such file")) {
            try PluginLoader.load(dir + "/none.sal", into: interp)
        }
    }

    @Test func pipelinePluginsLoadBeforeMethodsAreChecked() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "print(\"loaded\")\n".write(toFile: dir + "/sub/ok.sal", atomically: true, encoding: .utf8)
        let yaml = """
        plugins: [sub/ok.sal, sub/gone.so]
        steps:
          - model: {path: m.onnx, as: m}
        """
        let registry = Registry()
        let interp = Interpreter(registry: registry, output: { _ in })
        var v = PipelineValidator(registry: registry, pluginInterpreter: interp)
        do {
            _ = try v.validate(source: yaml, file: dir + "/p.yaml")
            Issue.record("validation should fail")
        } catch let e as PipelineError {
            #expect(e.render(source: yaml) == """
            \(dir)/p.yaml:1:23: error: cannot load plugin '\(dir)/sub/gone.so': no such file
              at plugins[1]
                plugins: [sub/ok.sal, sub/gone.so]
                                      ^
            1 error in pipeline
            """)
        }
        var ok = PipelineValidator(registry: registry, pluginInterpreter: interp)
        let p = try ok.validate(source: "plugins: [sub/ok.sal]\nsteps:\n  - model: {path: m.onnx, as: m}\n", file: dir + "/p.yaml")
        #expect(p.plugins == [dir + "/sub/ok.sal"])
        #expect(PipelineRunner(pipeline: p, outputDirectory: dir + "/out").plan().contains("plugins (loaded): \(dir)/sub/ok.sal"))
    }
}
