import Foundation
import Testing
@testable import Plugins
import Runtime

/// Labelled images in memory (TensorDataset's labels cycle; the toy task needs its own).
struct NICELabelledImages: Dataset {
    let images: Tensor
    let labels: [Int]
    var name: String { "labelled" }
    var classNames: [String] { ["a", "b"] }
    var count: Int { labels.count }
    func example(_ index: Int) throws -> Example {
        guard index >= 0 && index < count else { throw PluginError.invalid("index \(index) out of range") }
        return Example(image: images.select(axis: 0, index).reshaped(Array(images.shape.dropFirst())), label: labels[index])
    }
}

private func logistic(_ t: Double) -> Double { 1 / (1 + exp(-t)) }

@Suite("NICE")
struct NICETests {
    let beta = 2.0 / 3.0
    let gamma = -0.1
    let zeta = 1.1

    /// The hard concrete gate of Eq. 7 against its closed form: with s = sigma((L + log a) /
    /// beta), L logistic, P(z = 0) = sigma(beta log(-gamma/zeta) - log a), P(z = 1) =
    /// sigma(log a - beta log((1 - gamma)/(zeta - 1))), and E[z] as a 1-D integral over u
    /// (midpoint rule on 10^6 cells, in Double).
    @Test(arguments: [-2.0, 0.0, 1.5])
    func gateStatisticsMatchTheClosedForm(_ logAlpha: Double) {
        let n = 200_000
        var rng = RandomGenerator(seed: 7)
        let noise = HardConcrete.logisticNoise([n], rng: &rng)
        let z = HardConcrete.sample(Tensor(shape: [n], repeating: Float(logAlpha)), noise: noise).scalars
        let p0 = Double(z.filter { $0 == 0 }.count) / Double(n)
        let p1 = Double(z.filter { $0 == 1 }.count) / Double(n)
        let mean = z.reduce(0.0) { $0 + Double($1) } / Double(n)
        let p0Closed = logistic(beta * log(-gamma / zeta) - logAlpha)
        let p1Closed = logistic(logAlpha - beta * log((1 - gamma) / (zeta - 1)))
        var meanClosed = 0.0
        let cells = 1_000_000
        for k in 0..<cells {
            let u = (Double(k) + 0.5) / Double(cells)
            let s = logistic((log(u) - log(1 - u) + logAlpha) / beta)
            meanClosed += min(1, max(0, s * (zeta - gamma) + gamma))
        }
        meanClosed /= Double(cells)
        // Each is a mean of n Bernoulli or [0, 1] draws: standard error <= 0.5 / sqrt(n) =
        // 0.0011; five standard errors leave room for the seed without hiding a wrong formula
        // (beta 0.66 instead of 2/3 moves P(z = 0) at log a = 1.5 by 0.004, a different gamma far more).
        let tol = 5 * 0.5 / Double(n).squareRoot()
        #expect(abs(p0 - p0Closed) < tol, "P(z=0) \(p0) vs \(p0Closed)")
        #expect(abs(p1 - p1Closed) < tol, "P(z=1) \(p1) vs \(p1Closed)")
        #expect(abs(mean - meanClosed) < tol, "E[z] \(mean) vs \(meanClosed)")
        // Eq. 9's y is P(z > 0) = 1 - P(z = 0) exactly (same formula rearranged; float32 sigmoid).
        let y = Double(HardConcrete.openProbability(Tensor(Float(logAlpha))).item)
        #expect(abs(y - (1 - p0Closed)) < 1e-6)
    }

    /// Eq. 11 by hand: code sigma(t), paper sigma(t / beta), then * 1.2 - 0.1, clamped.
    @Test func testMaskInBothForms() {
        let la = Tensor(shape: [1, 1, 1, 4], data: [0, 1, -3, 3])
        let code = HardConcrete.testMask(la, estimator: .code).scalars
        let paper = HardConcrete.testMask(la, estimator: .paper).scalars
        // sigma(1) = 0.7310586 -> 0.7772703; sigma(1.5) = 0.8175745 -> 0.8810894; sigma(-3) * 1.2 - 0.1 < 0;
        // sigma(3) * 1.2 - 0.1 = 1.043 > 1.
        let codeHand: [Float] = [0.5, 0.7772703, 0, 1], paperHand: [Float] = [0.5, 0.8810894, 0, 1]
        // float32 sigmoid and affine: a few ulps at unit scale.
        for i in 0..<4 {
            #expect(abs(code[i] - codeHand[i]) < 1e-5, "code[\(i)] = \(code[i])")
            #expect(abs(paper[i] - paperHand[i]) < 1e-5, "paper[\(i)] = \(paper[i])")
        }
    }

    /// L_C and L_S on hand-set log alpha: log a = shift + logit(y) gives y exactly (up to float32).
    @Test func sparsityAndSmoothnessByHand() {
        let shift = Double(HardConcrete.shift)
        func la(_ ys: [Double]) -> [Float] { ys.map { Float(shift + log($0 / (1 - $0))) } }
        // y = [[0.2, 0.5], [0.8, 0.5]]: mean 0.5. Pairs: up |0.8-0.2| + |0.5-0.5| = 0.6,
        // left |0.5-0.2| + |0.5-0.8| = 0.6, up-left |0.5-0.2| = 0.3, up-right |0.8-0.5| = 0.3: 1.8 / 4.
        let one = Tensor(shape: [1, 1, 2, 2], data: la([0.2, 0.5, 0.8, 0.5]))
        // float32 logit and sigmoid round trips: about 1e-7 per value.
        #expect(abs(HardConcrete.sparsityLoss(one).item - 0.5) < 1e-5)
        #expect(abs(HardConcrete.smoothnessLoss(one).item - 0.45) < 1e-5)
        // A second, constant image adds nothing to L_S and halves it per pixel (1.8 / 8).
        let two = Tensor(shape: [2, 1, 2, 2], data: la([0.2, 0.5, 0.8, 0.5, 0.3, 0.3, 0.3, 0.3]))
        #expect(abs(HardConcrete.smoothnessLoss(two).item - 0.225) < 1e-5)
        #expect(abs(HardConcrete.sparsityLoss(two).item - 0.4) < 1e-5)
        // A row of three: left pairs only, |0.5-0.2| + |0.9-0.5| = 0.7 over 3 pixels.
        let row = Tensor(shape: [1, 1, 1, 3], data: la([0.2, 0.5, 0.9]))
        #expect(abs(HardConcrete.smoothnessLoss(row).item - 0.7 / 3) < 1e-5)
    }

    @Test func generatorsHaveTableOneSizes() throws {
        let mnist = try NICEGenerator.mnist.build(inputShape: [1, 28, 28], levels: 3, seed: 0)
        #expect(mnist.trainableParameterCount == 10)
        let caltech = try NICEGenerator.caltech.build(inputShape: [3, 64, 64], levels: 3, seed: 0)
        #expect(caltech.trainableParameterCount == 48)
        let out = try caltech.forward(Tensor.zeros([2, 3, 64, 64])).output
        #expect(out.shape == [2, 1, 64, 64])
        // 28 px is not divisible by 8: an error that names the levels that fit.
        let e = #expect(throws: PluginError.self) { try NICEGenerator.caltech.build(inputShape: [1, 28, 28], levels: 3, seed: 0) }
        #expect("\(e!)".contains("levels: 2"))
    }

    /// A classifier that reads only the left half: two channels, class 0 lights channel 0 on
    /// the left, class 1 channel 1; the right half is dim noise in both. Three logits: 40 (mean
    /// of channel c over the left half - 0.5) for classes 0 and 1, and 0 for a third "nothing
    /// there" class, so a left half dimmed below half its brightness is misread, however little.
    func toyTask(count: Int = 120) throws -> (Graph, NICELabelledImages) {
        let (h, w) = (8, 8)
        let b = GraphBuilder(name: "left-half", inputShape: [2, h, w])
        try b.flatten(name: "flat")
        try b.linear(name: "fc", out: 3)
        let g = try b.build()
        var weight = [Float](repeating: 0, count: 3 * 2 * h * w)
        let k: Float = 40 / Float(h * w / 2)
        for c in 0..<2 { for y in 0..<h { for x in 0..<(w / 2) { weight[c * 2 * h * w + c * h * w + y * w + x] = k } } }
        try g.setWeight("fc.weight", Tensor(shape: [3, 2 * h * w], data: weight))
        try g.setWeight("fc.bias", Tensor(shape: [3], data: [-20, -20, 0]))
        var rng = RandomGenerator(seed: 3)
        var pixels = [Float](repeating: 0, count: count * 2 * h * w), labels: [Int] = []
        for n in 0..<count {
            let label = n % 2
            labels.append(label)
            for c in 0..<2 { for y in 0..<h { for x in 0..<w {
                pixels[((n * 2 + c) * h + y) * w + x] = x < w / 2 ? (c == label ? 1 : 0) : 0.3 * rng.nextUniform()
            } } }
        }
        return (g, NICELabelledImages(images: Tensor(shape: [count, 2, h, w], data: pixels), labels: labels))
    }

    /// Mean test mask over the left half (columns 0-2) and the right half (columns 5-7): the
    /// 3x3 generator sees both halves at columns 3-4, so those are left out.
    func halves(_ map: Tensor) -> (left: Double, right: Double) {
        let (n, h, w) = (map.shape[0], map.shape[2], map.shape[3])
        var l = 0.0, r = 0.0
        for i in 0..<n { for y in 0..<h { for x in 0..<3 {
            l += Double(map[flat: (i * h + y) * w + x]); r += Double(map[flat: (i * h + y) * w + w - 1 - x])
        } } }
        return (l / Double(n * h * 3), r / Double(n * h * 3))
    }

    @Test func aGeneratorLearnsTheObviousMask() throws {
        let (g, data) = try toyTask()
        let e = NICEExplainer()
        let common: [String: ParamValue] = ["epochs": .int(100), "batch": .int(20), "lr": .float(0.1), "schedule": .string("constant")]
        var open = common; open["lambda_sparsity"] = .float(0)
        let free = try fit(e, model: g, dataset: data, params: open, seed: 1)
        let freeMap = try explain(e, model: g, images: data.images, params: [:], fitted: free).map
        let f = halves(freeMap)
        // lambda 0: nothing pays for closing a gate, and the shared 3x3 conv opens both halves.
        #expect(f.left > 0.95 && f.right > 0.95, "lambda 0: left \(f.left), right \(f.right)")
        var sparse = common; sparse["lambda_sparsity"] = .float(2)
        let tight = try fit(e, model: g, dataset: data, params: sparse, seed: 1)
        let tightMap = try explain(e, model: g, images: data.images, params: [:], fitted: tight).map
        let t = halves(tightMap)
        // Closing the right half costs no cross-entropy and saves up to lambda * 0.5 = 1; closing
        // the left would make every image class 2 (cross-entropy ~20).
        #expect(t.left > 0.8 && t.right < 0.1, "lambda 2: left \(t.left), right \(t.right)")
        // The classifier is still right on the masked images.
        let masked = data.images * tightMap
        let predicted = try g.forward(masked).output.argmax(axis: 1)
        #expect(zip(predicted, data.labels).filter { $0 == $1 }.count == data.count)
    }

    @Test func fitCacheAndStateRoundTrip() throws {
        let (g, data) = try toyTask(count: 20)
        let e = NICEExplainer()
        let dir = NSTemporaryDirectory() + "nice-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = FitCache(directory: dir)
        let params: [String: ParamValue] = ["epochs": .int(2), "batch": .int(10), "generator": .string("caltech"), "levels": .int(2),
                                            "background": .string("block_mean"), "block": .int(4), "lambda_smooth": .float(0.01)]
        var lines: [String] = []
        let a = try cache.fitted(e, model: g, dataset: data, params: params, seed: 4, log: { lines.append($0) })
        let b = try cache.fitted(e, model: g, dataset: data, params: params, seed: 4, log: { lines.append($0) })
        #expect(lines.count == 2 && lines[1].contains("reused"), "\(lines)")
        #expect(try a.graph("generator").trainableParameterCount == 9 * 2 + 1 + 10)
        let ma = try explain(e, model: g, images: data.images, params: params, fitted: a).map
        let mb = try explain(e, model: g, images: data.images, params: params, fitted: b).map
        // The same weights through ONNX bytes: structurally identical forward passes.
        #expect(ma.scalars == mb.scalars)
        #expect(b.params["background"] == .string("block_mean"))
        // The explain call may not contradict the fit.
        #expect(throws: PluginError.self) {
            try explain(e, model: g, images: data.images, params: ["levels": .int(1)], fitted: a)
        }
        // The paper's estimator is an explain parameter: same state, another mask.
        let paper = try explain(e, model: g, images: data.images, params: ["test_estimator": .string("paper")], fitted: a).map
        #expect(paper.shape == ma.shape && paper.scalars != ma.scalars)
    }

    @Test func finetuningTrainsACopyOfTheNamedLayersOnly() throws {
        let (g, data) = try toyTask(count: 20)
        let before = g.weights
        let s = try fit(NICEExplainer(), model: g, dataset: data, params: ["epochs": .int(2), "batch": .int(10), "finetune": .string("fc"),
                                                                             "lr": .float(0.01)], seed: 2)
        let tuned = try s.fineTunedModel()
        #expect(tuned !== g)
        // The caller's model is untouched (structural: no write reaches it).
        for (k, v) in before { #expect(g.weight(k)?.scalars == v.scalars, "\(k) changed") }
        #expect(tuned.weight("fc.weight")?.scalars != before["fc.weight"]?.scalars)
        #expect(s.notes["finetuned"] == "fc")
        let e = #expect(throws: PluginError.self) {
            try fit(NICEExplainer(), model: g, dataset: data, params: ["epochs": .int(1), "finetune": .string("fcc")])
        }
        #expect("\(e!)".contains("did you mean 'fc'"))
    }
}

@Suite("mixed_resolution")
struct MixedResolutionTests {
    /// One 1 x 4 x 4 gray image, the mask open on the left half; a model that predicts class 0
    /// when the top-right pixel is above 0.5.
    func setup() throws -> (Graph, Tensor) {
        let b = GraphBuilder(name: "probe", inputShape: [1, 4, 4])
        try b.flatten(name: "flat")
        try b.linear(name: "fc", out: 2)
        let g = try b.build()
        var w = [Float](repeating: 0, count: 32)
        w[3] = 10; w[16 + 3] = -10
        try g.setWeight("fc.weight", Tensor(shape: [2, 16], data: w))
        try g.setWeight("fc.bias", Tensor(shape: [2], data: [-5, 5]))
        let x = Tensor(shape: [1, 1, 4, 4], data: [0, 0.2, 0.4, 1, 0, 0.2, 0, 0, 0.6, 0.6, 0.2, 0.2, 0.6, 0.6, 0.2, 0.2])
        return (g, x)
    }

    func run(_ g: Graph, _ x: Tensor, map: Tensor, params: [String: ParamValue]) throws -> MetricResult {
        let m = MixedResolutionMetric()
        let resolved = try Params.resolve(params, schema: m.parameters, plugin: m.name)
        var ctx = MetricContext(model: g, images: x, saliency: SaliencyMap(map: map, method: "hand", params: Params(), targets: [0]),
                                params: resolved, groundTruth: GroundTruth(labels: [0]))
        return try m.evaluate(&ctx)
    }

    @Test func blockMeansOutsideTheMaskAndAccuracyByHand() throws {
        let (g, x) = try setup()
        let leftHalf = Tensor(shape: [1, 1, 4, 4], data: [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0])
        let blocks: [String: ParamValue] = ["blocks": .list([.int(1), .int(2), .int(4)]), "at": .int(2)]
        let sizes = try run(g, x, map: leftHalf, params: blocks)
        // b = 1 gives x itself: the same PNG bytes (structural).
        #expect(sizes.extras["bytes_b1"] == sizes.extras["bytes_original"])
        #expect(sizes.extras["ratio_b1"] == [1])
        #expect(sizes.extras["correct_b1"] == nil)
        #expect(sizes.curves?.first?.map(\.x) == [1, 2, 4])
        var asked = blocks; asked["value"] = .string("correct")
        let r = try run(g, x, map: leftHalf, params: asked)
        // b = 2: the top-right block (0.4, 1, 0, 0) has mean 0.35 < 0.5: class 1, wrong.
        #expect(r.values == [0])
        #expect(r.extras["correct_original"] == [1] && r.extras["correct_b1"] == [1])
        #expect(r.extras["density"] == [0.5])
        #expect(r.extras["bytes_b2"] == nil)
        // density 1 keeps everything whatever the map: every b is the original.
        var rng = RandomGenerator(seed: 1)
        let all = try run(g, x, map: Tensor.uniform([1, 1, 4, 4], rng: &rng), params: ["density": .float(1), "blocks": .list([.int(4)]), "at": .int(4),
                                                                                                 "value": .string("correct")])
        #expect(all.values == [1])
        // Zero fill: x * z; the left half alone leaves the top-right pixel 0: class 1, wrong.
        let zero = try run(g, x, map: leftHalf, params: ["fill": .string("zero"), "value": .string("correct")])
        #expect(zero.values == [0] && zero.extras["correct_zero"] == [0] && zero.extras["correct_b8"] == nil)
    }

    @Test func densityBinarisesAndBadInputsAreErrors() throws {
        let (g, x) = try setup()
        // A ramp map: density 0.25 keeps its 4 largest pixels.
        let ramp = Tensor(shape: [1, 1, 4, 4], data: (0..<16).map(Float.init))
        let r = try run(g, x, map: ramp, params: ["density": .float(0.25), "blocks": .list([.int(4)]), "at": .int(4), "value": .string("density")])
        #expect(r.values == [0.25])
        // Without density a map outside [0, 1] is min-max normalised: ramp / 15.
        let soft = try run(g, x, map: ramp, params: ["blocks": .list([.int(4)]), "at": .int(4)])
        // Mean of k / 15 for k = 0...15: 0.5 (float32 sums of 16 small fractions).
        #expect(abs((soft.extras["density"]?.first ?? 0) - 0.5) < 1e-6)
        #expect(throws: PluginError.self) { try run(g, x, map: ramp, params: ["density": .float(0.5), "at": .int(3)]) }
        let m = MixedResolutionMetric()
        var ctx = MetricContext(model: g, images: x, saliency: SaliencyMap(map: ramp, method: "hand", params: Params(), targets: [0]),
                                params: try Params.resolve(["density": .float(0.5)], schema: m.parameters, plugin: m.name))
        #expect(throws: PluginError.self) { try m.evaluate(&ctx) }
    }
}
