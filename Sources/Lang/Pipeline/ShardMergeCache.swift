import Foundation
import Plugins

/// `merge`'s block store: the finished blocks of every shard, read from each shard's resume
/// store (`OUT/shards/K-of-N/.resume`). The merge runs the pipeline unsharded over these
/// blocks: every maps and scores block it asks for was computed by exactly one shard (the one
/// whose share holds the block's images, `ShardSpec.owner`) under the same key, so the
/// outputs are assembled by the very code an unsharded run uses. Nothing is ever computed: a
/// block that is missing or unusable stops the merge with the shard it belongs to named.
public final class ShardMergeCache {
    let layout: ShardLayout
    let count: Int
    let record: ShardRunRecord
    /// One read-only store per shard, with the last warning it gave (a damaged block).
    private var stores: [ResumeCache] = []
    private var lastWarning: [String?]
    public private(set) var read = 0

    public init(layout: ShardLayout, count: Int, record: ShardRunRecord) throws {
        self.layout = layout; self.count = count; self.record = record
        lastWarning = [String?](repeating: nil, count: count)
        for k in 0..<count {
            let dir = ResumeCache.directory(forOutput: layout.directory(try ShardSpec(index: k, count: count)))
            stores.append(ResumeCache(directory: dir, reuse: true, warn: { [unowned self] in self.lastWarning[k] = $0 }))
        }
    }

    /// The store for one comparison of `images` images in batches of `batchSize`.
    func comparison(images: Int, batchSize: Int) -> any ComparisonBlockCache {
        ShardBlockReader(merge: self, images: images, batchSize: batchSize)
    }

    /// Reads a block from the shard that owns `range`; `lookup` gets that shard's store and the
    /// `compute` closure to hand it, which fails the merge (a store calls it on a miss).
    func block<T>(range: Range<Int>, images: Int, batchSize: Int, what: String,
                  _ lookup: (ResumeCache, () throws -> T) throws -> T) throws -> T {
        guard let owner = ShardSpec.owner(ofImage: range.lowerBound, images: images, batchSize: batchSize, count: count) else {
            throw ShardError("no shard of \(count) holds images \(range) of \(images)")
        }
        lastWarning[owner.index] = nil
        let value = try lookup(stores[owner.index]) {
            // The store's warning says it would recompute the block; a merge never does.
            let why = lastWarning[owner.index].map { w in
                "its block is damaged: " + w.replacingOccurrences(of: "warning: ", with: "").replacingOccurrences(of: "; recomputing it", with: "")
            } ?? "it has no block for these images"
            throw ShardError("shard \(owner.name) cannot be merged: \(what), images \(range.lowerBound)..<\(range.upperBound): \(why); "
                + "nothing was written. Rerun the shard: \(record.rerun(owner, output: layout.output))")
        }
        read += 1
        return value
    }
}

/// A comparison's view of the merge store: knows the comparison's size, to find each block's shard.
final class ShardBlockReader: ComparisonBlockCache {
    let merge: ShardMergeCache, images: Int, batchSize: Int
    init(merge: ShardMergeCache, images: Int, batchSize: Int) { self.merge = merge; self.images = images; self.batchSize = batchSize }

    func maps(_ block: MapsBlock, compute: () throws -> SaliencyMap) throws -> SaliencyMap {
        let range = block.batches.first?.range ?? 0..<0
        return try merge.block(range: range, images: images, batchSize: batchSize, what: "the maps of \(block.explainer.name)") { store, fail in
            try store.maps(block, compute: fail)
        }
    }

    func scores(_ block: ScoresBlock, compute: () throws -> MetricResult) throws -> MetricResult {
        try merge.block(range: block.range, images: images, batchSize: batchSize,
                        what: "\(block.metric.name) on the maps of \(block.saliency.method)") { store, fail in
            try store.scores(block, compute: fail)
        }
    }
}

extension Interpreter {
    /// Where `compare` and `score` keep and find blocks of a comparison of `images` images in
    /// batches of `batchSize`: the run's resume store, or in a merge the shards' stores.
    func comparisonCache(images: Int, batchSize: Int) -> (any ComparisonBlockCache)? {
        if case let .merge(m) = sharding { return m.comparison(images: images, batchSize: batchSize) }
        return resumeCache
    }
}
