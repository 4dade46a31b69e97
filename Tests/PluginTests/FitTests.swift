import Foundation
import Testing
@testable import Plugins
import Runtime

/// A dataset that counts how many examples were read (to see the cache skip the fit).
final class CountingDataset: Dataset, @unchecked Sendable {
    let base: TensorDataset
    private let lock = NSLock()
    private var reads = 0
    init(_ images: Tensor) { base = TensorDataset(images: images) }
    var name: String { base.name }
    var classNames: [String] { base.classNames }
    var count: Int { base.count }
    var exampleReads: Int { lock.withLock { reads } }
    func example(_ index: Int) throws -> Example {
        lock.withLock { reads += 1 }
        return try base.example(index)
    }
}

@Suite("Fit phase and its cache")
struct FitTests {
    let eg = ExpectedGradientsExplainer()

    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "fit-tests-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    func images(_ n: Int, _ shape: [Int], seed: UInt64, low: Float = 0, high: Float = 1) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor.uniform([n] + shape, low: low, high: high, rng: &rng)
    }

    // MARK: expected gradients, the built-in fitting method

    /// On a linear model the gradient is the weight everywhere, so EG = w * (x - mean of the
    /// references drawn) and completeness holds exactly for those draws.
    @Test func expectedGradientsOnALinearModelIsWeightTimesMeanDifference() throws {
        let g = try TinyNets.blockLinear(pattern: TinyNets.blockPattern)
        let data = TensorDataset(images: images(5, [1, 8, 8], seed: 1))
        let state = try fit(eg, model: g, dataset: data, params: ["references": .int(5)])
        #expect(state.tensors["references"]?.shape == [5, 1, 8, 8])
        let x = images(2, [1, 8, 8], seed: 2)
        let m = try explain(eg, model: g, images: x, target: .index(0), params: ["samples": .int(200)], seed: 3, fitted: state)
        for gap in m.scalars["completeness_gap"]! { #expect(gap < 1e-3) }
        // Attribution outside the weight block is zero: the gradient is zero there.
        let a = m.attribution!.scalars
        for i in 0..<2 { for p in 0..<64 where TinyNets.blockPattern[p] == 0 { #expect(a[i * 64 + p] == 0) } }
    }

    /// With one all-zero reference, EG is integrated gradients from the zero baseline with
    /// random alphas: it must agree with IG (many steps) up to Monte Carlo error.
    @Test func expectedGradientsWithOneZeroReferenceIsIntegratedGradients() throws {
        let g = try TinyNets.smoothCNN()
        let data = TensorDataset(images: Tensor.zeros([1, 3, 8, 8]))
        let state = try fit(eg, model: g, dataset: data, params: ["references": .int(1)])
        let x = images(1, [3, 8, 8], seed: 4)
        let e = try explain(eg, model: g, images: x, target: .index(1), params: ["samples": .int(3000), "batch_size": .int(256)],
                            seed: 5, fitted: state).attribution!.scalars
        let ig = try explain(IntegratedGradientsExplainer(), model: g, images: x, target: .index(1),
                             params: ["steps": .int(400), "method": .string("riemann_middle")]).attribution!.scalars
        let num = zip(e, ig).map { ($0 - $1) * ($0 - $1) }.reduce(0, +), den = ig.map { $0 * $0 }.reduce(0, +)
        #expect((num / den).squareRoot() < 0.05, "relative L2 difference \((num / den).squareRoot())")
    }

    @Test func completenessGapShrinksWithSamples() throws {
        let g = try TinyNets.smoothCNN()
        let state = try fit(eg, model: g, dataset: TensorDataset(images: images(20, [3, 8, 8], seed: 6)), params: [:])
        let x = images(4, [3, 8, 8], seed: 7)
        func meanGap(_ samples: Int) throws -> Double {
            let gaps = try explain(eg, model: g, images: x, target: .index(0), params: ["samples": .int(samples)], seed: 8, fitted: state)
                .scalars["completeness_gap"]!
            return gaps.reduce(0, +) / Double(gaps.count)
        }
        let few = try meanGap(4), many = try meanGap(1024)
        #expect(many < few / 4, "gap \(few) with 4 samples, \(many) with 1024")
    }

    @Test func fitDrawsDistinctReferencesDeterministically() throws {
        let g = try TinyNets.smoothCNN()
        let data = TensorDataset(images: images(30, [3, 8, 8], seed: 9))
        let a = try fit(eg, model: g, dataset: data, params: ["references": .int(10)], seed: 1)
        let b = try fit(eg, model: g, dataset: data, params: ["references": .int(10)], seed: 1)
        let c = try fit(eg, model: g, dataset: data, params: ["references": .int(10)], seed: 2)
        let ia = a.notes["indices"]!.split(separator: ",").map { Int($0)! }
        #expect(Set(ia).count == 10 && ia.allSatisfy { (0..<30).contains($0) })
        #expect(a.notes == b.notes && a.tensors["references"]!.scalars == b.tensors["references"]!.scalars)
        #expect(a.notes != c.notes)
        #expect(a.key == b.key && a.key != c.key)
        // More references than images: all of them.
        let all = try fit(eg, model: g, dataset: data, params: ["references": .int(500)])
        #expect(all.tensors["references"]!.shape[0] == 30)
    }

    // MARK: the host's checks

    @Test func explainingWithoutOrWithAForeignFitIsAClearError() throws {
        let g = try TinyNets.smoothCNN(), other = try TinyNets.smoothCNN(seed: 4)
        let x = images(1, [3, 8, 8], seed: 1)
        #expect(throws: PluginError.invalid("method 'expected_gradients' learns from a dataset before it explains: pass fit: <dataset> "
            + "(fitted once, then reused from the cache) or a state from fit(model, dataset, \"expected_gradients\")")) {
            try explain(eg, model: g, images: x)
        }
        let state = try fit(eg, model: other, dataset: TensorDataset(images: images(3, [3, 8, 8], seed: 2)))
        #expect(throws: PluginError.invalid("the fitted state of 'expected_gradients' was fitted to another model (or to other weights); fit it on this model")) {
            try explain(eg, model: g, images: x, fitted: state)
        }
        #expect(throws: PluginError.invalid("method 'gradient' has no fit phase, but was given a fitted state")) {
            try explain(GradientExplainer(), model: other, images: x, fitted: state)
        }
        #expect(throws: PluginError.invalid("method 'gradient' has no fit phase; it explains without learning from a dataset")) {
            try fit(GradientExplainer(), model: g, dataset: TensorDataset(images: x))
        }
        #expect(throws: PluginError.invalid("'expected_gradients': the references are [3, 4, 4] images but the input is [3, 8, 8]; fit on data of the input's size")) {
            let small = FitState(method: "expected_gradients", modelDigest: g.contentDigest, tensors: ["references": Tensor.zeros([2, 3, 4, 4])])
            _ = try explain(eg, model: g, images: x, fitted: small)
        }
    }

    // MARK: the cache

    @Test func cacheFitsOnceAndReusesByKey() throws {
        let g = try TinyNets.smoothCNN()
        let cache = FitCache(directory: tempDir())
        let data = CountingDataset(images(12, [3, 8, 8], seed: 11))
        var lines: [String] = []
        let first = try cache.fitted(eg, model: g, dataset: data, params: ["references": .int(4)], seed: 0, log: { lines.append($0) })
        let readsAfterFit = data.exampleReads
        #expect(lines.count == 1 && lines[0].contains("fitted on tensors (12 examples)") && lines[0].contains("cached in"))
        #expect(FileManager.default.fileExists(atPath: cache.path(forKey: first.key, method: "expected_gradients")))
        // Same inputs (and an explain-only parameter changed): reused, no fit.
        let again = try cache.fitted(eg, model: g, dataset: data, params: ["references": .int(4), "samples": .int(3)], seed: 0, log: { lines.append($0) })
        #expect(lines.last!.contains("reused"))
        #expect(again.key == first.key && again.tensors["references"]!.scalars == first.tensors["references"]!.scalars)
        #expect(again.modelDigest == first.modelDigest && again.dataset == first.dataset)
        // Only the dataset identity sample was read again, never the fit's examples.
        #expect(data.exampleReads - readsAfterFit <= 2 * 12)
        // Every ingredient of the key changes it.
        let keys = [
            try FitCache.key(eg, model: g, dataset: data, params: Params(["references": .int(5)]), seed: 0),
            try FitCache.key(eg, model: g, dataset: data, params: Params(["references": .int(4)]), seed: 1),
            try FitCache.key(eg, model: try TinyNets.smoothCNN(seed: 9), dataset: data, params: Params(["references": .int(4)]), seed: 0),
            try FitCache.key(eg, model: g, dataset: TensorDataset(images: images(12, [3, 8, 8], seed: 12)), params: Params(["references": .int(4)]), seed: 0),
        ]
        #expect(Set(keys + [first.key]).count == 5)
    }

    @Test func damagedOrForeignCacheFilesAreRefittedWithAWarning() throws {
        let g = try TinyNets.smoothCNN()
        let cache = FitCache(directory: tempDir())
        let data = TensorDataset(images: images(6, [3, 8, 8], seed: 13))
        let first = try cache.fitted(eg, model: g, dataset: data)
        let file = cache.path(forKey: first.key, method: eg.name)
        let bytes = try #require(FileManager.default.contents(atPath: file))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: file))
        var lines: [String] = []
        let refit = try cache.fitted(eg, model: g, dataset: data, log: { lines.append($0) })
        #expect(lines.first?.hasPrefix("warning: cannot read cached fit \(file)") == true)
        #expect(lines.first?.contains("truncated data for tensor 'references'") == true)
        #expect(refit.tensors["references"]!.scalars == first.tensors["references"]!.scalars)
        // A valid file under the wrong name (another key) is not trusted.
        var foreign = first
        foreign.key = "0000"
        try foreign.save(path: file)
        lines = []
        _ = try cache.fitted(eg, model: g, dataset: data, log: { lines.append($0) })
        #expect(lines.first == "warning: \(file) belongs to another fit; fitting again")
        #expect(try FitState.load(path: file).key == first.key)
    }

    @Test func stateFilesRoundTripAndRejectDamage() throws {
        let dir = tempDir()
        let s = FitState(method: "m", modelDigest: "abc", dataset: "d (3 examples)", params: Params(["k": .int(1)]), key: "kk",
                         tensors: ["a": Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, -6]), "b": Tensor(shape: [], data: [7])],
                         scalars: ["loss": 0.25], notes: ["n": "v"], seconds: 1.5)
        let path = dir + "/s.salfit"
        try s.save(path: path)
        let t = try FitState.load(path: path)
        #expect(t.method == "m" && t.modelDigest == "abc" && t.dataset == "d (3 examples)" && t.params == Params(["k": .int(1)]) && t.key == "kk")
        #expect(t.tensors["a"]!.shape == [2, 3] && t.tensors["a"]!.scalars == [1, 2, 3, 4, 5, -6] && t.tensors["b"]!.scalars == [7])
        #expect(t.scalars == ["loss": 0.25] && t.notes == ["n": "v"] && t.seconds == 1.5)
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        for cut in [0, 5, 11, 20, bytes.count - 1] {
            try Data(bytes.prefix(cut)).write(to: URL(fileURLWithPath: path))
            #expect(throws: IOError.self) { try FitState.load(path: path) }
        }
        try Data(bytes + [0]).write(to: URL(fileURLWithPath: path))
        let e = #expect(throws: IOError.self) { try FitState.load(path: path) }
        #expect(e?.description.contains("not a saliency-repl fit file: 1 trailing bytes") == true)
    }

    @Test func digestsSeparateContentAndBoundaries() throws {
        func hex(_ parts: [String]) -> String { var d = Digest(); for p in parts { d.update(p) }; return d.hex }
        #expect(hex(["ab", "c"]) != hex(["a", "bc"]))
        #expect(hex(["abc"]) == hex(["abc"]))
        #expect(hex([""]) != hex([]))
        #expect(hex(["12345678"]).count == 64)
        let g = try TinyNets.smoothCNN()
        #expect(g.contentDigest == (try TinyNets.smoothCNN()).contentDigest)
        let before = g.contentDigest
        var w = g.weight("fc.weight")!.scalars
        w[0] += 1e-6
        try g.setWeight("fc.weight", Tensor(shape: [3, 4], data: w))
        #expect(g.contentDigest != before)
    }
}
