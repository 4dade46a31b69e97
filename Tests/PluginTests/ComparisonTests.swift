import Testing
@testable import Plugins
import Runtime

/// A method whose map is the input's first channel times a constant: a deterministic map the
/// comparison's bookkeeping can be checked against.
struct ScaledInputExplainer: Explainer {
    let name: String
    let factor: Float
    let summary = "test"
    let reference = "none"
    func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        Explanation(map: ctx.images.slice(axis: 1, 0..<1) * factor)
    }
}

@Suite("Comparisons")
struct ComparisonTests {
    @Test func everyMethodOnEveryModelThenEveryMetric() throws {
        let registry = Registry(builtins: false)
        registry.register(ScaledInputExplainer(name: "a", factor: 1))
        registry.register(ScaledInputExplainer(name: "b", factor: -1))
        registry.register(PNGSizeMetric())
        registry.register(TimeMetric())
        let m1 = try Architectures.lenet5Caffe(seed: 1), m2 = try Architectures.lenet5Caffe(seed: 2)
        var rng = RandomGenerator(seed: 1)
        let x = Tensor.uniform([5, 1, 28, 28], rng: &rng)
        let maps = try Comparison.explainAll(models: [("m1", m1), ("m2", m2)], methods: [MethodSpec("a"), MethodSpec("b")],
                                             images: x, registry: registry, batchSize: 2)
        #expect(maps.entries.map { "\($0.model)/\($0.method)" } == ["m1/a", "m1/b", "m2/a", "m2/b"])
        // Batches of 2, 2, 1 are merged back in order.
        expectMapsEqual(maps.entries[1].saliency.map, -x)
        #expect(maps.entries[0].saliency.targets.count == 5)
        let scores = try Comparison.score(maps, metrics: [MethodSpec("png_size"), MethodSpec("time")], registry: registry)
        #expect(scores.rows.count == 4 * 2 * 5)
        // Min-max normalised, a and -a give the same PNG up to inversion: sizes are close but real.
        #expect(scores.rows.filter { $0.metric == "png_size" }.allSatisfy { $0.value > 60 })
        #expect(throws: PluginError.self) {
            try Comparison.explainAll(models: [("m1", m1)], methods: [MethodSpec("c")], images: x, registry: registry)
        }
    }

    /// A seeded method gives the same maps for a (model, method) pair whatever else the
    /// comparison holds and in whatever order (adding a method must not change the others).
    @Test func seedsDependOnNamesNotOnPositions() throws {
        let m = try Architectures.lenet5Caffe(seed: 1)
        var rng = RandomGenerator(seed: 4)
        let x = Tensor.uniform([3, 1, 28, 28], rng: &rng)
        let rise = MethodSpec("rise", params: ["masks": .int(40)])
        let alone = try Comparison.explainAll(models: [("m", m)], methods: [rise], images: x, seed: 7)
        let after = try Comparison.explainAll(models: [("other", m), ("m", m)], methods: [MethodSpec("gradient"), rise], images: x, seed: 7)
        // Same masks, so the same map up to float rounding (the forwards may be batched
        // differently); another mask draw moves RISE's map by far more than that.
        let rounding: Float = 1e-5
        #expect(alone.entries[0].saliency.map.maxAbsDifference(after.entries[3].saliency.map) < rounding)
        // ... but the pair's names and the run seed do matter.
        #expect(after.entries[1].saliency.map.maxAbsDifference(after.entries[3].saliency.map) > 100 * rounding)
        let reseeded = try Comparison.explainAll(models: [("m", m)], methods: [rise], images: x, seed: 8)
        #expect(alone.entries[0].saliency.map.maxAbsDifference(reseeded.entries[0].saliency.map) > 100 * rounding)
    }

    /// A shard of a sharded run (the images from index 2 on, `firstIndex: 2`) explains and
    /// scores its images exactly as the whole comparison does: the same batches with seeds
    /// from the index in the whole dataset, for a stochastic method (SmoothGrad's noise) and a
    /// stochastic metric (MoRF's replacement colours). Exact equality is structural here: the
    /// same code runs on the same inputs with the same seeds, batch for batch.
    @Test func aShardComputesExactlyWhatTheWholeComputesForItsImages() throws {
        let m = try Architectures.lenet5Caffe(seed: 1)
        var rng = RandomGenerator(seed: 5)
        let x = Tensor.uniform([6, 1, 28, 28], rng: &rng)
        let methods = [MethodSpec("smoothgrad", params: ["samples": .int(3)]), MethodSpec("gradient")]
        let metrics = [MethodSpec("morf", params: ["pixels_per_step": .int(98), "iterations": .int(4)])]
        let whole = try Comparison.explainAll(models: [("m", m)], methods: methods, images: x, seed: 3, batchSize: 2)
        let shard = try Comparison.explainAll(models: [("m", m)], methods: methods, images: x.slice(axis: 0, 2..<6), seed: 3,
                                              batchSize: 2, firstIndex: 2)
        for (w, s) in zip(whole.entries, shard.entries) {
            #expect(w.saliency.map.slice(axis: 0, 2..<6).scalars == s.saliency.map.scalars, "\(w.method)")
            #expect(Array(w.saliency.targets[2...]) == s.saliency.targets)
        }
        let wholeScores = try Comparison.score(whole, metrics: metrics), shardScores = try Comparison.score(shard, metrics: metrics)
        let tail = wholeScores.rows.filter { $0.image >= 2 }
        #expect(shardScores.rows.map(\.image) == tail.map(\.image))
        #expect(shardScores.rows.map(\.value) == tail.map(\.value))
        // The same images taken as the start of the data draw other noise: the streams follow
        // the index in the whole dataset, not the position in what one process explains.
        let moved = try Comparison.explainAll(models: [("m", m)], methods: [methods[0]], images: x.slice(axis: 0, 2..<6), seed: 3, batchSize: 2)
        #expect(moved.entries[0].saliency.map.maxAbsDifference(shard.entries[0].saliency.map) > 1e-3)
    }
}

func expectMapsEqual(_ a: Tensor, _ b: Tensor) {
    #expect(a.shape == b.shape)
    #expect(a.maxAbsDifference(b) == 0)
}
