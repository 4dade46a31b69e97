import Foundation

/// The largest single buffer the process agrees to allocate for input it did not choose: a
/// decompressed file, a decoded image, a tensor whose shape comes from a model file, a
/// dataset stacked into one batch. Without it, a 6 MB gzip or an 875 KB PNG that claims
/// 30000x30000 pixels ends in "failed to allocate" (an abort) instead of an error.
///
/// Checked before the allocation, never after: readers and kernels compute the size from a
/// header or from attributes and call `check`. It bounds each buffer, not the sum of all
/// (the process needs a few buffers of the largest size at once), so the default is half
/// of physical memory. `--max-memory` sets it for a run; tests scope it with `withLimit`.
public enum MemoryBudget {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var processLimit = defaultLimit
    /// A limit for the current task only (tests run in parallel and must not see each other's).
    @TaskLocal static var scopedLimit: Int?

    /// Half of physical memory.
    public static var defaultLimit: Int { Int(clamping: ProcessInfo.processInfo.physicalMemory / 2) }

    /// The budget in bytes.
    public static var limit: Int {
        get { scopedLimit ?? lock.withLock { processLimit } }
        set { lock.withLock { processLimit = Swift.max(newValue, 1) } }
    }

    /// Runs `body` with the budget set to `bytes` for this task (and the code it calls on this thread).
    public static func withLimit<R>(_ bytes: Int, _ body: () throws -> R) rethrows -> R {
        try $scopedLimit.withValue(bytes, operation: body)
    }

    /// Throws unless `bytes` fit in the budget; `what` says what the bytes are for
    /// ("decoding photo.png (30000x30000 pixels)").
    public static func check(_ bytes: Int, _ what: @autoclosure () -> String) throws {
        let l = limit
        if bytes > l { throw MemoryBudgetExceeded(what: what(), bytes: bytes, limit: l) }
    }

    /// Throws unless a Float32 tensor of `shape` fits (overflow of the element count counts as
    /// not fitting).
    public static func check(shape: [Int], elementSize: Int = 4, _ what: @autoclosure () -> String) throws {
        guard let n = bytes(shape: shape, elementSize: elementSize) else {
            throw MemoryBudgetExceeded(what: what(), bytes: Int.max, limit: limit)
        }
        try check(n, what())
    }

    /// The bytes of a dense array of `shape`, nil when negative or overflowing.
    public static func bytes(shape: [Int], elementSize: Int = 4) -> Int? {
        var total = elementSize
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, o) = total.multipliedReportingOverflow(by: d)
            if o { return nil }
            total = p
        }
        return total
    }

    /// "512M", "8G", "1.5GB", "2048" (bytes), "50%" (of physical memory).
    public static func parse(_ text: String) -> Int? {
        let s = text.trimmingCharacters(in: .whitespaces).uppercased()
        if s.hasSuffix("%"), let p = Double(s.dropLast()), p > 0, p <= 100 {
            return Int(Double(ProcessInfo.processInfo.physicalMemory) * p / 100)
        }
        let (k, m, g, t) = (1024.0, 1024.0 * 1024, 1024.0 * 1024 * 1024, 1024.0 * 1024 * 1024 * 1024)
        let units: [(String, Double)] = [("TB", t), ("GB", g), ("MB", m), ("KB", k), ("T", t), ("G", g), ("M", m), ("K", k), ("B", 1)]
        var number = Substring(s), scale = 1.0
        if let (suffix, f) = units.first(where: { s.hasSuffix($0.0) }) { number = s.dropLast(suffix.count); scale = f }
        guard let v = Double(number.trimmingCharacters(in: .whitespaces)), v.isFinite, v > 0, v * scale < 9e18 else { return nil }
        return Swift.max(Int(v * scale), 1)
    }

    /// Bytes for people: "6.4 GB", "512 MB", "17 bytes".
    public static func format(_ bytes: Int) -> String {
        if bytes == Int.max { return "more than 9 EB" }
        let units: [(String, Double)] = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)]
        for (name, size) in units where Double(bytes) >= size { return String(format: "%.1f ", Double(bytes) / size) + name }
        return "\(bytes) bytes"
    }
}

/// An allocation the memory budget refused: what it was for, how large, and the budget.
public struct MemoryBudgetExceeded: Error, CustomStringConvertible, Sendable {
    public let what: String
    public let bytes: Int
    public let limit: Int
    /// The size is a lower bound (a decompression stopped when it crossed the budget).
    public let atLeast: Bool
    public init(what: String, bytes: Int, limit: Int, atLeast: Bool = false) {
        self.what = what; self.bytes = bytes; self.limit = limit; self.atLeast = atLeast
    }
    public var description: String {
        "\(what) needs \(atLeast ? "more than " : "")\(MemoryBudget.format(atLeast ? limit : bytes)), over the memory budget of \(MemoryBudget.format(limit)) "
            + "(--max-memory sets it; the default is half of physical memory)"
    }
}
