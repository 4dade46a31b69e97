import Foundation
import Plugins
import Runtime

/// Finished blocks of a pipeline run, kept under `OUT/.resume/` so that `run --resume` after
/// an interruption (Ctrl-C, SIGTERM, a crash, a failing later step) skips them.
///
/// A block is one (model, method) pair's maps over a comparison's images (`<key>.maps`) or one
/// metric on one such block (`<key>.scores`). Its key is a SHA-256 over everything the result
/// depends on, so a block from another configuration is never reused and `--set` recomputes
/// only what it changes:
/// - maps: the model's content (graph structure, weights, labels), the image bytes, the method
///   and its resolved parameters (defaults filled in, so `{gradcam: {}}` and the explicit
///   default share a block), target, score kind, the batches and their seeds, and the tool
///   version (`saliencyVersion`);
/// - scores: the metric and its resolved parameters, its seed, the model, the images, the
///   ground truth, and the complete stored form of the maps it scores (map, attribution,
///   targets, method diagnostics and the explain time, which "time per map" reads).
///
/// Deliberately not in the key: the model's file name and the pipeline's labels (they do not
/// change results), the thread count (a resumed run on another machine may reuse blocks; maps
/// then equal a fresh run's up to float rounding of parallel reductions, and bit for bit on
/// the same thread count), and the plugins' code beyond the tool version (a changed method
/// within one version needs `rm -r OUT/.resume` or a run without `--resume`).
///
/// Blocks are written atomically (`writeFileAtomically`), so an interrupted write leaves no
/// partial block. Results are stored losslessly (float32 bits, doubles as bit patterns),
/// including the measured explain time: a resumed run's tables, montages and reports are
/// byte-identical to an uninterrupted run's, and the time column shows the time the maps
/// actually took when they were computed (the honest number), not the time to read them.
///
/// Without `reuse` (a run without `--resume`) every block is computed and still stored, so a
/// later `--resume` can pick up from it. A block file that is damaged (checksum, truncation,
/// wrong key) is recomputed with a warning, never trusted and never a crash. Nothing here
/// deletes old blocks: blocks of other configurations stay valid for them (delete
/// `OUT/.resume` to reclaim the space).
public final class ResumeCache: ComparisonBlockCache {
    public let directory: String
    /// Whether stored blocks are used (`--resume`); otherwise they are only written.
    public let reuse: Bool
    public private(set) var reused = 0
    public private(set) var computed = 0
    /// Probe mode (`--dry-run --resume`): nothing is computed or stored; a missing block is
    /// counted in `missing` and stands in as zeros (whose scores are then missing too).
    public let probe: Bool
    public private(set) var missing = 0
    let warn: (String) -> Void
    /// Digests of models already hashed this run; the graph is retained so its identifier
    /// cannot be recycled by another object.
    private var modelDigests: [ObjectIdentifier: (graph: Graph, digest: [UInt8])] = [:]
    /// Recent tensor digests. The comparison's image batch is hashed for every block; Array's
    /// `==` is O(1) when both share storage, so the lookup costs nothing for the common case.
    private var tensorDigests: [(shape: [Int], scalars: [Float], digest: [UInt8])] = []
    private var warnedStoreFailure = false

    public init(directory: String, reuse: Bool, probe: Bool = false, warn: @escaping (String) -> Void) {
        self.directory = directory; self.reuse = reuse || probe; self.probe = probe; self.warn = warn
    }

    /// `OUT/.resume` for an output directory.
    public static func directory(forOutput out: String) -> String {
        ((out.isEmpty ? "." : out) as NSString).appendingPathComponent(".resume")
    }

    // MARK: ComparisonBlockCache

    public func maps(_ block: MapsBlock, compute: () throws -> SaliencyMap) throws -> SaliencyMap {
        let key = try mapsKey(block)
        let path = blockPath(key, ext: "maps")
        let n = block.images.shape[0], h = block.images.shape[2], w = block.images.shape[3]
        if reuse, let stored = load(path, kind: mapsKind, key: key, decode: { r in try r.saliency() }) {
            if stored.method == block.explainer.name && stored.map.shape == [n, 1, h, w] && stored.targets.count == n {
                reused += 1
                return stored
            }
            warn("warning: resume block \(path) does not match its step (method \(stored.method), maps \(stored.map.shape)); recomputing it")
        }
        if probe {
            missing += 1
            // NaN seconds: no stored scores block can match a stand-in.
            return SaliencyMap(map: Tensor(shape: [n, 1, h, w], repeating: 0), method: block.explainer.name,
                               params: try Params.resolve(block.params, schema: block.explainer.parameters, plugin: block.explainer.name),
                               targets: [Int](repeating: 0, count: n), seconds: .nan)
        }
        let result = try compute()
        computed += 1
        store(path, BlockWriter.block(kind: mapsKind, key: key) { $0.saliency(result) })
        return result
    }

    public func scores(_ block: ScoresBlock, compute: () throws -> MetricResult) throws -> MetricResult {
        let key = try scoresKey(block)
        let path = blockPath(key, ext: "scores")
        if reuse, let stored = load(path, kind: scoresKind, key: key, decode: { r in try r.metricResult() }) {
            if stored.values.count == block.images.shape[0] {
                reused += 1
                return stored
            }
            warn("warning: resume block \(path) holds \(stored.values.count) values for \(block.images.shape[0]) images; recomputing it")
        }
        if probe {
            missing += 1
            return MetricResult(values: [Double](repeating: 0, count: block.images.shape[0]))
        }
        let result = try compute()
        computed += 1
        store(path, BlockWriter.block(kind: scoresKind, key: key) { $0.metricResult(result) })
        return result
    }

    // MARK: Keys

    func mapsKey(_ b: MapsBlock) throws -> String {
        let params = try Params.resolve(b.params, schema: b.explainer.parameters, plugin: b.explainer.name)
        var k = KeyHasher("maps")
        k.field("model", digest: modelDigest(b.model))
        k.field("images", digest: tensorDigest(b.images))
        k.field("method", b.explainer.name)
        k.field("params", params)
        k.field("target", Self.describe(b.target))
        k.field("score", b.score.rawValue)
        k.field("batches", b.batches.count)
        for x in b.batches { k.field("batch", x.range.lowerBound); k.field("end", x.range.upperBound); k.field("seed", x.seed) }
        if let f = b.fitKey { k.field("fit", f) }
        return SHA256.hex(k.finalize())
    }

    func scoresKey(_ b: ScoresBlock) throws -> String {
        let params = try Params.resolve(b.params, schema: b.metric.parameters, plugin: b.metric.name)
        var k = KeyHasher("scores")
        k.field("metric", b.metric.name)
        k.field("params", params)
        k.field("seed", b.seed)
        k.field("model", digest: modelDigest(b.model))
        k.field("images", digest: tensorDigest(b.images))
        if let m = b.groundTruth.masks { k.field("masks", digest: tensorDigest(m)) }
        if let boxes = b.groundTruth.boxes {
            k.field("boxes", boxes.count)
            for box in boxes { k.field("box", box.map(String.init).joined(separator: ",")) }
        }
        if let labels = b.groundTruth.labels { k.field("labels", labels.map(String.init).joined(separator: ",")) }
        if let f = b.fitDataset { k.field("fit", f) }
        var w = BlockWriter()
        w.saliency(b.saliency)
        var sha = SHA256()
        sha.update(w.bytes)
        k.field("saliency", digest: sha.finalize())
        return SHA256.hex(k.finalize())
    }

    static func describe(_ t: Target) -> String {
        switch t {
        case .predicted: return "predicted"
        case let .index(i): return "index \(i)"
        case let .name(s): return "name \(s)"
        case let .ranked(k): return "rank \(k)"
        case let .each(ts): return "each [" + ts.map(describe).joined(separator: ", ") + "]"
        }
    }

    /// The model's content (`Graph.contentDigest`: what `forward` reads, not the file name),
    /// computed once per graph object in this run.
    func modelDigest(_ g: Graph) -> [UInt8] {
        if let d = modelDigests[ObjectIdentifier(g)] { return d.digest }
        let d = Array(g.contentDigest.utf8)
        modelDigests[ObjectIdentifier(g)] = (g, d)
        return d
    }

    func tensorDigest(_ t: Tensor) -> [UInt8] {
        if let hit = tensorDigests.first(where: { $0.shape == t.shape && $0.scalars == t.scalars }) { return hit.digest }
        var k = KeyHasher("tensor")
        k.field("t", floats: t)
        let d = k.finalize()
        tensorDigests.append((t.shape, t.scalars, d))
        // Images and masks of the comparisons in flight; older ones only hold memory.
        if tensorDigests.count > 4 { tensorDigests.removeFirst() }
        return d
    }

    // MARK: Files

    let mapsKind = UInt8(ascii: "M"), scoresKind = UInt8(ascii: "S")

    func blockPath(_ key: String, ext: String) -> String { (directory as NSString).appendingPathComponent("\(key).\(ext)") }

    /// The stored block, or nil when there is none or it cannot be used (with a warning).
    func load<T>(_ path: String, kind: UInt8, key: String, decode: (inout BlockReader) throws -> T) -> T? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            warn("warning: cannot read resume block \(path); recomputing it")
            return nil
        }
        do {
            var r = try BlockReader(block: [UInt8](data), kind: kind, key: key)
            let v = try decode(&r)
            try r.finish()
            return v
        } catch {
            warn("warning: resume block \(path) is unusable (\(error)); recomputing it")
            return nil
        }
    }

    /// Stores a finished block. A failure to store (disk full, read-only directory) costs only
    /// resumability, never the run: it is reported once and the run goes on.
    func store(_ path: String, _ bytes: [UInt8]) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try writeFileAtomically(bytes, to: path)
        } catch {
            let why = error is IOError ? "\(error)" : error.localizedDescription
            if !warnedStoreFailure { warn("warning: cannot store resume blocks in \(directory) (\(why)); this run cannot be resumed") }
            warnedStoreFailure = true
        }
    }

    /// How many block files are under `directory` (any configuration).
    public var storedBlockCount: Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".maps") || $0.hasSuffix(".scores") }.count
    }
}
