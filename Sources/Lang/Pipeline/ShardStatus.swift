import Foundation
import Runtime

/// What a sharded run was started with: enough for `merge` to run the same pipeline with the
/// same settings, and to refuse shards that ran something else.
public struct ShardRunRecord: Codable, Sendable, Equatable {
    /// The pipeline file as given on the command line (relative to `directory`).
    public var pipeline: String
    /// The working directory of the run.
    public var directory: String
    /// SHA-256 of the pipeline text, so a pipeline edited after the shards ran is noticed.
    public var sha256: String
    /// `--set` overrides as given (`params.n=8`).
    public var overrides: [String]
    /// `--plugin` paths as given.
    public var plugins: [String]

    public init(pipeline: String, directory: String, text: String, overrides: [String], plugins: [String]) {
        self.pipeline = pipeline; self.directory = directory; self.sha256 = Self.sha256(of: text)
        self.overrides = overrides; self.plugins = plugins
    }

    public static func sha256(of text: String) -> String {
        var h = SHA256()
        h.update(Array(text.utf8))
        return SHA256.hex(h.finalize())
    }

    /// The command that reruns one shard (what error messages suggest).
    public func rerun(_ s: ShardSpec, output: String) -> String {
        (["saliency-repl", "run", pipeline, "--shard", s.argument, "--out", output, "--resume"] + overrides.flatMap { ["--set", $0] }
            + plugins.flatMap { ["--plugin", $0] }).joined(separator: " ")
    }
}

/// `OUT/shards/K-of-N/status.json` (and `fit.json`, `merge.json`): the state of one job of a
/// sharded run, written atomically when it starts and when it ends. `saliency-repl status`
/// reads these files and nothing else, so it works the same under Slurm, Kubernetes or by hand.
public struct ShardStatus: Codable, Sendable {
    public enum State: String, Codable, Sendable { case running, done, failed }
    /// "2-of-4", "fit" or "merge".
    public var job: String
    public var state: State
    public var run: ShardRunRecord
    public var host: String
    public var pid: Int32
    public var started: String
    public var finished: String?
    public var seconds: Double?
    /// CPU time of the process (user + system), seconds: what the job cost, whatever else ran.
    public var cpuSeconds: Double?
    /// Blocks (maps, scores) computed and reused from an earlier attempt (`--resume`).
    public var computed: Int?
    public var reused: Int?
    public var error: String?

    /// A job starting now in this process.
    public init(job: String, run: ShardRunRecord) {
        self.job = job; self.state = .running; self.run = run
        host = ProcessInfo.processInfo.hostName
        pid = getpid()
        started = ISO8601DateFormatter().string(from: Date())
    }

    public func write(to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFileAtomically(Array(try e.encode(self)) + [10], to: path)
    }

    /// The status at `path`: nil when there is none; a damaged file is an error.
    public static func read(_ path: String) throws -> ShardStatus? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do { return try JSONDecoder().decode(ShardStatus.self, from: data) } catch {
            throw ShardError("\(path) is damaged (not a status file: \(error))")
        }
    }

    /// Marks the job finished (done, or failed with `error`) after `seconds`.
    public mutating func finish(error: String?, seconds: Double, computed: Int? = nil, reused: Int? = nil) {
        state = error == nil ? .done : .failed
        self.error = error
        self.seconds = seconds; self.computed = computed; self.reused = reused
        var usage = rusage()
        if getrusage(RUSAGE_SELF.rawValue, &usage) == 0 {
            func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
            cpuSeconds = s(usage.ru_utime) + s(usage.ru_stime)
        }
        finished = ISO8601DateFormatter().string(from: Date())
    }

    /// A running job on this host whose process is gone was killed (SIGKILL, a node reboot)
    /// before it could record how it ended.
    public var isStale: Bool {
        state == .running && host == ProcessInfo.processInfo.hostName && kill(pid, 0) != 0 && errno == ESRCH
    }

    /// One line for `status` and for merge's refusal.
    public var summary: String {
        switch state {
        case .done:
            var s = "done"
            if let t = seconds { s += String(format: " in %.1f s", t) + (cpuSeconds.map { String(format: " (%.1f s CPU)", $0) } ?? "") }
            if let c = computed, let r = reused { s += ", \(c) block(s) computed" + (r > 0 ? ", \(r) reused" : "") }
            return s + " (\(host))"
        case .running:
            return isStale ? "stopped: process \(pid) on \(host) is gone (killed?) since \(started)" : "running on \(host) (pid \(pid)) since \(started)"
        case .failed:
            let first = (error ?? "").split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? "unknown error"
            return "failed: \(first)"
        }
    }
}

/// The state of every job of a sharded run, from its files.
public struct ShardReport {
    public let layout: ShardLayout
    public let count: Int
    public let fit: ShardStatus?
    public let merge: ShardStatus?
    /// Per shard: its status, nil when it never started, or why its file cannot be read.
    public let shards: [(spec: ShardSpec, status: ShardStatus?, damage: String?)]

    public init(layout: ShardLayout, count: Int) throws {
        self.layout = layout; self.count = count
        fit = try? ShardStatus.read(layout.fitStatusPath)
        merge = try? ShardStatus.read(layout.mergeStatusPath)
        shards = try (0..<count).map { k in
            let s = try ShardSpec(index: k, count: count)
            do { return (s, try ShardStatus.read(layout.statusPath(s)), nil) } catch { return (s, nil, "\(error)") }
        }
    }

    /// Shards that are not done, with why.
    public var unfinished: [(spec: ShardSpec, why: String)] {
        shards.compactMap { s in
            if let d = s.damage { return (s.spec, d) }
            guard let st = s.status else { return (s.spec, "never started (no \(layout.statusPath(s.spec)))") }
            return st.state == .done ? nil : (s.spec, st.summary)
        }
    }

    /// What `saliency-repl status OUT` prints.
    public func rendered() -> String {
        var lines = ["\(layout.output): \(count) shard(s)" + (shards.compactMap(\.status).first.map { " of \($0.run.pipeline)" } ?? "")]
        lines.append("  fit     " + (fit?.summary ?? "not run (no --fit-only run recorded)"))
        var tally: [String: Int] = [:]
        for s in shards {
            let line: String, kind: String
            if let d = s.damage { line = d; kind = "failed" }
            else if let st = s.status {
                line = st.summary
                kind = st.state == .running ? (st.isStale ? "failed" : "running") : st.state.rawValue
            } else { line = "not started"; kind = "not started" }
            tally[kind, default: 0] += 1
            lines.append("  " + s.spec.name.padding(toLength: max(8, s.spec.name.count + 1), withPad: " ", startingAt: 0) + line)
        }
        lines.append("  merge   " + (merge?.summary ?? "not run"))
        lines.append(["done", "running", "failed", "not started"].map { "\(tally[$0, default: 0]) \($0)" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}
