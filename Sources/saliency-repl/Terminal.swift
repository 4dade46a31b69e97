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
