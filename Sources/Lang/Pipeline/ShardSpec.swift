import Foundation

/// One shard of a sharded pipeline run: shard `index` of `count` (0-based), `run --shard K/N`.
///
/// A shard explains and scores only its share of each comparison's images: whole batches
/// (the comparison's `batch`, 16 images unless set), contiguous, in order, the shards
/// differing by at most one batch. Whole batches, because a batch is the unit the methods
/// and metrics compute on (with a seed from its index in the whole dataset): a shard then
/// computes exactly the blocks an unsharded run computes for the same images, and the merge
/// of all shards is byte-identical to an unsharded run by construction. A dataset smaller
/// than `count` batches leaves some shards without images; they finish at once.
public struct ShardSpec: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw ShardError("the number of shards must be at least 1, got \(count)") }
        guard index >= 0 && index < count else { throw ShardError("shard \(index) does not exist: shards are numbered 0 to \(count - 1) for \(count) shards") }
        self.index = index; self.count = count
    }

    /// "2-of-4": the shard's folder under `OUT/shards/` and its name in messages.
    public var name: String { "\(index)-of-\(count)" }
    public var description: String { name }
    /// How the command line writes it: "2/4".
    public var argument: String { "\(index)/\(count)" }

    /// This shard's images of a comparison of `n` images explained in batches of `batchSize`.
    public func range(images n: Int, batchSize: Int) -> Range<Int> {
        let b = max(batchSize, 1), batches = (n + b - 1) / b
        // Rounded up: the first shards take the extra batches (and a lone batch).
        let lo = (index * batches + count - 1) / count, hi = ((index + 1) * batches + count - 1) / count
        return min(lo * b, n)..<min(hi * b, n)
    }

    /// The shard of `count` whose share holds image `i` of `n`.
    public static func owner(ofImage i: Int, images n: Int, batchSize: Int, count: Int) -> ShardSpec? {
        (0..<max(count, 0)).lazy.compactMap { try? ShardSpec(index: $0, count: count) }.first { $0.range(images: n, batchSize: batchSize).contains(i) }
    }

    /// `K/N`; `auto` (Slurm: the array task's id and count, from `SLURM_ARRAY_TASK_ID` with
    /// `SLURM_ARRAY_TASK_COUNT` or `SLURM_ARRAY_TASK_MIN`/`MAX`); or `auto/N` (the index from
    /// `SLURM_ARRAY_TASK_ID` or Kubernetes' `JOB_COMPLETION_INDEX`, the count given). With
    /// `auto/N` the task id is the shard index as is, so `sbatch --array=2` reruns shard 2.
    public static func parse(_ text: String, environment: [String: String]) throws -> ShardSpec {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        func int(_ s: String, _ what: String) throws -> Int {
            guard let v = Int(s.trimmingCharacters(in: .whitespaces)) else { throw ShardError("--shard \(text): \(what) '\(s)' is not a number") }
            return v
        }
        func env(_ name: String) throws -> Int? {
            guard let v = environment[name], !v.isEmpty else { return nil }
            guard let i = Int(v) else { throw ShardError("--shard \(text): \(name)=\(v) is not a number") }
            return i
        }
        switch (parts.first, parts.count) {
        case ("auto"?, 1):
            guard let id = try env("SLURM_ARRAY_TASK_ID") else {
                if environment["JOB_COMPLETION_INDEX"] != nil {
                    throw ShardError("--shard auto: Kubernetes gives JOB_COMPLETION_INDEX but not the number of completions; pass it: --shard auto/N")
                }
                throw ShardError("--shard auto: not in a Slurm array task (no SLURM_ARRAY_TASK_ID); give the shard: --shard K/N, or --shard auto/N in a Kubernetes indexed job")
            }
            let min = try env("SLURM_ARRAY_TASK_MIN") ?? 0
            guard let count = try env("SLURM_ARRAY_TASK_COUNT") ?? env("SLURM_ARRAY_TASK_MAX").map({ $0 - min + 1 }) else {
                throw ShardError("--shard auto: SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX; give the count: --shard auto/N")
            }
            return try ShardSpec(index: id - min, count: count)
        case ("auto"?, 2):
            let count = try int(parts[1], "the number of shards")
            guard let id = try env("SLURM_ARRAY_TASK_ID") ?? env("JOB_COMPLETION_INDEX") else {
                throw ShardError("--shard \(text): neither SLURM_ARRAY_TASK_ID (a Slurm array task) nor JOB_COMPLETION_INDEX (a Kubernetes indexed job) is set")
            }
            return try ShardSpec(index: id, count: count)
        case (_, 2):
            return try ShardSpec(index: int(parts[0], "the shard"), count: int(parts[1], "the number of shards"))
        default:
            throw ShardError("--shard takes K/N (shard K of N, K from 0), auto (a Slurm array task) or auto/N; got '\(text)'")
        }
    }
}

/// Why a sharded run, a merge or a submission cannot go on.
public struct ShardError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a pipeline run does beyond running every step (`Interpreter.sharding`).
public enum ShardMode {
    /// A plain run.
    case none
    /// `run --fit-only`: explain steps fit their methods that learn from data (or find their
    /// states in the fit cache) and explain nothing; metric and save steps are skipped.
    case fitOnly
    /// `run --shard K/N`: each comparison takes only the shard's images; a fitting method's
    /// state must already be in the fit cache (a shard never fits); save steps are skipped.
    case shard(ShardSpec)
    /// `merge`: every block is read from the shards' stores, nothing is computed; the save
    /// steps run last, once everything has been read.
    case merge(ShardMergeCache)

    /// Whether steps of this kind run in this mode.
    public func runs(_ kind: StepKind) -> Bool {
        switch self {
        case .none, .merge: return true
        case .fitOnly: return kind != .metric && kind != .save
        case .shard: return kind != .save
        }
    }
}

/// Where a sharded run keeps its files, all under the run's output directory `OUT`:
///
///     OUT/shards/K-of-N/.resume/   the shard's finished blocks (the resume store of its run)
///     OUT/shards/K-of-N/status.json  running, done or failed, with the run's configuration
///     OUT/shards/fit.json            the --fit-only run's status
///     OUT/shards/merge.json          the merge's status
///     OUT/slurm/, OUT/k8s/           what `submit` wrote (job scripts, manifests, logs)
public struct ShardLayout: Sendable {
    public let output: String
    public init(output: String) { self.output = output.isEmpty ? "." : output }

    public var root: String { (output as NSString).appendingPathComponent("shards") }
    public func directory(_ s: ShardSpec) -> String { (root as NSString).appendingPathComponent(s.name) }
    public func statusPath(_ s: ShardSpec) -> String { (directory(s) as NSString).appendingPathComponent("status.json") }
    public var fitStatusPath: String { (root as NSString).appendingPathComponent("fit.json") }
    public var mergeStatusPath: String { (root as NSString).appendingPathComponent("merge.json") }

    /// The shard counts N with a folder `K-of-N` under `OUT/shards`, ascending.
    public func counts() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return Set(names.compactMap { name -> Int? in
            let p = name.components(separatedBy: "-of-")
            guard p.count == 2, Int(p[0]) != nil, let n = Int(p[1]), n >= 1 else { return nil }
            return n
        }).sorted()
    }

    /// The shard count to merge or report: `given`, else the only one on disk.
    public func count(given: Int?) throws -> Int {
        if let given { return given }
        let found = counts()
        guard let n = found.first else { throw ShardError("\(root) holds no shards (folders K-of-N): nothing has run with --shard and --out \(output)") }
        guard found.count == 1 else {
            throw ShardError("\(root) holds shards of \(found.map(String.init).joined(separator: " and ")) runs; say which: --shards N")
        }
        return n
    }
}
