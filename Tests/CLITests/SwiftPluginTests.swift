import Foundation
import Testing

/// examples/swift-plugin, built once per test process into .build/swift-plugin (cached:
/// a second run is an incremental no-op build; no network, the package has no dependencies).
enum SwiftPluginBuild {
    static let library: Result<String, SwiftPluginBuildError> = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["swift", "build", "-c", "debug", "--package-path", repositoryRoot + "/examples/swift-plugin",
                       "--scratch-path", repositoryRoot + "/.build/swift-plugin"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return .failure(SwiftPluginBuildError(log: "cannot run swift build: \(error)")) }
        let log = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return .failure(SwiftPluginBuildError(log: log)) }
        #if os(macOS)
        return .success(repositoryRoot + "/.build/swift-plugin/debug/libSmoothGradSquared.dylib")
        #else
        return .success(repositoryRoot + "/.build/swift-plugin/debug/libSmoothGradSquared.so")
        #endif
    }()
}

struct SwiftPluginBuildError: Error, CustomStringConvertible {
    let log: String
    var description: String { "building examples/swift-plugin failed:\n\(log)" }
}

@Suite("Plugins from the command line", .serialized)
struct SwiftPluginTests {
    let lenet = repositoryRoot + "/models/lenet-fmnist.onnx"

    @Test func pipelinePluginsLoadTheSwiftExampleRelativeToThePipeline() throws {
        let library = try SwiftPluginBuild.library.get()
        let dir = try freshDirectory("swift-plugin")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/plugins", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/plugins/libSmoothGradSquared.so", withDestinationPath: library)
        let path = dir + "/sgsq.yaml"
        try """
        seed: 3
        plugins: [plugins/libSmoothGradSquared.so]
        steps:
          - load: {dataset: fashion-mnist, split: test, limit: 2, as: data}
          - model: {path: \(lenet), as: lenet}
          - explain: {model: lenet, data: data, methods: [gradient, {smoothgrad_sq: {samples: 4}}], as: maps}
          - metric: {maps: maps, metrics: [deletion], as: scores}
          - save: {value: scores, path: scores.csv}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try runREPLBinary(["run", path, "--out", dir + "/out", "--quiet"])
        #expect(r.code == 0, "stderr: \(r.err)")
        #expect(r.out.contains("lenet-fmnist  smoothgrad_sq"))
        let csv = try String(contentsOfFile: dir + "/out/scores.csv", encoding: .utf8)
        #expect(csv.contains(",lenet-fmnist,smoothgrad_sq,deletion,"))
    }

    @Test func aPipelinePluginThatFailsToLoadIsReportedAtItsItem() throws {
        let dir = try freshDirectory("bad-plugin")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/p.yaml"
        try """
        plugins:
          - libs/missing.so
          - ok.sal
          - broken.sal
        steps:
          - model: {path: \(lenet), as: m}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        try "print(\"script plugin ran\")\n".write(toFile: dir + "/ok.sal", atomically: true, encoding: .utf8)
        try "let = 3\n".write(toFile: dir + "/broken.sal", atomically: true, encoding: .utf8)
        let r = try runREPLBinary(["run", path, "--out", dir + "/out"])
        #expect(r.code == 65)
        #expect(r.out == "script plugin ran\n")
        #expect(r.err == """
        \(path):2:5: error: cannot load plugin '\(dir)/libs/missing.so': no such file
          at plugins[0]
              - libs/missing.so
                ^

        \(path):4:5: error: plugin script failed: \(dir)/broken.sal:1:5: error: expected a name after 'let', found '='
          at plugins[2]
              - broken.sal
                ^
        2 errors in pipeline

        """)
    }

    @Test func execAndTheREPLLoadPluginsByOptionCommandAndBuiltin() throws {
        let library = try SwiftPluginBuild.library.get()
        let script = try temporaryScript("""
        let m = model("\(lenet)")
        let x = dataset("fashion-mnist", split: "test", limit: 1)
        let s = explain(m, x, "smoothgrad_sq", samples: 2)
        print(s.method, len(methods()) > 10)
        """)
        let r = try runREPLBinary(["exec", "--plugin", library, script])
        #expect(r.code == 0, "stderr: \(r.err)")
        #expect(r.out == "smoothgrad_sq true\n")

        // A .sal plugin is a script run in the session: its definitions stay.
        let sal = try temporaryScript("let plugin_answer = 6 * 7\nprint(\"plugin script ran\")\n", name: "extra.sal")
        let repl = try runREPLBinary(["repl", "--plugin", sal], stdin: """
        plugin_answer
        :plugin \(library)
        help("smoothgrad_sq")
        load_plugin("\(library)")
        """)
        #expect(repl.code == 0, "stderr: \(repl.err)")
        #expect(repl.out.hasPrefix("plugin script ran\nOut[1]: 42\n"))
        #expect(repl.out.contains("loaded plugin \(library): method smoothgrad_sq\n"))
        #expect(repl.out.contains("method smoothgrad_sq: mean of the squared gradient over noisy copies"))
        // Loading the same library again is a no-op that lists its methods.
        #expect(repl.out.hasSuffix("[\"smoothgrad_sq\"]\n"))
    }

    @Test func pluginOptionErrorsStopBeforeAnythingRuns() throws {
        let script = try temporaryScript("print(\"ran\")\n")
        let dir = (script as NSString).deletingLastPathComponent
        let r = try runREPLBinary(["exec", "--plugin", dir + "/nope.so", script])
        #expect(r.code == 65)
        #expect(r.out.isEmpty)
        #expect(r.err == "error: cannot load plugin '\(dir)/nope.so': no such file\n")
        let wrongKind = try runREPLBinary(["exec", "--plugin", script.replacingOccurrences(of: ".sal", with: ".py"), script])
        #expect(wrongKind.err == "error: cannot load plugin '\(dir)/script.py': a plugin is a shared library (.so, .dylib) or a script (.sal)\n")
        let broken = try temporaryScript("let = 3\n", name: "broken.sal")
        let b = try runREPLBinary(["exec", "--plugin", broken, script])
        #expect(b.code == 65)
        #expect(b.err.hasPrefix("error: --plugin \(broken) failed:\n\(broken):1:5: error: "))
    }
}
