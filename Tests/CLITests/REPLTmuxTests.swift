import Foundation
import Testing

/// Drives the interactive REPL in a real terminal (tmux): history recall, tab completion,
/// the continuation prompt, Ctrl-C during a long cell. Every wait polls the screen with
/// a timeout, so a slow machine makes the test slower, not flaky.
struct REPLTmuxTests {
    static let tmux = ["/usr/bin/tmux", "/usr/local/bin/tmux", "/bin/tmux"].first { FileManager.default.isExecutableFile(atPath: $0) }

    final class Terminal {
        let name = "sal-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let tmux: String
        init(tmux: String, command: String) throws {
            self.tmux = tmux
            try run(["new-session", "-d", "-s", name, "-x", "120", "-y", "40", command])
        }
        deinit { _ = try? run(["kill-session", "-t", name]) }

        @discardableResult func run(_ args: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tmux)
            p.arguments = args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = Pipe()
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        func keys(_ k: String...) throws { try run(["send-keys", "-t", name] + k) }
        func type(_ text: String) throws { try run(["send-keys", "-t", name, "-l", text]) }
        var screen: String { (try? run(["capture-pane", "-p", "-t", name])) ?? "" }

        /// Waits until the screen contains `text`, up to `timeout` seconds.
        func wait(for text: String, timeout: Double = 8) -> Bool {
            let end = Date().addingTimeInterval(timeout)
            while Date() < end {
                if screen.contains(text) { return true }
                usleep(50_000)
            }
            Issue.record("timed out waiting for \(text.debugDescription); screen:\n\(screen)")
            return false
        }
    }

    @Test(.enabled(if: tmux != nil), .timeLimit(.minutes(1)))
    func interactiveSession() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("repl-home-\(getpid())")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let bin = productsDirectory.appendingPathComponent("saliency-repl").path
        let t = try Terminal(tmux: REPLTmuxTests.tmux!, command: "env HOME=\(home.path) TERM=xterm-256color \(bin)")
        guard t.wait(for: "In [1]:") else { return }

        // Tab completion of a variable name.
        try t.type("let gradcam_maps = 41"); try t.keys("Enter")
        guard t.wait(for: "In [2]:") else { return }
        try t.type("gradcam_m"); try t.keys("Tab")
        guard t.wait(for: "In [2]: gradcam_maps") else { return }
        try t.type(" + 1"); try t.keys("Enter")
        guard t.wait(for: "Out[2]: 42") else { return }

        // Continuation prompt for an open block.
        try t.type("fn twice(x) {"); try t.keys("Enter")
        guard t.wait(for: "   ...:") else { return }
        try t.type("return x * 2"); try t.keys("Enter")
        try t.type("}"); try t.keys("Enter")
        guard t.wait(for: "In [4]:") else { return }

        // Ctrl-C cancels a long cell; the session and its variables survive.
        try t.type("for i in 0..<1000000000 { gradcam_maps = gradcam_maps + 0 }"); try t.keys("Enter")
        usleep(300_000)
        try t.keys("C-c")
        guard t.wait(for: "error: cancelled"), t.wait(for: "In [5]:") else { return }
        try t.type("twice(21)"); try t.keys("Enter")
        guard t.wait(for: "Out[5]: 42") else { return }

        // History recall with the up arrow.
        try t.keys("Up")
        guard t.wait(for: "In [6]: twice(21)") else { return }
        try t.keys("Enter")
        guard t.wait(for: "Out[6]: 42") else { return }

        // Ctrl-D leaves; the history file has the session's lines.
        try t.keys("C-d")
        let end = Date().addingTimeInterval(5)
        let historyPath = home.appendingPathComponent(".saliency_history").path
        var history = ""
        while Date() < end {
            history = (try? String(contentsOfFile: historyPath, encoding: .utf8)) ?? ""
            if history.contains("twice(21)") { break }
            usleep(50_000)
        }
        #expect(history.contains("let gradcam_maps = 41"))
        #expect(history.contains("fn twice(x) {\nreturn x * 2\n}"))
    }
}
