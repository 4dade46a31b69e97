import Dispatch
import Foundation

/// A one-line progress bar on stderr: label, bar, done/total, rate, ETA. Silent when stderr
/// is not a terminal or when quiet, so logs and CI output stay clean. Redraws at most ten
/// times a second. A front end that draws bars itself (the Jupyter kernel) sets `sink`.
public final class ProgressBar: @unchecked Sendable {
    /// One redraw for a sink: `id` tells bars apart, `line` is the bar's text.
    public struct Update: Sendable {
        public let id: Int
        public let line: String
        public init(id: Int, line: String) { self.id = id; self.line = line }
    }

    /// Where bars go instead of stderr; process-wide, as a process has one front end.
    public static var sink: (@Sendable (Update) -> Void)? {
        get { sinkLock.withLock { sinkStorage } }
        set { sinkLock.withLock { sinkStorage = newValue } }
    }
    private static let sinkLock = NSLock()
    nonisolated(unsafe) private static var sinkStorage: (@Sendable (Update) -> Void)?
    nonisolated(unsafe) private static var nextID = 0

    private let label: String
    private let total: Int
    private let enabled: Bool
    private let sink: (@Sendable (Update) -> Void)?
    private let id: Int
    private let start = DispatchTime.now().uptimeNanoseconds
    private var lastDraw: UInt64 = 0
    private var done = 0
    private let lock = NSLock()

    public init(_ label: String, total: Int, quiet: Bool = false) {
        self.label = label
        self.total = max(total, 1)
        sink = ProgressBar.sink
        id = ProgressBar.sinkLock.withLock { ProgressBar.nextID += 1; return ProgressBar.nextID }
        self.enabled = !quiet && (sink != nil || isatty(STDERR_FILENO) != 0)
    }

    public func update(_ done: Int) {
        lock.lock(); defer { lock.unlock() }
        self.done = min(done, total)
        let now = DispatchTime.now().uptimeNanoseconds
        guard enabled, now - lastDraw > 100_000_000 || self.done == total else { return }
        // A sink's drawings stay in the notebook: work done within half a second shows none.
        if sink != nil && now - start < 500_000_000 { return }
        lastDraw = now
        draw(now: now)
    }

    public func advance(by n: Int = 1) {
        lock.lock(); let d = done + n; lock.unlock()
        update(d)
    }

    /// Clears the line (the caller prints the step's summary next); called when the work is done.
    public func finish() {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        if sink != nil {
            // A notebook keeps its bar: shown full, whatever the last count reported was.
            if lastDraw > 0 { done = total; draw(now: DispatchTime.now().uptimeNanoseconds) }
            return
        }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }

    private func draw(now: UInt64) {
        let elapsed = Double(now - start) / 1e9
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 24, filled = width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = "\(label) \(bar) \(done)/\(total)  \(String(format: "%.1f", rate))/s  ETA \(ProgressBar.clock(eta))"
        if let sink { sink(Update(id: id, line: line)); return }
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
