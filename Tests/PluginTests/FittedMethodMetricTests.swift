import Foundation
import Testing
@testable import Plugins
import Runtime

/// A fitting explainer that insists on a state fitted to the very weights it explains: the
/// gradient map, but only when `fitted.modelDigest` is the model's current digest. It shows
/// that sanity_randomization refits on every randomised model.
private struct WeightBoundExplainer: Explainer {
    var name: String { "weight_bound" }
    var summary: String { "gradient that needs a fit on the current weights (test)" }
    var reference: String { "test" }
    var capabilities: Capabilities { [.needsGradients, .batched, .fits] }
    func fit(_ ctx: FitContext) throws -> FitState { FitState(method: name) }
    func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        guard try ctx.fittedState().modelDigest == ctx.model.contentDigest else {
            throw PluginError.invalid("explained with a state fitted to other weights")
        }
        let x = ctx.images.requiringGrad()
        return Explanation(map: channelMaxAbs(gradient(of: ctx.targetScore(try ctx.model(x)), wrt: x)))
    }
}

/// Metrics for methods that fit (issue 14 item 8): sanity_randomization refits, iou's AUC
/// mode, and channel ablation with matched random controls.
@Suite("Metrics for fitted methods")
struct FittedMethodMetricTests {
    func images(_ n: Int, _ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor.uniform([n] + shape, rng: &rng)
    }

    // MARK: sanity_randomization with a fit phase

    @Test func sanityRandomizationRefitsExpectedGradientsOnEveryRandomisedModel() throws {
        let model = try TinyNets.smoothCNN(), before = model.weights
        let x = images(2, [3, 8, 8], seed: 1)
        let data = CountingDataset(images(6, [3, 8, 8], seed: 2))
        let eg = ExpectedGradientsExplainer()
        let params: [String: ParamValue] = ["references": .int(4), "samples": .int(8)]
        let state = try fit(eg, model: model, dataset: data, params: params)
        let map = try explain(eg, model: model, images: x, params: params, fitted: state)
        let readsPerFit = data.exampleReads

        // Without the dataset: a clear refusal, and the model untouched.
        #expect(throws: PluginError.invalid("metric 'sanity_randomization': 'expected_gradients' learns from a dataset, so every randomised "
            + "model needs a fit of its own (the state fitted on the original weights would test the original model); pass the dataset "
            + "it was fitted on: metric(..., fit: data), or compare(..., fit: data)")) {
            try evaluate(SanityRandomizationMetric(), model: model, images: x, saliency: map, explainer: eg)
        }
        // With it: one fit per randomised layer (smoothCNN has conv1, conv2 and fc).
        let r = try evaluate(SanityRandomizationMetric(), model: model, images: x, saliency: map, seed: 5, explainer: eg, fitDataset: data)
        #expect(data.exampleReads == readsPerFit * 4, "reads: \(data.exampleReads), \(readsPerFit) per fit")
        for (k, v) in before { #expect(model.weight(k)!.scalars == v.scalars, "weight \(k) was not restored") }
        #expect(r.curves?[0].map(\.x) == [1, 2, 3])
        for v in r.values { #expect(v.isFinite && v < 0.9, "correlation after full randomisation: \(v)") }
    }

    @Test func sanityRandomizationGivesEachRandomisedModelItsOwnState() throws {
        let model = try TinyNets.smoothCNN(seed: 9)
        let x = images(2, [3, 8, 8], seed: 3)
        let data = TensorDataset(images: images(3, [3, 8, 8], seed: 4))
        let e = WeightBoundExplainer()
        let map = try explain(e, model: model, images: x, fitted: try fit(e, model: model, dataset: data))
        // The explainer throws if it ever sees a state from other weights; it never does.
        let r = try evaluate(SanityRandomizationMetric(), model: model, images: x, saliency: map, explainer: e, fitDataset: data)
        #expect(r.values.count == 2 && r.curves?[0].count == 3)
    }

    @Test func comparisonsPassTheirFitDatasetToSanityChecks() throws {
        let model = try TinyNets.smoothCNN(seed: 5)
        let data = TensorDataset(images: images(4, [3, 8, 8], seed: 6))
        let method = MethodSpec("expected_gradients", params: ["references": .int(3), "samples": .int(4)])
        let fitter: (Graph, any Explainer, MethodSpec) throws -> FitState = { g, e, spec in try fit(e, model: g, dataset: data, params: spec.params) }
        let x = images(2, [3, 8, 8], seed: 7)
        let maps = try Comparison.explainAll(models: [("m", model)], methods: [method], images: x, fitter: fitter, fitDataset: data)
        let scores = try Comparison.score(maps, metrics: [MethodSpec("sanity_randomization", params: ["layers": .int(1)])])
        #expect(scores.rows.count == 2 && scores.rows.allSatisfy { $0.value.isFinite })
        // Without the dataset the same comparison cannot refit, and says why.
        let bare = try Comparison.explainAll(models: [("m", model)], methods: [method], images: x, fitter: fitter)
        #expect(throws: PluginError.self) { try Comparison.score(bare, metrics: [MethodSpec("sanity_randomization")]) }
    }

    // MARK: iou mode auc

    @Test func iouAUCIsTheAreaOverMinMaxThresholds() throws {
        let (h, w) = (12, 12)
        let model = try TinyNets.gapHead(h: h, w: w, fc: [Float](repeating: 0, count: 6))
        let image = Tensor.zeros([1, 2, h, w])
        var truth = [Float](repeating: 0, count: h * w)
        for y in 3..<7 { for x in 2..<8 { truth[y * w + x] = 1 } }
        let gt = GroundTruth(masks: Tensor(shape: [1, 1, h, w], data: truth))
        func score(_ values: [Float], _ params: [String: ParamValue]) throws -> MetricResult {
            let map = SaliencyMap(map: Tensor(shape: [1, 1, h, w], data: values), method: "given", params: Params(), targets: [0])
            return try evaluate(IoUMetric(), model: model, images: image, saliency: map, params: params, groundTruth: gt)
        }
        // Truth at 4, background at 3.5, one pixel at 3: min-max normalised 1 / 0.5 / 0. With
        // grid 10 the curve is 24/144 at t = 0 (everything), 24/143 for t = 0.1...0.5 (all but
        // the lowest pixel), then 1 (the truth alone) for t = 0.6...1.
        var values = truth.map { $0 == 1 ? Float(4) : 3.5 }
        values[143] = 3
        let r = try score(values, ["mode": .string("auc"), "grid": .int(10)])
        let (a, b) = (24.0 / 144, 24.0 / 143)
        let area = 0.05 * (a + b) + 0.4 * b + 0.05 * (b + 1) + 0.4
        // Trapezoid sums of eleven exact points: Double rounding only.
        #expect(abs(r.values[0] - area) <= 1e-12, "\(r.values[0]) vs \(area)")
        #expect(r.extras["auc"] == r.values)
        #expect(r.curves?[0].count == 11 && abs((r.curves?[0][3].y ?? 0) - b) <= 1e-12)
        // Fractions of the maximum see the offset: every pixel (the lowest is 0.75 max) stays in
        // up to t = 0.7, the background (0.875 max) at t = 0.8, the truth alone from t = 0.9.
        let f = try score(values, ["grid": .int(10)])
        let fractionArea = 0.7 * a + 0.05 * (a + b) + 0.05 * (b + 1) + 0.1
        #expect(abs((f.extras["auc"]?[0] ?? 0) - fractionArea) <= 1e-12, "\(f.extras["auc"] ?? []) vs \(fractionArea)")
        // A constant map: t = 0 keeps every pixel (IoU 24/144), every t > 0 none (IoU 0).
        let flat = try score([Float](repeating: 2, count: h * w), ["mode": .string("auc"), "grid": .int(10)])
        #expect(abs(flat.values[0] - 0.05 * a) <= 1e-12)
    }

    // MARK: channel ablation

    /// randomCNN: conv2 has 6 channels feeding GAP -> fc; zeroing all six leaves the fc bias.
    func ablationFixture() throws -> (Graph, TensorDataset) {
        (try TinyNets.randomCNN(), TensorDataset(images: images(10, [3, 16, 16], seed: 11), classes: 5))
    }

    func example(_ d: TensorDataset) throws -> Tensor { try d.example(0).image.reshaped([1, 3, 16, 16]) }

    @Test func zeroingEveryChannelLeavesTheBiasClass() throws {
        let (g, data) = try ablationFixture()
        let all = try ChannelAblation(["conv2": Array(0..<6)], graph: g, example: example(data))
        #expect(all.channelCounts == ["conv2": 6])
        // Every image is predicted as argmax(fc.bias); labels cycle over 5 classes, 2 each.
        let acc = try accuracy(g, on: data, interventions: all.interventions)
        #expect(acc == 0.2)  // structural: 2 of 10 labels are the bias class
        let none = try ChannelAblation([:], graph: g, example: example(data))
        #expect(try accuracy(g, on: data, interventions: none.interventions) == accuracy(g, on: data))
    }

    @Test func ablationChecksLayersAndChannels() throws {
        let (g, data) = try ablationFixture()
        let x = try example(data)
        #expect(throws: PluginError.invalid("unknown layer 'cnv2'; did you mean 'conv2'?")) { try ChannelAblation(["cnv2": [0]], graph: g, example: x) }
        #expect(throws: PluginError.invalid("channel 6 is out of range for layer 'conv2', which has 6 channels (0...5)")) {
            try ChannelAblation(["conv2": [1, 6]], graph: g, example: x)
        }
        #expect(throws: PluginError.invalid("channel 2 is listed twice for layer 'conv1'")) { try ChannelAblation(["conv1": [2, 0, 2]], graph: g, example: x) }
        #expect(throws: PluginError.self) {
            try randomAblation(g, on: data, like: try ChannelAblation(["conv1": [0]], graph: g, example: x), repeats: 0, seed: 1)
        }
    }

    @Test func randomControlsMatchCountsAndAreSeeded() throws {
        let (g, data) = try ablationFixture()
        let like = try ChannelAblation(["conv2": [0, 1, 2], "conv1": [3]], graph: g, example: example(data))
        let r = try randomAblation(g, on: data, like: like, repeats: 5, seed: 3)
        #expect(r.accuracies.count == 5 && r.draws.count == 5)
        for (draw, acc) in zip(r.draws, r.accuracies) {
            #expect(draw["conv2"]?.count == 3 && Set(draw["conv2"]!).count == 3 && draw["conv2"]!.allSatisfy { (0..<6).contains($0) })
            #expect(draw["conv1"]?.count == 1 && draw["conv1"]!.allSatisfy { (0..<4).contains($0) })
            // Each repeat's accuracy is the ablation of exactly its draw.
            #expect(acc == (try accuracy(g, on: data, interventions: draw.mapValues { .zeroChannels($0) })))
        }
        #expect(Set(r.draws.map { $0["conv2"]! }).count > 1, "five draws of 3 of 6 channels were all the same")
        let again = try randomAblation(g, on: data, like: like, repeats: 5, seed: 3)
        #expect(again.draws == r.draws && again.accuracies == r.accuracies)
        #expect(try randomAblation(g, on: data, like: like, repeats: 5, seed: 4).draws != r.draws)
        #expect(abs(r.summary.mean - r.accuracies.reduce(0, +) / 5) <= 1e-12)
        // Drawing every channel of a layer leaves no choice: the same accuracy each time, std 0.
        let full = try randomAblation(g, on: data, like: try ChannelAblation(["conv2": Array(0..<6)], graph: g, example: example(data)),
                                      repeats: 3, seed: 1)
        #expect(full.accuracies == [0.2, 0.2, 0.2] && full.summary.std < 1e-12)  // the mean of three 0.2s rounds
    }
}
