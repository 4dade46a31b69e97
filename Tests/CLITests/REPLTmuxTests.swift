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
            try startServer(["new-session", "-d", "-s", name, "-x", "120", "-y", "40", command])
        }
        deinit { _ = try? run(["kill-server"], capture: false) }

        /// `new-session` forks the tmux server, which lives on. Foundation's Process notices a
        /// child's exit through an inherited socket, which the server would keep open (so
        /// waitUntilExit never returned); spawn it directly with stdio on /dev/null and every
        /// other descriptor closed, then wait for the client.
        func startServer(_ args: [String]) throws {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            for fd in Int32(0)...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
            let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }.filter { $0 > 2 }
            for fd in open where fcntl(fd, F_GETFD) >= 0 { posix_spawn_file_actions_addclose(&actions, fd) }
            let argv = ([tmux, "-L", name] + args).map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            // Default signal handling and an empty mask, as a shell would give it.
            var attr = posix_spawnattr_t()
            posix_spawnattr_init(&attr)
            defer { posix_spawnattr_destroy(&attr) }
            var empty = sigset_t(), all = sigset_t()
            sigemptyset(&empty); sigfillset(&all)
            posix_spawnattr_setsigmask(&attr, &empty)
            posix_spawnattr_setsigdefault(&attr, &all)
            posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
            var pid: pid_t = 0
            guard posix_spawn(&pid, tmux, &actions, &attr, argv, environ) == 0 else { throw CocoaError(.fileReadUnknown) }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }

        /// Runs tmux on a private server socket (-L) so tests never touch the user's sessions.
        @discardableResult func run(_ args: [String], capture: Bool = true) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tmux)
            p.arguments = ["-L", name] + args
            p.standardInput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            guard capture else {
                p.standardOutput = FileHandle.nullDevice
                try p.run()
                p.waitUntilExit()
                return ""
            }
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        func keys(_ k: String...) throws { try run(["send-keys", "-t", name] + k, capture: false) }
        func type(_ text: String) throws { try run(["send-keys", "-t", name, "-l", text], capture: false) }
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

        // Ctrl-C cancels a long cell; the session and its variables survive. The cell prints
        // once it runs, and Ctrl-C is sent only after that line is on the screen (a loaded
        // machine may take long to start it; a sleep would race). The printed text is built
        // from two strings, so the typed line itself does not contain it.
        try t.type("for i in 0..<1000000000 {"); try t.keys("Enter")
        try t.type("if i == 1000 { print(\"loop is\" + \" running\") }"); try t.keys("Enter")
        try t.type("gradcam_maps = gradcam_maps + 0"); try t.keys("Enter")
        try t.type("}"); try t.keys("Enter")
        guard t.wait(for: "loop is running", timeout: 30) else { return }
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

    /// A long explain call shows its bar while it runs (RISE ticks per chunk of masks), and
    /// `:help` opens in the pager.
    @Test(.enabled(if: tmux != nil), .timeLimit(.minutes(2)))
    func progressBarAndPagedHelp() throws {
        let bin = productsDirectory.appendingPathComponent("saliency-repl").path
        let t = try Terminal(tmux: REPLTmuxTests.tmux!, command: "env TERM=xterm-256color PAGER='less -FRX' \(bin)")
        guard t.wait(for: "In [1]:") else { return }
        try t.type("let g = explain(model(\"lenet5\"), zeros([8, 1, 28, 28]), \"rise\", masks: 40000)"); try t.keys("Enter")
        guard t.wait(for: "explain ", timeout: 60), t.wait(for: "/8", timeout: 60) else { return }
        // Seen ticking: the rest of the call is not the point, Ctrl-C ends it.
        try t.keys("C-c")
        guard t.wait(for: "explain: cancelled", timeout: 30), t.wait(for: "In [2]:") else { return }
        try t.type(":help"); try t.keys("Enter")
        // less shows the first screen and waits: the top of the help, no new prompt.
        guard t.wait(for: "commands:") else { return }
        // less's own prompt on the last line while it waits for a key.
        let end = Date().addingTimeInterval(8)
        while Date() < end, t.screen.split(separator: "\n").last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) != ":" { usleep(50_000) }
        #expect(t.screen.split(separator: "\n").last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) == ":", "\(t.screen)")
        try t.keys("q")
        try t.type("1 + 1"); try t.keys("Enter")
        guard t.wait(for: "Out[2]: 2") else { return }
    }

    /// `run` on a terminal shows the explain step's bar ticking within a batch (RISE's mask
    /// chunks), not 0 until the whole batch is done.
    @Test(.enabled(if: tmux != nil), .timeLimit(.minutes(2)))
    func runShowsTheExplainBarOnATerminal() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("run-bar-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let yaml = """
        steps:
          - load: {dataset: fashion-mnist, split: test, limit: 4, as: data}
          - model: {path: \(root)/models/lenet-fmnist.onnx, as: lenet}
          - explain: {model: lenet, data: data, methods: [{rise: {masks: 8000}}], as: maps}
        """
        try yaml.write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
        let bin = productsDirectory.appendingPathComponent("saliency-repl").path
        let t = try Terminal(tmux: REPLTmuxTests.tmux!, command: "env TERM=xterm-256color \(bin) run \(dir)/p.yaml --out \(dir)/out; sleep 30")
        guard t.wait(for: "explain maps ", timeout: 60) else { return }
        // A tick inside the only batch: 1, 2 or 3 of 4 maps, before the batch is done.
        let end = Date().addingTimeInterval(60)
        var ticked = false
        while Date() < end, !ticked {
            ticked = ["1/4", "2/4", "3/4"].contains { t.screen.contains($0) }
            usleep(50_000)
        }
        #expect(ticked, "\(t.screen)")
        try t.keys("C-c")
        guard t.wait(for: "interrupted", timeout: 30) else { return }
    }
}
