import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// Counts its calls (a class so the count survives the explainer being copied into the registry).
final class CallCounter: @unchecked Sendable {
    private var calls: [String: Int] = [:]
    private let lock = NSLock()
    func add(_ key: String) { lock.lock(); calls[key, default: 0] += 1; lock.unlock() }
    func count(_ key: String) -> Int { lock.lock(); defer { lock.unlock() }; return calls[key, default: 0] }
}

/// A seeded, parameterised map with per-image scalars and curves (NaN included), counting
/// its calls: exercises every field a block stores.
struct CountingExplainer: Explainer {
    let name = "test_counting"
    let summary = "scaled |x| plus seeded noise, counting calls (test)"
    let reference = "test"
    let counter: CallCounter
    var parameters: [ParamSpec] {
        [ParamSpec("scale", .float, default: .float(1), range: 0...10, doc: "factor"),
         ParamSpec("tag", .string, default: .string("a"), doc: "ignored by the map; part of the key")]
    }
    func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        let scale = try ctx.params.float("scale")
        counter.add("explain scale=\(scale)")
        let n = ctx.images.shape[0]
        let noise = Tensor.uniform([n, 1, ctx.images.shape[2], ctx.images.shape[3]], rng: &ctx.rng)
        let map = ctx.images.abs().max(axis: 1, keepDims: true) * Float(scale) + noise * 0.01
        return Explanation(map: map, attribution: ctx.images * 2,
                           scalars: ["gap": (0..<n).map { $0 == 0 ? .nan : Double($0) / 3 }],
                           curves: ["loss": (0..<n).map { [1, 0.5, Double($0)] }])
    }
}

/// Mean map value with a curve, counting its calls.
struct CountingMetric: Metric {
    let name = "test_counting_mean"
    let summary = "mean map value with a curve, counting calls (test)"
    let reference = "test"
    let direction = MetricDirection.neither
    let counter: CallCounter
    func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        counter.add("metric \(try ctx.saliency.params.float("scale"))")
        let m = ctx.saliency.map, n = m.shape[0], per = m.count / n
        let values = (0..<n).map { i in Double(m.scalars[(i * per)..<((i + 1) * per)].reduce(0, +)) / Double(per) }
        return MetricResult(values: values, curves: values.map { [(x: 0, y: $0), (x: 1, y: $0 / 2)] }, extras: ["twice": values.map { $0 * 2 }])
    }
}

@Suite("Resume cache")
struct ResumeCacheTests {
    let counter = CallCounter()
    var registry: Registry {
        let r = langTestRegistry()
        r.register(CountingExplainer(counter: counter))
        r.register(CountingMetric(counter: counter))
        return r
    }

    func images() -> Tensor { Tensor(shape: [3, 1, 28, 28], data: (0..<(3 * 28 * 28)).map { Float(($0 * 37) % 101) / 101 }) }

    func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func methods(scale2: Double = 2) -> [MethodSpec] {
        [MethodSpec("test_counting"), MethodSpec("test_counting", params: ["scale": .float(scale2)], label: "scaled")]
    }

    func compare(_ cache: ResumeCache?, _ model: Graph, scale2: Double = 2, seed: UInt64 = 5, batch: Int = 2) throws -> ComparisonMaps {
        try Comparison.explainAll(models: [("m", model)], methods: methods(scale2: scale2), images: images(), seed: seed,
                                  registry: registry, batchSize: batch, cache: cache)
    }

    func expectBitIdentical(_ a: SaliencyMap, _ b: SaliencyMap) {
        #expect(a.map.shape == b.map.shape && a.map.scalars.map(\.bitPattern) == b.map.scalars.map(\.bitPattern))
        #expect(a.attribution?.scalars.map(\.bitPattern) == b.attribution?.scalars.map(\.bitPattern))
        #expect(a.method == b.method && a.params == b.params && a.targets == b.targets && a.targetNames == b.targetNames)
        #expect(a.seconds.bitPattern == b.seconds.bitPattern)
        #expect(a.scalars.mapValues { $0.map(\.bitPattern) } == b.scalars.mapValues { $0.map(\.bitPattern) })
        #expect(a.curves == b.curves)
    }

    @Test func sha256MatchesTheStandardVectors() {
        func hex(_ s: String) -> String { var h = SHA256(); h.update(Array(s.utf8)); return SHA256.hex(h.finalize()) }
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Fed in uneven pieces, the digest is the same as in one piece.
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var one = SHA256(); one.update(long)
        var pieces = SHA256()
        var i = 0
        for size in [1, 63, 64, 65, 3, 200, 604] { pieces.update(Array(long[i..<(i + size)])); i += size }
        #expect(i == long.count && one.finalize() == pieces.finalize())
    }

    @Test func blocksRoundTripBitForBitAndRejectEveryDamage() throws {
        // Small tensors: every truncation of the block is tried below.
        let small = Tensor(shape: [3, 2, 3, 3], data: (0..<54).map { Float($0) / 7 - 3 })
        let s = SaliencyMap(map: small.max(axis: 1, keepDims: true), attribution: small * -1, method: "x",
                            params: Params(["k": .int(3), "f": .float(0.1), "t": .tensor(Tensor(shape: [2], data: [1, .infinity])),
                                            "l": .list([.string("é"), .bool(true)])]),
                            targets: [1, 2, 3], targetNames: ["a", "b", "c"], seconds: 0.123456789,
                            scalars: ["gap": [.nan, -0.0, 1e-300]], curves: ["loss": [[1, 2], [], [.infinity]]])
        let bytes = BlockWriter.block(kind: 77, key: "k1") { $0.saliency(s) }
        var r = try BlockReader(block: bytes, kind: 77, key: "k1")
        let back = try r.saliency()
        try r.finish()
        expectBitIdentical(s, back)
        #expect(back.params == s.params)
        // Another key or kind is refused.
        #expect(throws: BlockError.self) { try BlockReader(block: bytes, kind: 77, key: "k2") }
        #expect(throws: BlockError.self) { try BlockReader(block: bytes, kind: 78, key: "k1") }
        // Every truncation and every flipped byte is an error, never a trap or a wrong block.
        for n in 0..<bytes.count {
            #expect(throws: BlockError.self) { try BlockReader(block: Array(bytes[0..<n]), kind: 77, key: "k1") }
        }
        for i in stride(from: 0, to: bytes.count, by: 7) {
            var bad = bytes
            bad[i] ^= 0x10
            #expect(throws: BlockError.self) { try BlockReader(block: bad, kind: 77, key: "k1") }
        }
        let m = MetricResult(values: [1, .nan], curves: [[(x: 0, y: 1)], []], extras: ["e": [2]])
        var mr = try BlockReader(block: BlockWriter.block(kind: 1, key: "") { $0.metricResult(m) }, kind: 1, key: "")
        let mb = try mr.metricResult()
        try mr.finish()
        #expect(mb.values.map(\.bitPattern) == m.values.map(\.bitPattern) && mb.extras == m.extras)
        #expect(mb.curves!.map { $0.map { [$0.x, $0.y] } } == m.curves!.map { $0.map { [$0.x, $0.y] } })
    }

    @Test func resumedComparisonReusesEveryBlockAndIsBitIdentical() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Architectures.lenet5Caffe(seed: 1)
        var warnings: [String] = []
        // A run without --resume computes everything and stores the blocks.
        let first = ResumeCache(directory: dir, reuse: false) { warnings.append($0) }
        let a = try compare(first, model)
        let sa = try Comparison.score(a, metrics: [MethodSpec("test_counting_mean")], registry: registry, cache: first)
        #expect(first.reused == 0 && first.computed == 4)
        #expect(counter.count("explain scale=1.0") == 2 && counter.count("explain scale=2.0") == 2)  // two batches each
        // --resume: nothing is computed, results are bit-identical, timings included.
        let second = ResumeCache(directory: dir, reuse: true) { warnings.append($0) }
        let b = try compare(second, model)
        let sb = try Comparison.score(b, metrics: [MethodSpec("test_counting_mean")], registry: registry, cache: second)
        #expect(second.reused == 4 && second.computed == 0)
        #expect(counter.count("explain scale=1.0") == 2 && counter.count("metric 1.0") == 1)
        #expect(b.entries.map(\.method) == ["test_counting", "scaled"])
        for (x, y) in zip(a.entries, b.entries) { expectBitIdentical(x.saliency, y.saliency) }
        #expect(sa.rows == sb.rows && sa.seconds == sb.seconds)
        #expect(sa.curves.count == sb.curves.count)
        #expect(warnings.isEmpty)
        // A run without --resume recomputes (and does not read) the blocks.
        let again = ResumeCache(directory: dir, reuse: false) { warnings.append($0) }
        _ = try compare(again, model)
        #expect(again.computed == 2 && counter.count("explain scale=1.0") == 4)
    }

    @Test func changedParameterSeedOrBatchingRecomputesOnlyWhatItAffects() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Architectures.lenet5Caffe(seed: 1)
        _ = try compare(ResumeCache(directory: dir, reuse: false) { _ in }, model)
        // One method's parameter: only its block.
        let p = ResumeCache(directory: dir, reuse: true) { _ in }
        _ = try compare(p, model, scale2: 3)
        #expect(p.reused == 1 && p.computed == 1)
        // An explicit default is the same configuration as an omitted one.
        let d = ResumeCache(directory: dir, reuse: true) { _ in }
        _ = try Comparison.explainAll(models: [("m", model)], methods: [MethodSpec("test_counting", params: ["scale": .float(1), "tag": .string("a")])],
                                      images: images(), seed: 5, registry: registry, batchSize: 2, cache: d)
        #expect(d.reused == 1 && d.computed == 0)
        // The seed, the batching, the images and the model weights each change every block.
        for (seed, batch) in [(6 as UInt64, 2), (5, 3)] {
            let c = ResumeCache(directory: dir, reuse: true) { _ in }
            _ = try compare(c, model, seed: seed, batch: batch)
            #expect(c.reused == 0 && c.computed == 2)
        }
        let other = try Architectures.lenet5Caffe(seed: 2)
        let c = ResumeCache(directory: dir, reuse: true) { _ in }
        _ = try compare(c, other)
        #expect(c.reused == 0 && c.computed == 2)
        // The same weights in another Graph object (another file name) share the blocks.
        let same = ResumeCache(directory: dir, reuse: true) { _ in }
        _ = try compare(same, try Architectures.lenet5Caffe(seed: 1))
        #expect(same.reused == 2)
    }

    @Test func damagedBlockIsRecomputedWithAWarning() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Architectures.lenet5Caffe(seed: 1)
        let a = try compare(ResumeCache(directory: dir, reuse: false) { _ in }, model)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".maps") }.sorted()
        #expect(files.count == 2)
        // Truncate one block, garble the other.
        let p0 = dir + "/" + files[0], p1 = dir + "/" + files[1]
        let bytes = try Data(contentsOf: URL(fileURLWithPath: p0))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: p0))
        var garbled = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p1)))
        garbled[garbled.count / 2] ^= 0xFF
        try Data(garbled).write(to: URL(fileURLWithPath: p1))
        var warnings: [String] = []
        let c = ResumeCache(directory: dir, reuse: true) { warnings.append($0) }
        let b = try compare(c, model)
        #expect(c.reused == 0 && c.computed == 2)
        #expect(warnings.count == 2)
        #expect(warnings.allSatisfy { $0.hasPrefix("warning: resume block \(dir)/") && $0.contains("recomputing it") })
        #expect(warnings.contains { $0.contains("checksum mismatch") })
        for (x, y) in zip(a.entries, b.entries) { #expect(x.saliency.map.scalars == y.saliency.map.scalars) }
        // The recomputed blocks replaced the damaged ones.
        let d = ResumeCache(directory: dir, reuse: true) { warnings.append($0) }
        _ = try compare(d, model)
        #expect(d.reused == 2 && warnings.count == 2)
    }

    @Test func unwritableBlockDirectoryCostsOnlyResumability() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A file where the block directory should be.
        try "x".write(toFile: dir + "/.resume", atomically: true, encoding: .utf8)
        var warnings: [String] = []
        let c = ResumeCache(directory: dir + "/.resume", reuse: true) { warnings.append($0) }
        let maps = try compare(c, try Architectures.lenet5Caffe(seed: 1))
        #expect(maps.entries.count == 2 && c.computed == 2)
        #expect(warnings.count == 1)
        #expect(warnings.first?.hasPrefix("warning: cannot store resume blocks in \(dir)/.resume (") == true)
        #expect(warnings.first?.hasSuffix("); this run cannot be resumed") == true)
    }

    @Test func probeCountsCompleteBlocksWithoutComputingOrWriting() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Architectures.lenet5Caffe(seed: 1)
        let metrics = [MethodSpec("test_counting_mean")]
        func probe() throws -> ResumeCache {
            let p = ResumeCache(directory: dir + "/.resume", reuse: false, probe: true) { _ in }
            _ = try Comparison.score(try compare(p, model), metrics: metrics, registry: registry, cache: p)
            return p
        }
        let empty = try probe()
        #expect(empty.missing == 4 && empty.reused == 0 && empty.computed == 0)
        #expect(counter.count("explain scale=1.0") == 0 && counter.count("metric 1.0") == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/.resume"))
        let real = ResumeCache(directory: dir + "/.resume", reuse: false) { _ in }
        _ = try Comparison.score(try compare(real, model), metrics: metrics, registry: registry, cache: real)
        let full = try probe()
        #expect(full.reused == 4 && full.missing == 0)
        #expect(counter.count("explain scale=1.0") == 2 && counter.count("metric 1.0") == 1)
    }

    @Test func scriptsComputeUnlessTheInterpreterHasACache() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let interp = Interpreter(registry: registry)
        let script = """
        let c = compare(model("lenet5"), dataset("test_squares", limit: 3), ["test_counting"], seed: 1)
        let s = score(c, ["test_counting_mean"])
        """
        #expect(run(script, registry: registry, interpreter: interp).error == nil)
        #expect(counter.count("explain scale=1.0") == 1 && !FileManager.default.fileExists(atPath: dir + "/.resume"))
        interp.resumeCache = ResumeCache(directory: dir, reuse: true) { _ in }
        #expect(run(script, registry: registry, interpreter: interp).error == nil)
        #expect(interp.resumeCache!.computed == 2 && counter.count("explain scale=1.0") == 2)
        #expect(run(script, registry: registry, interpreter: interp).error == nil)
        #expect(interp.resumeCache!.reused == 2 && counter.count("explain scale=1.0") == 2 && counter.count("metric 1.0") == 2)
    }
}
