import CReadline
import Foundation
import Lang
import Plugins

/// Reads one line: readline on a terminal (editing, history, completion), plain stdin
/// otherwise (readline would echo prompts and input into a pipe).
protocol LineReader {
    /// nil at end of input (Ctrl-D).
    mutating func read(prompt: String) -> String?
    /// The read was interrupted by Ctrl-C (the line is dropped).
    var interrupted: Bool { get set }
    func remember(_ entry: String)
}

struct PlainReader: LineReader {
    var interrupted = false
    mutating func read(prompt: String) -> String? { Swift.readLine(strippingNewline: true) }
    func remember(_ entry: String) {}
}

// Readline's callbacks are C function pointers: they reach the session through globals.
nonisolated(unsafe) var completionSession: Session?
nonisolated(unsafe) var pendingMatches: [String] = []
nonisolated(unsafe) var promptInterrupted = false

/// Set by the SIGINT handler; the REPL cancels running cells with it.
let interruptToken = CancellationToken()

struct ReadlineReader: LineReader {
    let historyPath: String
    var interrupted = false

    init(session: Session) {
        historyPath = (NSHomeDirectory() as NSString).appendingPathComponent(".saliency_history")
        completionSession = session
        stifle_history(1000)
        _ = read_history(historyPath)
        // Word breaks exclude '.', '/', ':' and '-' so member access, paths and commands
        // reach the completer whole; the completer computes its own start.
        sal_set_completer_word_break_characters(" \t\n\"'(),[]{}=+*<>!|")
        sal_set_attempted_completion_function { text, start, end in
            sal_set_attempted_completion_over(1)
            sal_set_completion_append_character(0)
            guard let session = completionSession, let text else { return nil }
            let line = String(cString: sal_line_buffer())
            let cursorChars = String(decoding: Array(line.utf8).prefix(Int(sal_point())), as: UTF8.self).count
            let startChars = String(decoding: Array(line.utf8).prefix(Int(start)), as: UTF8.self).count
            let (myStart, candidates) = session.completions(line: line, cursor: cursorChars)
            let chars = Array(line)
            // Readline replaces [start, end) with each match: adapt our word start to its.
            pendingMatches = candidates.compactMap { c in
                if myStart >= startChars { return String(chars[startChars..<myStart]) + c }
                let skip = startChars - myStart
                return c.count >= skip ? String(c.dropFirst(skip)) : nil
            }
            _ = end
            guard !pendingMatches.isEmpty else { return nil }
            return rl_completion_matches(text) { _, state in
                let i = Int(state)
                guard i < pendingMatches.count else { return nil }
                return strdup(pendingMatches[i])
            }
        }
        sal_set_signal_event_hook {
            // Ctrl-C at the prompt: drop the line and return from readline.
            if interruptToken.isCancelled {
                promptInterrupted = true
                rl_replace_line("", 0)
                sal_set_done(1)
            }
            return 0
        }
    }

    mutating func read(prompt: String) -> String? {
        promptInterrupted = false
        guard let p = readline(prompt) else { return nil }
        defer { free(p) }
        interrupted = promptInterrupted
        if interrupted { interruptToken.reset(); print("^C") }
        return String(cString: p)
    }

    func remember(_ entry: String) {
        guard !entry.trimmingCharacters(in: .whitespaces).isEmpty else { return }
        add_history(entry)
        _ = write_history(historyPath)
    }
}
