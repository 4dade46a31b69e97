import Dispatch
import Foundation

/// A one-line progress bar on stderr: label, bar, done/total, rate, ETA. Silent when stderr
/// is not a terminal or when quiet, so logs and CI output stay clean. Redraws at most ten
/// times a second.
public final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let total: Int
    private let enabled: Bool
    private let start = DispatchTime.now().uptimeNanoseconds
    private var lastDraw: UInt64 = 0
    private var done = 0
    private let lock = NSLock()

    public init(_ label: String, total: Int, quiet: Bool = false) {
        self.label = label
        self.total = max(total, 1)
        self.enabled = !quiet && isatty(STDERR_FILENO) != 0
    }

    public func update(_ done: Int) {
        lock.lock(); defer { lock.unlock() }
        self.done = min(done, total)
        let now = DispatchTime.now().uptimeNanoseconds
        guard enabled, now - lastDraw > 100_000_000 || self.done == total else { return }
        lastDraw = now
        draw(now: now)
    }

    public func advance(by n: Int = 1) {
        lock.lock(); let d = done + n; lock.unlock()
        update(d)
    }

    /// Clears the line (the caller prints the step's summary next).
    public func finish() {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }

    private func draw(now: UInt64) {
        let elapsed = Double(now - start) / 1e9
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 24, filled = width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = "\r\u{1B}[2K\(label) \(bar) \(done)/\(total)  \(String(format: "%.1f", rate))/s  ETA \(ProgressBar.clock(eta))"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
