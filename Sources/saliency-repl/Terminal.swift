import CReadline
import Foundation
import Lang
import Runtime

/// How output reaches the terminal: colours and pictures only on a real terminal.
struct Terminal {
    let stdoutIsTTY = isatty(STDOUT_FILENO) == 1
    let stdinIsTTY = isatty(STDIN_FILENO) == 1
    var rich: Bool { stdoutIsTTY && ProcessInfo.processInfo.environment["TERM"] != "dumb" }

    /// Columns of the terminal (TIOCGWINSZ), 80 when unknown.
    var width: Int {
        var ws = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 { return Int(ws.ws_col) }
        return 80
    }

    func draw(_ item: OutputItem) {
        switch item {
        case let .text(s): print(s)
        case let .table(t): print(t.rendered())
        case let .image(pic, caption):
            print(rich ? TerminalImage.color(pic, maxColumns: width - 1) : TerminalImage.ascii(pic, maxColumns: min(width - 1, 64)))
            if !caption.isEmpty { print(caption) }
        }
        fflush(sal_stdout())
    }

    /// Rows of the terminal, 24 when unknown.
    var height: Int {
        var ws = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_row > 0 { return Int(ws.ws_row) }
        return 24
    }

    /// Long text through $PAGER (default `less -FRX`: quits at once when it fits, keeps the
    /// text on screen afterwards) on an interactive terminal; printed otherwise or when no
    /// pager can start.
    func page(_ text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
        guard stdinIsTTY, stdoutIsTTY, lines >= height - 1 else { draw(.text(text)); return }
        let env = ProcessInfo.processInfo.environment
        let command = env["PAGER"].flatMap { $0.isEmpty ? nil : $0 } ?? "less -FRX"
        fflush(sal_stdout())
        // popen keeps the pager in our process group, the terminal's foreground one, so it
        // can read keys (Foundation's Process starts children in a group of their own, where
        // reading the terminal stops them). Quitting the pager early closes the pipe: ignore
        // SIGPIPE meanwhile, so the REPL is not killed by the rest of the write.
        guard let pipe = popen(command, "w") else { draw(.text(text)); return }
        let previous = signal(SIGPIPE, SIG_IGN)
        fputs(text + "\n", pipe)
        let status = pclose(pipe)
        signal(SIGPIPE, previous)
        // 127: the shell found no such pager; the text is still owed.
        if status != -1 && (status >> 8) & 0xFF == 127 { draw(.text(text)) }
    }

    func error(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    /// A value's display after `Out[n]:` — a one-line summary, then the table or picture.
    func show(_ v: Value, label: String) {
        switch v {
        case let .table(t): print(label + v.summary); print(t.rendered())
        default:
            print(label + v.summary)
            if let (pic, caption) = try? Builtins.picture(v) { draw(.image(pic, caption: caption)) }
        }
        fflush(sal_stdout())
    }
}
