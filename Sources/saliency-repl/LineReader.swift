import CReadline
import Foundation
import Glibc
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

/// SIGINT cancels the running cell (or the line being typed). Installed without
/// SA_RESTART so a blocked read returns EINTR and the line reader can react.
func installInterruptHandler() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in interruptToken.cancel() }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(SIGINT, &action, nil)
    // A parent may hand us SIGINT blocked (spawned from a process that blocks it): unblock.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

struct ReadlineReader: LineReader {
    let historyPath: String
    var interrupted = false

    init(session: Session) {
        historyPath = ((ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()) as NSString).appendingPathComponent(".saliency_history")
        completionSession = session
        stifle_history(1000)
        _ = read_history(historyPath)
        // Word breaks exclude '.', '/', ':' and '-' so member access, paths and commands
        // reach the completer whole; the completer computes its own start.
        sal_set_completer_word_break_characters(" \t\n\"'(),[]{}=+*<>!|")
        sal_set_attempted_completion_function { text, start, _ in
            sal_set_attempted_completion_over(1)
            sal_set_completion_append_character(0)
            guard let session = completionSession, let text else { return nil }
            let line = String(cString: sal_line_buffer())
            let bytes = Array(line.utf8)
            let cursorChars = String(decoding: bytes.prefix(Int(sal_point())), as: UTF8.self).count
            let startChars = String(decoding: bytes.prefix(Int(start)), as: UTF8.self).count
            let (myStart, candidates) = session.completions(line: line, cursor: cursorChars)
            let chars = Array(line)
            // Readline replaces [start, end) with each match: adapt our word start to its.
            pendingMatches = candidates.compactMap { c in
                if myStart >= startChars { return String(chars[startChars..<myStart]) + c }
                let skip = startChars - myStart
                return c.count >= skip ? String(c.dropFirst(skip)) : nil
            }
            guard !pendingMatches.isEmpty else { return nil }
            return rl_completion_matches(text) { _, state in
                let i = Int(state)
                guard i < pendingMatches.count else { return nil }
                return strdup(pendingMatches[i])
            }
        }
        // Ctrl-C at the prompt drops the line. Readline's own signal handling defers SIGINT
        // and keeps reading, which swallowed the next keystroke; instead readline leaves
        // signals to us (the SIGINT handler is installed without SA_RESTART), and our getc
        // sees the interrupted read, clears the line and ends it.
        sal_set_catch_signals(0)
        sal_set_getc_function { file in
            var c: UInt8 = 0
            while true {
                let n = Glibc.read(fileno(file), &c, 1)
                if n == 1 { return Int32(c) }
                if n == 0 { return EOF }
                guard errno == EINTR else { return EOF }
                if interruptToken.isCancelled {
                    promptInterrupted = true
                    rl_replace_line("", 0)
                    return 10
                }
            }
        }
    }

    mutating func read(prompt: String) -> String? {
        promptInterrupted = false
        guard let p = readline(prompt) else { return nil }
        defer { free(p) }
        interrupted = promptInterrupted
        if interrupted { interruptToken.reset() }
        return String(cString: p)
    }

    func remember(_ entry: String) {
        guard !entry.trimmingCharacters(in: .whitespaces).isEmpty else { return }
        add_history(entry)
        _ = write_history(historyPath)
    }
}
