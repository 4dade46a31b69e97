import Foundation
import Lang
import Plugins
import Runtime

/// The interactive loop: numbered cells, continuation prompts, Ctrl-C cancels the running
/// cell (SIGINT sets the shared token that loops and plugins poll), Ctrl-D leaves.
func runREPL(plugins: [String] = []) -> Int32 {
    let term = Terminal()
    let session = Session(cancellation: interruptToken, display: { term.draw($0) })
    if term.stdinIsTTY && term.stdoutIsTTY { session.pager = { term.page($0) } }
    installInterruptHandler()
    guard loadPlugins(plugins, into: session.interpreter, term: term, announce: term.stdinIsTTY) else { return 65 }
    var reader: LineReader = term.stdinIsTTY ? ReadlineReader(session: session) : PlainReader()
    if term.stdinIsTTY {
        print("saliency-repl \(saliencyVersion): :help for commands, Ctrl-D to quit")
    }
    while true {
        let number = session.nextNumber
        let prompt = term.stdinIsTTY ? "In [\(number)]: " : ""
        let more = term.stdinIsTTY ? String(repeating: " ", count: max(0, prompt.count - 5)) + "...: " : ""
        guard var code = reader.read(prompt: prompt) else { break }
        if reader.interrupted { continue }
        var outcome = session.run(code)
        var cancelledInput = false
        while case .incomplete = outcome {
            guard let next = reader.read(prompt: more) else { break }
            if reader.interrupted { cancelledInput = true; break }
            code += "\n" + next
            outcome = session.run(code)
        }
        if cancelledInput { continue }
        reader.remember(code)
        switch outcome {
        case let .value(n, v?): term.show(v, label: "Out[\(n)]: ")
        case .value: break
        case .incomplete:
            // End of input inside an unfinished cell: report what is missing.
            if let e = session.parseError(code) { term.error(e) }
        case let .error(e):
            // After Ctrl-C the terminal shows "^C" with no newline.
            if e.contains("cancelled") && term.stdinIsTTY { print("") }
            term.error(e)
        case .quit: return 0
        }
        interruptToken.reset()
    }
    if term.stdinIsTTY { print("") }
    return 0
}
