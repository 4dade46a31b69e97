import Foundation
import Testing

/// `saliency-repl kernel` driven as Jupyter front ends drive it: jupyter_client's
/// KernelManager for the messaging checks, nbclient for examples/tour.ipynb (the python
/// driver is Fixtures/kernel_driver.py). The tools come from PyPI through
/// `scripts/bootstrap --python-test-tools`; without them the driver fails, and so do these tests.
@Suite(.serialized) struct KernelCLITests {
    static let driver = repositoryRoot + "/Tests/CLITests/Fixtures/kernel_driver.py"
    static var binary: String { productsDirectory.appendingPathComponent("saliency-repl").path }

    /// Runs the driver from the repository root in a fresh work directory (kernelspec
    /// prefix, connection files); returns its exit code and its merged output.
    func runDriver(_ mode: String, _ extra: [String] = []) throws -> (code: Int32, out: String) {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.driver, mode, Self.binary, work] + extra
        p.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        var env = ProcessInfo.processInfo.environment
        // Connection files go to the work directory, not the user's Jupyter runtime directory.
        env["JUPYTER_RUNTIME_DIR"] = work + "/runtime"
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        // A hung kernel must fail the test, not hang the suite.
        let watchdog = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 900, execute: watchdog)
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        watchdog.cancel()
        return (p.terminationStatus, out)
    }

    @Test func kernelSpeaksTheMessagingProtocol() throws {
        let r = try runDriver("protocol")
        #expect(r.code == 0, "\(r.out)")
        #expect(r.out.contains("ok      badly signed message ignored"), "\(r.out)")
        #expect(r.out.contains("ok      SIGINT cancels a long cell"), "\(r.out)")
        #expect(r.out.contains(" ok, 0 failing"), "\(r.out)")
    }

    @Test func tourNotebookRunsHeadless() throws {
        let r = try runDriver("notebook", [repositoryRoot + "/examples/tour.ipynb"])
        #expect(r.code == 0, "\(r.out)")
        #expect(r.out.contains("ok      notebook shows maps"), "\(r.out)")
        #expect(r.out.contains(" ok, 0 failing"), "\(r.out)")
    }

    @Test func kernelCommandLineErrors() throws {
        let missing = try runREPLBinary(["kernel", "--connection-file", "/nonexistent/connection.json"])
        #expect(missing.code == 66)
        #expect(missing.err.contains("cannot read connection file '/nonexistent/connection.json'"))
        let both = try runREPLBinary(["kernel", "install", "--user", "--prefix", "/tmp/unused"])
        #expect(both.code == 64)
        #expect(both.err.contains("--user and --prefix exclude each other"))
        let noPlugin = try runREPLBinary(["kernel", "install", "--prefix", "/tmp/unused-\(getpid())", "--plugin", "/nonexistent/p.so"])
        #expect(noPlugin.code == 73)
        #expect(noPlugin.err.contains("no plugin at /nonexistent/p.so"))
    }

    @Test func installStoresPluginsInTheSpec() throws {
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("spec-\(getpid())-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let plugin = repositoryRoot + "/examples/script-plugin.sal"
        let r = try runREPLBinary(["kernel", "install", "--prefix", prefix, "--plugin", plugin])
        #expect(r.code == 0, "\(r.err)")
        let spec = try String(contentsOfFile: prefix + "/share/jupyter/kernels/saliency-repl/kernel.json", encoding: .utf8)
        #expect(spec.contains("\"--plugin\",\n    \"\(plugin)\""), "\(spec)")
    }
}
