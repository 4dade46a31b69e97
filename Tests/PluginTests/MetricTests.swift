import Foundation
import Testing
@testable import Plugins
import Runtime

// MARK: - Fixtures

/// A linear classifier flatten -> Gemm with hand-set weights [classes, C·H·W] and biases.
private func linearModel(c: Int, h: Int, w: Int, weights: [Float], bias: [Float]) throws -> Graph {
    let classes = bias.count
    let b = GraphBuilder(name: "linear", inputShape: [c, h, w])
    try b.flatten(name: "flat")
    try b.linear(name: "fc", out: classes)
    let g = try b.build()
    try g.setWeight("fc.weight", Tensor(shape: [classes, c * h * w], data: weights))
    try g.setWeight("fc.bias", Tensor(shape: [classes], data: bias))
    return g
}

/// The same model's class probabilities, computed directly in Double.
private func directProbabilities(_ x: [Float], weights: [Float], bias: [Float]) -> [Double] {
    let d = x.count
    let logits = bias.indices.map { k in (0..<d).reduce(Double(bias[k])) { $0 + Double(weights[k * d + $1]) * Double(x[$1]) } }
    let m = logits.max()!
    let e = logits.map { Foundation.exp($0 - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}

private func saliency(_ map: Tensor, targets: [Int], method: String = "given") -> SaliencyMap {
    SaliencyMap(map: map, method: method, params: Params(), targets: targets)
}

private func randomTensor(_ shape: [Int], seed: UInt64, low: Float = 0, high: Float = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, rng: &rng)
}

/// A test explainer whose map is the plain gradient of the target score (channel max of |g|).
private struct MetricTestGradientExplainer: Explainer {
    var name: String { "metric_test_gradient" }
    var summary: String { "gradient, for metric tests" }
    var reference: String { "test" }
    func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        let x = ctx.images.requiringGrad()
        let s = ctx.targetScore(try ctx.model(x))
        return Explanation(map: channelMaxAbs(gradient(of: s, wrt: x)))
    }
}

/// A test explainer that ignores the model: the map is the channel mean of the image.
private struct MetricTestImageExplainer: Explainer {
    var name: String { "metric_test_image" }
    var summary: String { "the image itself, for metric tests" }
    var reference: String { "test" }
    func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        Explanation(map: ctx.images.mean(axis: 1, keepDims: true))
    }
}

/// A test explainer that always fails (to check that the model is restored after errors).
private struct MetricTestFailingExplainer: Explainer {
    var name: String { "metric_test_failing" }
    var summary: String { "fails" }
    var reference: String { "test" }
    func explain(_ ctx: inout ExplainContext) throws -> Explanation { throw PluginError.invalid("deliberate failure") }
}

/// A naive deletion/insertion: loops over the sorted pixels, a forward pass per step in Double.
private func naiveGame(start: [Float], source: [Float], map: [Float], c: Int, hw: Int, step: Int,
                       weights: [Float], bias: [Float], target: Int) -> (auc: Double, scores: [Double]) {
    let order = (0..<hw).sorted { map[$0] > map[$1] || (map[$0] == map[$1] && $0 < $1) }
    var state = start
    var scores = [directProbabilities(state, weights: weights, bias: bias)[target]]
    var xs = [0.0]
    var done = 0
    while done < hw {
        let next = min(done + step, hw)
        for p in order[done..<next] { for ch in 0..<c { state[ch * hw + p] = source[ch * hw + p] } }
        done = next
        scores.append(directProbabilities(state, weights: weights, bias: bias)[target])
        xs.append(Double(done) / Double(hw))
    }
    var auc = 0.0
    for k in 1..<xs.count { auc += (xs[k] - xs[k - 1]) * (scores[k] + scores[k - 1]) / 2 }
    return (auc, scores)
}

// MARK: - Tests

@Suite("Metric plugins")
struct MetricTests {
    @Test func registryListsEveryMetric() throws {
        let names = Registry().metrics.map(\.name)
        #expect(names == ["abpc", "box_localization", "deletion", "insertion", "iou", "lerf", "mean_intensity", "mixed_resolution", "morf",
                          "png_size", "pointing_game", "sanity_randomization", "ssim", "time"])
        for m in Registry().metrics {
            #expect(!m.summary.isEmpty && !m.reference.isEmpty)
            for p in m.parameters { #expect(!p.doc.isEmpty, "\(m.name).\(p.name) has no doc") }
        }
        #expect(try Registry().metric("deletion").direction == .lowerIsBetter)
        #expect(try Registry().metric("insertion").direction == .higherIsBetter)
        #expect(try Registry().metric("time").direction == .lowerIsBetter)
    }

    // Class 0's logit is 4 · (sum of the 8 "key" pixels) − 12 over an 8x8 gray image; class 1's is 0.
    // The perfect map ranks the key pixels first, the reversed map last.
    private func keyPixelFixture() throws -> (model: Graph, image: Tensor, perfect: Tensor, reversed: Tensor) {
        let (h, w) = (8, 8)
        let keys: Set<Int> = [18, 19, 20, 21, 26, 27, 28, 29]
        var weights = [Float](repeating: 0, count: 2 * h * w)
        for k in keys { weights[k] = 4 }
        let model = try linearModel(c: 1, h: h, w: w, weights: weights, bias: [-12, 0])
        // Key pixels 1, the rest 0: blurring dims the keys (insertion starts near probability 0).
        let image = Tensor(shape: [1, 1, h, w], data: (0..<(h * w)).map { keys.contains($0) ? 1 : 0 })
        let perfect = Tensor(shape: [1, 1, h, w], data: (0..<(h * w)).map { keys.contains($0) ? 1 + Float($0) / 100 : Float($0) / 1000 })
        let reversed = Tensor(shape: [1, 1, h, w], data: perfect.scalars.map { -$0 })
        return (model, image, perfect, reversed)
    }

    @Test func deletionAndInsertionPreferThePerfectMap() throws {
        let f = try keyPixelFixture()
        let del = DeletionMetric(), ins = InsertionMetric()
        let dPerfect = try evaluate(del, model: f.model, images: f.image, saliency: saliency(f.perfect, targets: [0]))
        let dReversed = try evaluate(del, model: f.model, images: f.image, saliency: saliency(f.reversed, targets: [0]))
        #expect(dPerfect.values[0] < dReversed.values[0] - 0.5)
        let iPerfect = try evaluate(ins, model: f.model, images: f.image, saliency: saliency(f.perfect, targets: [0]))
        let iReversed = try evaluate(ins, model: f.model, images: f.image, saliency: saliency(f.reversed, targets: [0]))
        #expect(iPerfect.values[0] > iReversed.values[0] + 0.5)
        // Default step: 1% of 64 pixels rounds to 1 pixel, so 65 points from x = 0 to 1.
        let curve = try #require(dPerfect.curves?.first)
        #expect(curve.count == 65 && curve.first!.x == 0 && curve.last!.x == 1)
        for v in dPerfect.values + dReversed.values + iPerfect.values + iReversed.values { #expect(v >= 0 && v <= 1) }
    }

    @Test func deletionAndInsertionMatchANaiveImplementation() throws {
        let (n, c, h, w, classes) = (3, 3, 8, 8, 4)
        let d = c * h * w
        let weights = randomTensor([classes * d], seed: 1, low: -0.3, high: 0.3).scalars
        let bias = randomTensor([classes], seed: 2, low: -0.5, high: 0.5).scalars
        let model = try linearModel(c: c, h: h, w: w, weights: weights, bias: bias)
        let images = randomTensor([n, c, h, w], seed: 3)
        // Quantised map values make ties, which must break by pixel index.
        let map = Tensor(shape: [n, 1, h, w], data: randomTensor([n * h * w], seed: 4).scalars.map { ($0 * 6).rounded() })
        let targets = [0, 2, 3]
        // The default start image: RISE's gkern blur with zero padding.
        let blurred = images.separableBlur(kernel: Tensor.riseGaussianKernel1D(size: 5, sigma: 2), padding: .zero)
        for step in [5, 64, 1] {
            let del = try evaluate(DeletionMetric(), model: model, images: images, saliency: saliency(map, targets: targets),
                                   params: ["step": .int(step), "baseline": .float(0.25), "batch_size": .int(7)])
            let ins = try evaluate(InsertionMetric(), model: model, images: images, saliency: saliency(map, targets: targets),
                                   params: ["step": .int(step), "blur_kernel": .int(5), "blur_sigma": .float(2), "batch_size": .int(4)])
            for i in 0..<n {
                let img = Array(images.scalars[(i * d)..<((i + 1) * d)])
                let plane = Array(map.scalars[(i * h * w)..<((i + 1) * h * w)])
                let nd = naiveGame(start: img, source: [Float](repeating: 0.25, count: d), map: plane, c: c, hw: h * w, step: step,
                                   weights: weights, bias: bias, target: targets[i])
                let ni = naiveGame(start: Array(blurred.scalars[(i * d)..<((i + 1) * d)]), source: img, map: plane, c: c, hw: h * w,
                                   step: step, weights: weights, bias: bias, target: targets[i])
                #expect(abs(del.values[i] - nd.auc) < 1e-5, "deletion step \(step) image \(i): \(del.values[i]) vs \(nd.auc)")
                #expect(abs(ins.values[i] - ni.auc) < 1e-5, "insertion step \(step) image \(i): \(ins.values[i]) vs \(ni.auc)")
                let curve = try #require(del.curves?[i])
                #expect(curve.count == nd.scores.count)
                for (p, s) in zip(curve, nd.scores) { #expect(abs(p.y - s) < 1e-5) }
            }
        }
        // blur_padding: "reflect" starts from the mirrored-border blur instead.
        let reflected = images.separableBlur(kernel: Tensor.riseGaussianKernel1D(size: 5, sigma: 2), padding: .reflect)
        let insR = try evaluate(InsertionMetric(), model: model, images: images, saliency: saliency(map, targets: targets),
                                params: ["step": .int(5), "blur_kernel": .int(5), "blur_sigma": .float(2), "blur_padding": .string("reflect")])
        for i in 0..<n {
            let img = Array(images.scalars[(i * d)..<((i + 1) * d)])
            let ni = naiveGame(start: Array(reflected.scalars[(i * d)..<((i + 1) * d)]), source: img,
                               map: Array(map.scalars[(i * h * w)..<((i + 1) * h * w)]), c: c, hw: h * w, step: 5,
                               weights: weights, bias: bias, target: targets[i])
            #expect(abs(insR.values[i] - ni.auc) < 1e-5, "insertion (reflect) image \(i): \(insR.values[i]) vs \(ni.auc)")
        }
    }

    @Test func deletionChecksCancellationAndParameters() throws {
        let f = try keyPixelFixture()
        let token = CancellationToken()
        token.cancel()
        #expect(throws: PluginError.cancelled) {
            try evaluate(DeletionMetric(), model: f.model, images: f.image, saliency: saliency(f.perfect, targets: [0]), cancellation: token)
        }
        #expect(throws: PluginError.invalid("parameter 'blur_kernel' of 'insertion' must be odd, got 4")) {
            try evaluate(InsertionMetric(), model: f.model, images: f.image, saliency: saliency(f.perfect, targets: [0]), params: ["blur_kernel": .int(4)])
        }
        let wrongMap = Tensor.zeros([1, 1, 4, 4])
        #expect(throws: PluginError.self) {
            try evaluate(DeletionMetric(), model: f.model, images: f.image, saliency: saliency(wrongMap, targets: [0]))
        }
    }

    // Class 0's logit is Σ w_p x_p with w_p ≥ 0 known; images all ones; replacing pixel p with a
    // uniform colour u lowers the logit by w_p (1 − u) on average, so the weights are the ideal map.
    @Test func abpcIsPositiveForAGoodMapAndNearZeroForARandomOne() throws {
        let (n, h, w) = (12, 10, 10)
        let hw = h * w
        var weights = [Float](repeating: 0, count: 2 * hw)
        let wp = randomTensor([hw], seed: 5).scalars.map { $0 * $0 * 2 }
        for p in 0..<hw { weights[p] = wp[p] }
        let model = try linearModel(c: 1, h: h, w: w, weights: weights, bias: [0, 0])
        let images = Tensor(shape: [n, 1, h, w], repeating: 1)
        let good = Tensor(shape: [n, 1, h, w], data: (0..<n).flatMap { _ in wp })
        let random = randomTensor([n, 1, h, w], seed: 6)
        let params: [String: ParamValue] = ["pixels_per_step": .int(2), "iterations": .int(40)]
        let g = try evaluate(ABPCMetric(), model: model, images: images, saliency: saliency(good, targets: [Int](repeating: 0, count: n)),
                             params: params, seed: 9)
        let r = try evaluate(ABPCMetric(), model: model, images: images, saliency: saliency(random, targets: [Int](repeating: 0, count: n)),
                             params: params, seed: 9)
        let goodMean = aggregate(g.values).mean, randomMean = aggregate(r.values).mean
        #expect(g.values.allSatisfy { $0 > 0 })
        #expect(goodMean > 1)
        #expect(abs(randomMean) < 0.15 * goodMean, "random \(randomMean) vs good \(goodMean)")
        // ABPC is AOPC(MoRF) − AOPC(LeRF), and the single metrics see the same noise for a seed.
        let morf = try evaluate(MoRFMetric(), model: model, images: images, saliency: saliency(good, targets: [Int](repeating: 0, count: n)),
                                params: params, seed: 9)
        let lerf = try evaluate(LeRFMetric(), model: model, images: images, saliency: saliency(good, targets: [Int](repeating: 0, count: n)),
                                params: params, seed: 9)
        for i in 0..<n {
            #expect(abs(g.values[i] - (morf.values[i] - lerf.values[i])) < 1e-9)
            #expect(abs(g.extras["morf"]![i] - morf.values[i]) < 1e-9)
        }
        let curve = try #require(morf.curves?.first)
        #expect(curve.count == 41 && abs(curve.last!.x - 0.8) < 1e-12)
        // MoRF's scores fall for the good map: first point is the clean logit Σ w_p.
        #expect(abs(curve[0].y - Double(wp.reduce(0, +))) < 1e-3)
        #expect(curve.last!.y < curve[0].y)
    }

    @Test func pixelFlippingDefaultsScaleWithImageSize() throws {
        let (h, w) = (28, 28)
        let model = try linearModel(c: 1, h: h, w: w, weights: randomTensor([2 * h * w], seed: 7).scalars, bias: [0, 0])
        let images = randomTensor([1, 1, h, w], seed: 8)
        let r = try evaluate(MoRFMetric(), model: model, images: images, saliency: saliency(randomTensor([1, 1, h, w], seed: 9), targets: [1]),
                             params: ["batch_size": .int(128)])
        // 100 px of 299x299 -> 1 px at 28x28; 89.5% of 784 pixels -> 702 iterations.
        #expect(r.curves?[0].count == 703)
        #expect(throws: PluginError.self) {
            try evaluate(LeRFMetric(), model: model, images: images, saliency: saliency(images, targets: [1]), params: ["iterations": .int(785)])
        }
    }

    @Test func ssimIsOneForIdenticalStructureAndMatchesANaiveComputation() throws {
        let (h, w) = (16, 14)
        let image = randomTensor([1, 1, h, w], seed: 10)
        let same = try evaluate(SSIMMetric(), model: try linearModel(c: 1, h: h, w: w, weights: [Float](repeating: 0, count: 2 * h * w), bias: [0, 0]),
                                images: image, saliency: saliency(image * 3 + 2, targets: [0]))
        #expect(abs(same.values[0] - 1) < 1e-6)

        // A known value: the map against an unrelated map and against the inverted image, by a
        // direct 2-D window computation in Double.
        let model = try linearModel(c: 1, h: h, w: w, weights: [Float](repeating: 0, count: 2 * h * w), bias: [0, 0])
        let other = randomTensor([1, 1, h, w], seed: 11)
        let inverted = image * -1 + 1
        for (map, window, sigma) in [(other, 11, 1.5), (inverted, 7, 1.0)] {
            let r = try evaluate(SSIMMetric(), model: model, images: image, saliency: saliency(map, targets: [0]),
                                 params: ["window": .int(window), "sigma": .float(sigma)])
            let expected = naiveSSIM(image.scalars, map.scalars, h: h, w: w, window: window, sigma: sigma)
            // The metric normalises in Float32, the reference in Double.
            #expect(abs(r.values[0] - expected) < 1e-6, "\(r.values[0]) vs \(expected)")
        }
        let inv = try evaluate(SSIMMetric(), model: model, images: image, saliency: saliency(inverted, targets: [0]))
        #expect(inv.values[0] < -0.9)
        #expect(throws: PluginError.self) {
            try evaluate(SSIMMetric(), model: model, images: image, saliency: saliency(image, targets: [0]), params: ["window": .int(15)])
        }
    }

    private func naiveSSIM(_ a: [Float], _ b: [Float], h: Int, w: Int, window: Int, sigma: Double) -> Double {
        func norm(_ v: [Float]) -> [Double] { let lo = Double(v.min()!), hi = Double(v.max()!); return v.map { (Double($0) - lo) / (hi - lo) } }
        let x = norm(a), y = norm(b)
        let r = window / 2
        var k2 = [Double]()
        for i in 0..<window { for j in 0..<window {
            let di = Double(i - r), dj = Double(j - r)
            k2.append(Foundation.exp(-(di * di + dj * dj) / (2 * sigma * sigma)))
        } }
        let ks = k2.reduce(0, +)
        k2 = k2.map { $0 / ks }
        let (c1, c2) = (0.01 * 0.01, 0.03 * 0.03)
        var total = 0.0, count = 0
        for y0 in 0...(h - window) { for x0 in 0...(w - window) {
            var mx = 0.0, my = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0
            for i in 0..<window { for j in 0..<window {
                let p = (y0 + i) * w + x0 + j, kw = k2[i * window + j]
                mx += kw * x[p]; my += kw * y[p]; sxx += kw * x[p] * x[p]; syy += kw * y[p] * y[p]; sxy += kw * x[p] * y[p]
            } }
            let vx = sxx - mx * mx, vy = syy - my * my, cov = sxy - mx * my
            total += (2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
            count += 1
        } }
        return total / Double(count)
    }

    private func zeroModel(_ h: Int, _ w: Int) throws -> Graph {
        try linearModel(c: 1, h: h, w: w, weights: [Float](repeating: 0, count: 2 * h * w), bias: [0, 0])
    }

    @Test func iouIsOneForTheTruthAndZeroForADisjointMap() throws {
        let (h, w) = (12, 12)
        let model = try zeroModel(h, w)
        let image = Tensor.zeros([1, 1, h, w])
        var truth = [Float](repeating: 0, count: h * w)
        for y in 3..<7 { for x in 2..<8 { truth[y * w + x] = 1 } }
        let mask = Tensor(shape: [1, 1, h, w], data: truth)
        let gt = GroundTruth(masks: mask)
        let same = try evaluate(IoUMetric(), model: model, images: image, saliency: saliency(mask, targets: [0]), groundTruth: gt)
        #expect(same.values == [1])
        #expect(same.extras["threshold"] == [0.5])
        let disjoint = Tensor(shape: [1, 1, h, w], data: truth.map { 1 - $0 })
        let none = try evaluate(IoUMetric(), model: model, images: image, saliency: saliency(disjoint, targets: [0]), groundTruth: gt)
        #expect(none.values == [0])
        // The same region as a box.
        let box = try evaluate(IoUMetric(), model: model, images: image, saliency: saliency(mask, targets: [0]),
                               groundTruth: GroundTruth(boxes: [[2, 3, 8, 7]]))
        #expect(box.values == [1])
        // Top 24 of 144 pixels (16.67%) of a map that ranks the truth first is the truth.
        let ranked = Tensor(shape: [1, 1, h, w], data: truth.enumerated().map { $0.element * 2 + Float($0.offset) / 1000 })
        let top = try evaluate(IoUMetric(), model: model, images: image, saliency: saliency(ranked, targets: [0]), params: ["mode": .string("top_percent"), "top_percent": .float(100.0 * 24 / 144)],
                               groundTruth: gt)
        #expect(top.values == [1])
        // Background at 0.3 of the maximum: fraction 0.2 keeps it (IoU 24/144), `best` finds a threshold above 0.3.
        let hazy = Tensor(shape: [1, 1, h, w], data: truth.map { $0 == 1 ? 1 : 0.3 })
        let low = try evaluate(IoUMetric(), model: model, images: image, saliency: saliency(hazy, targets: [0]), params: ["threshold": .float(0.2)],
                               groundTruth: gt)
        #expect(abs(low.values[0] - 24.0 / 144) < 1e-12)
        let best = try evaluate(IoUMetric(), model: model, images: image, saliency: saliency(hazy, targets: [0]), params: ["mode": .string("best"), "grid": .int(10)],
                                groundTruth: gt)
        #expect(best.values == [1])
        let t = try #require(best.extras["threshold"]?.first)
        #expect(t > 0.3 && t <= 1)
        #expect(best.curves?[0].count == 11)
        // The IoU curve: 24/144 for thresholds up to 0.3, then 1 — its area is known.
        let low24: Double = 24.0 / 144
        let area: Double = 0.3 * low24 + 0.05 * (low24 + 1) + 0.6
        let auc = try #require(best.extras["auc"]?.first)
        #expect(abs(auc - area) < 1e-9)
    }

    @Test func iouNeedsGroundTruth() throws {
        let model = try zeroModel(4, 4)
        #expect(throws: PluginError.invalid("metric 'iou' needs ground-truth masks or boxes; this data has none")) {
            try evaluate(IoUMetric(), model: model, images: .zeros([1, 1, 4, 4]), saliency: saliency(.zeros([1, 1, 4, 4]), targets: [0]))
        }
    }

    @Test func pointingGameHitsInsideAndWithinTolerance() throws {
        let (h, w) = (28, 28)
        let model = try zeroModel(h, w)
        let image = Tensor.zeros([1, 1, h, w])
        let gt = GroundTruth(boxes: [[10, 10, 16, 16]])
        func pointAt(_ x: Int, _ y: Int) -> SaliencyMap {
            var m = randomTensor([h * w], seed: 12, low: 0, high: 0.5).scalars
            m[y * w + x] = 1
            return saliency(Tensor(shape: [1, 1, h, w], data: m), targets: [0])
        }
        let inside = try evaluate(PointingGameMetric(), model: model, images: image, saliency: pointAt(12, 14), groundTruth: gt)
        #expect(inside.values == [1] && inside.extras["x"] == [12] && inside.extras["y"] == [14])
        // (18, 12) is 3 pixels right of the box (last column 15): out with the default tolerance of
        // 2 at 28x28 (15 · 28 / 224 = 1.875), in with 3.
        let outside = try evaluate(PointingGameMetric(), model: model, images: image, saliency: pointAt(18, 12), groundTruth: gt)
        #expect(outside.values == [0])
        let tolerant = try evaluate(PointingGameMetric(), model: model, images: image, saliency: pointAt(18, 12), params: ["tolerance": .float(3)],
                                    groundTruth: gt)
        #expect(tolerant.values == [1])
        // Diagonal distance: (18, 18) is √(3² + 3²) ≈ 4.24 from the corner (15, 15).
        let diag4 = try evaluate(PointingGameMetric(), model: model, images: image, saliency: pointAt(18, 18), params: ["tolerance": .float(4)],
                                 groundTruth: gt)
        let diag5 = try evaluate(PointingGameMetric(), model: model, images: image, saliency: pointAt(18, 18), params: ["tolerance": .float(4.3)],
                                 groundTruth: gt)
        #expect(diag4.values == [0] && diag5.values == [1])
    }

    @Test func boxLocalizationFindsTheLargestBlob() throws {
        let (h, w) = (24, 24)
        // A big blob centred at (8, 9) (peak 0.8) and a smaller, brighter one at (20, 20) (peak 1).
        var m = [Float](repeating: 0, count: h * w)
        for y in 0..<h { for x in 0..<w {
            let d1 = Double((x - 8) * (x - 8) + (y - 9) * (y - 9)), d2 = Double((x - 20) * (x - 20) + (y - 20) * (y - 20))
            m[y * w + x] = Float(0.8 * Foundation.exp(-d1 / 18) + 1.0 * Foundation.exp(-d2 / 8))
        } }
        let map = Tensor(shape: [1, 1, h, w], data: m)
        // At 0.5 of the max (1.0) the big blob keeps 0.8 e^{-d/18} >= 0.5 <=> d <= 18 ln 1.6 = 8.46, so
        // |dx|, |dy| <= 2 (25 pixels); the bright one keeps d <= 8 ln 2 = 5.5 (21 pixels).
        let expected = [6, 7, 11, 12]
        let weights = [Float](repeating: 0, count: 2 * h * w)
        let model = try linearModel(c: 1, h: h, w: w, weights: weights, bias: [1, 0])   // always predicts class 0
        let image = Tensor.zeros([1, 1, h, w])
        let hit = try evaluate(BoxLocalizationMetric(), model: model, images: image, saliency: saliency(map, targets: [0]),
                               groundTruth: GroundTruth(boxes: [[6, 7, 11, 13]], labels: [0]))
        #expect([hit.extras["x0"]![0], hit.extras["y0"]![0], hit.extras["x1"]![0], hit.extras["y1"]![0]] == expected.map(Double.init))
        #expect(hit.values == [1])
        #expect(abs(hit.extras["iou"]![0] - 25.0 / 30) < 1e-12)
        #expect(hit.extras["class_correct"] == [1] && hit.extras["top1_correct"] == [1])
        // Right box, wrong class: localised, but a top-1 localisation error.
        let wrongClass = try evaluate(BoxLocalizationMetric(), model: model, images: image, saliency: saliency(map, targets: [0]),
                                      groundTruth: GroundTruth(boxes: [[6, 7, 11, 13]], labels: [1]))
        #expect(wrongClass.values == [1] && wrongClass.extras["top1_correct"] == [0])
        // A box around the bright blob's core is missed at 0.5. `best` finds 0.75: there the bright
        // blob keeps d <= 2.3 (3x3, the box exactly), the big one d <= 1.16 (5 pixels); at 0.7 both
        // keep 3x3 and the tie goes to the big blob, first in raster order.
        let small = GroundTruth(boxes: [[19, 19, 22, 22]])
        let miss = try evaluate(BoxLocalizationMetric(), model: model, images: image, saliency: saliency(map, targets: [0]), groundTruth: small)
        #expect(miss.values == [0])
        #expect(miss.extras["top1_correct"]![0].isNaN)
        let best = try evaluate(BoxLocalizationMetric(), model: model, images: image, saliency: saliency(map, targets: [0]), params: ["mode": .string("best"), "grid": .int(20)],
                                groundTruth: small)
        #expect(best.values == [1])
        #expect(best.extras["threshold"] == [0.75])
        let curve = try #require(best.curves?.first)
        #expect(curve.count == 21 && curve[15].x == 0.75 && curve[15].y == 1 && curve[14].y == 0)
        // count top1 makes the value top1_correct; value threshold/iou report the threshold used
        // and the box IoU, so a table shows the grid's choice.
        let top1 = try evaluate(BoxLocalizationMetric(), model: model, images: image, saliency: saliency(map, targets: [0]),
                                params: ["count": .string("top1")], groundTruth: GroundTruth(boxes: [[6, 7, 11, 13]], labels: [1]))
        #expect(top1.values == [0])
        let chosen = try evaluate(BoxLocalizationMetric(), model: model, images: image, saliency: saliency(map, targets: [0]),
                                  params: ["mode": .string("best"), "grid": .int(20), "value": .string("threshold")], groundTruth: small)
        #expect(chosen.values == [0.75])
        let iou = try evaluate(BoxLocalizationMetric(), model: model, images: image, saliency: saliency(map, targets: [0]),
                               params: ["value": .string("iou")], groundTruth: GroundTruth(boxes: [[6, 7, 11, 13]]))
        #expect(abs(iou.values[0] - 25.0 / 30) < 1e-12)
        #expect(throws: PluginError.invalid("metric 'box_localization': count: \"top1\" needs the images' labels; this data has none")) {
            try evaluate(BoxLocalizationMetric(), model: model, images: image, saliency: saliency(map, targets: [0]),
                         params: ["count": .string("top1")], groundTruth: small)
        }
    }

    /// With count top1, mode best maximises top-1 hits: a threshold that localises only the
    /// image whose class is wrong loses to one that localises the image whose class is right.
    @Test func boxLocalizationTop1GridCountsOnlyRightClasses() throws {
        let (h, w) = (24, 24)
        let map = Tensor(shape: [2, 1, h, w], data: (0..<2).flatMap { _ in (0..<(h * w)).map { p -> Float in
            let (y, x) = (p / w, p % w)
            let d1 = Double((x - 8) * (x - 8) + (y - 9) * (y - 9)), d2 = Double((x - 20) * (x - 20) + (y - 20) * (y - 20))
            return Float(0.8 * Foundation.exp(-d1 / 18) + 1.0 * Foundation.exp(-d2 / 8))
        } })
        let model = try linearModel(c: 1, h: h, w: w, weights: [Float](repeating: 0, count: 2 * h * w), bias: [1, 0])
        // Image 0 (wrong class) has the big blob's box (found at 0.5); image 1 (right class)
        // the bright blob's core (found at 0.75). Counting boxes ties 1-1 and the higher mean
        // IoU decides; counting top-1 must pick 0.75.
        let truth = GroundTruth(boxes: [[6, 7, 11, 13], [19, 19, 22, 22]], labels: [1, 0])
        let images = Tensor.zeros([2, 1, h, w])
        let r = try evaluate(BoxLocalizationMetric(), model: model, images: images, saliency: saliency(map, targets: [0, 0]),
                             params: ["mode": .string("best"), "grid": .int(20), "count": .string("top1")], groundTruth: truth)
        #expect(r.extras["threshold"]?.first == 0.75)
        #expect(r.values == [0, 1])
    }

    @Test func largestComponentIsEightConnected() {
        // Two diagonal chains: the 3-pixel diagonal (8-connected) beats the 2-pixel pair.
        let (h, w) = (5, 5)
        var m = [Bool](repeating: false, count: h * w)
        for p in [0, 6, 12, 4, 9] { m[p] = true }
        #expect(MetricSupport.largestComponentBox(m, h: h, w: w) == [0, 0, 3, 3])
        #expect(MetricSupport.largestComponentBox([Bool](repeating: false, count: 4), h: 2, w: 2) == nil)
    }

    private func smallCNN(seed: UInt64) throws -> Graph {
        let b = GraphBuilder(name: "cnn", inputShape: [2, 12, 12], seed: seed)
        try b.conv(name: "conv1", out: 6, kernel: 3, padding: 1)
        try b.relu(name: "relu1")
        try b.conv(name: "conv2", out: 6, kernel: 3, padding: 1)
        try b.relu(name: "relu2")
        try b.maxPool(name: "pool", kernel: 2)
        try b.flatten(name: "flat")
        try b.linear(name: "fc", out: 3)
        return try b.build()
    }

    @Test func sanityRandomizationDropsGradientCorrelationAndRestoresTheModel() throws {
        let model = try smallCNN(seed: 13)
        let before = model.weights
        let images = randomTensor([3, 2, 12, 12], seed: 14)
        let grad = MetricTestGradientExplainer()
        let map = try explain(grad, model: model, images: images)
        let r = try evaluate(SanityRandomizationMetric(), model: model, images: images, saliency: map, seed: 3, explainer: grad)
        for (k, v) in before { #expect(model.weight(k)!.scalars == v.scalars, "weight \(k) was not restored") }
        let curve = try #require(r.curves?.first)
        #expect(curve.map(\.x) == [1, 2, 3])
        for v in r.values { #expect(v < 0.5, "correlation after full randomisation: \(v)") }
        // A map that ignores the model passes the randomisation unchanged.
        let plain = MetricTestImageExplainer()
        let pmap = try explain(plain, model: model, images: images)
        let p = try evaluate(SanityRandomizationMetric(), model: model, images: images, saliency: pmap, explainer: plain)
        for c in p.curves! { for point in c { #expect(abs(point.y - 1) < 1e-9) } }
        // Only the top layer.
        let top = try evaluate(SanityRandomizationMetric(), model: model, images: images, saliency: map, params: ["layers": .int(1)], explainer: grad)
        #expect(top.curves?[0].count == 1)
    }

    @Test func sanityRandomizationRestoresTheModelAfterAnError() throws {
        let model = try smallCNN(seed: 15)
        let before = model.weights
        let images = randomTensor([1, 2, 12, 12], seed: 16)
        let failing = MetricTestFailingExplainer()
        let map = SaliencyMap(map: .zeros([1, 1, 12, 12]), method: failing.name, params: Params(), targets: [0])
        #expect(throws: PluginError.invalid("deliberate failure")) {
            try evaluate(SanityRandomizationMetric(), model: model, images: images, saliency: map, explainer: failing)
        }
        for (k, v) in before { #expect(model.weight(k)!.scalars == v.scalars, "weight \(k) was not restored") }
        #expect(throws: PluginError.self) {
            try evaluate(SanityRandomizationMetric(), model: model, images: images, saliency: map, explainer: MetricTestGradientExplainer())
        }
    }

    @Test func complexityMetrics() throws {
        let (h, w) = (16, 16)
        let model = try zeroModel(h, w)
        let image = Tensor.zeros([2, 1, h, w])
        let maps = Tensor.concat([Tensor.full([1, 1, h, w], 0.7), randomTensor([1, 1, h, w], seed: 17)], axis: 0)
        let size = try evaluate(PNGSizeMetric(), model: model, images: image, saliency: saliency(maps, targets: [0, 0]))
        #expect(size.values[0] < size.values[1])
        #expect(size.values[0] > 0)
        // [0, 1, 2, 3] -> min-max [0, 1/3, 2/3, 1], mean 0.5; divided by the max: mean 0.5 as well; raw: 1.5.
        let ramp = Tensor(shape: [1, 1, 2, 2], data: [0, 1, 2, 3])
        let small = try zeroModel(2, 2)
        let img = Tensor.zeros([1, 1, 2, 2])
        let mm = try evaluate(MeanIntensityMetric(), model: small, images: img, saliency: saliency(ramp, targets: [0]))
        #expect(abs(mm.values[0] - 0.5) < 1e-7)
        let shifted = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 5])
        let byMax = try evaluate(MeanIntensityMetric(), model: small, images: img, saliency: saliency(shifted, targets: [0]),
                                 params: ["normalize": .string("max")])
        #expect(abs(byMax.values[0] - 11.0 / 20) < 1e-7)
        let raw = try evaluate(MeanIntensityMetric(), model: small, images: img, saliency: saliency(shifted, targets: [0]),
                               params: ["normalize": .string("none")])
        #expect(abs(raw.values[0] - 2.75) < 1e-7)
        let minmax = try evaluate(MeanIntensityMetric(), model: small, images: img, saliency: saliency(shifted, targets: [0]))
        #expect(abs(minmax.values[0] - (0 + 0.25 + 0.5 + 1) / 4) < 1e-7)
    }

    @Test func timeIsSecondsPerMap() throws {
        let model = try zeroModel(2, 2)
        let map = SaliencyMap(map: .zeros([4, 1, 2, 2]), method: "m", params: Params(), targets: [0, 0, 0, 0], seconds: 2)
        let r = try evaluate(TimeMetric(), model: model, images: .zeros([4, 1, 2, 2]), saliency: map)
        #expect(r.values == [0.5, 0.5, 0.5, 0.5])
    }

    /// Every registered metric runs with its defaults on a small CNN and returns one finite
    /// value per image (and well-formed curves when it has them).
    @Test(arguments: Registry().metrics.map(\.name))
    func everyMetricRunsWithDefaults(_ name: String) throws {
        let metric = try Registry().metric(name)
        let model = try smallCNN(seed: 21)
        let images = randomTensor([2, 2, 12, 12], seed: 22)
        let grad = MetricTestGradientExplainer()
        let map = try explain(grad, model: model, images: images)
        var mask = [Float](repeating: 0, count: 2 * 144)
        for i in 0..<2 { for y in 2..<8 { for x in 3..<9 { mask[i * 144 + y * 12 + x] = 1 } } }
        let truth = GroundTruth(masks: Tensor(shape: [2, 1, 12, 12], data: mask), boxes: [[3, 2, 9, 8], [3, 2, 9, 8]], labels: [0, 1])
        let r = try evaluate(metric, model: model, images: images, saliency: map, groundTruth: truth, seed: 1, explainer: grad)
        #expect(r.values.count == 2)
        for v in r.values { #expect(v.isFinite, "\(name) gave \(v)") }
        if let curves = r.curves {
            #expect(curves.count == 2)
            for c in curves { #expect(!c.isEmpty && c.allSatisfy { $0.x.isFinite }) }
        }
        for (k, v) in r.extras { #expect(v.count == 2, "\(name) extras[\(k)]") }
    }

    @Test func perturbationMetricsStopWhenCancelled() throws {
        let model = try smallCNN(seed: 23)
        let images = randomTensor([1, 2, 12, 12], seed: 24)
        let grad = MetricTestGradientExplainer()
        let map = try explain(grad, model: model, images: images)
        let token = CancellationToken()
        token.cancel()
        for metric in [ABPCMetric() as any Metric, InsertionMetric(), SanityRandomizationMetric()] {
            #expect(throws: PluginError.cancelled) {
                try evaluate(metric, model: model, images: images, saliency: map, cancellation: token, explainer: grad)
            }
        }
    }

    @Test func aggregateMatchesHandComputedValues() {
        let a = aggregate([1, 2, 3, 4])
        #expect(a.n == 4 && a.mean == 2.5)
        #expect(abs(a.std - (5.0 / 3).squareRoot()) < 1e-12)
        // t(0.975, 3 df) = 3.1824; half width = 3.1824 · 1.29099 / 2.
        #expect(abs(a.ci95High - (2.5 + 3.1824 * (5.0 / 3).squareRoot() / 2)) < 1e-9)
        #expect(abs(a.ci95Low - (2.5 - 3.1824 * (5.0 / 3).squareRoot() / 2)) < 1e-9)
        // n >= 30: normal quantile. 0, 1, ..., 39: mean 19.5, sample variance 40·41/12 = 136.67.
        let b = aggregate((0..<40).map(Double.init))
        let sd = (40.0 * 41 / 12).squareRoot()
        #expect(abs(b.std - sd) < 1e-9)
        #expect(abs(b.ci95High - (19.5 + 1.959964 * sd / 40.0.squareRoot())) < 1e-9)
        // Non-finite values are left out; one value has no spread.
        let c = aggregate([2, .nan, .infinity])
        #expect(c.n == 1 && c.mean == 2 && c.std.isNaN && c.ci95Low.isNaN)
        #expect(aggregate([]).n == 0 && aggregate([]).mean.isNaN)
    }

    @Test func spearmanUsesAverageRanks() {
        #expect(MetricSupport.ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1])
        #expect(abs(MetricSupport.spearman([1, 2, 3, 4], [10, 20, 30, 40]) - 1) < 1e-12)
        #expect(abs(MetricSupport.spearman([1, 2, 3, 4], [4, 3, 2, 1]) + 1) < 1e-12)
        #expect(MetricSupport.spearman([1, 1, 1], [1, 2, 3]).isNaN)
    }
}

@Suite("times_input: png_size and ssim score the image content a map keeps")
struct TimesInputTests {
    /// With `times_input`, each metric scores min-max(map) * grayscale(input): the same value
    /// as scoring that product given as the map (min-max normalisation is applied again to the
    /// product by both metrics, and the product of two [0, 1] planes is a valid map).
    @Test func scoresTheMapTimesTheGrayscaleInput() throws {
        let images = randomTensor([2, 3, 12, 12], seed: 4)
        // A smooth ramp (compresses well) times a random image (does not): the two must score apart.
        let map = Tensor(shape: [2, 1, 12, 12], data: (0..<288).map { Float($0 % 12) * 0.5 - 2 })
        var product: [Float] = []
        for i in 0..<2 {
            let gray = images.grayscalePlane(i), plane = MetricSupport.minMaxNormalized(MetricSupport.mapPlane(map, i))
            product += zip(plane, gray).map { $0 * $1 }
        }
        let productMap = Tensor(shape: [2, 1, 12, 12], data: product)
        // Neither metric runs the model; any graph of the right input shape will do.
        let model = try linearModel(c: 3, h: 12, w: 12, weights: [Float](repeating: 0, count: 2 * 432), bias: [0, 0])
        for metric in [PNGSizeMetric() as any Metric, SSIMMetric()] {
            let viaParam = try evaluate(metric, model: model, images: images, saliency: saliency(map, targets: [0, 0]),
                                        params: ["times_input": .bool(true)]).values
            let direct = try evaluate(metric, model: model, images: images, saliency: saliency(productMap, targets: [0, 0])).values
            let plain = try evaluate(metric, model: model, images: images, saliency: saliency(map, targets: [0, 0])).values
            // The same planes in the same arithmetic: equal up to float rounding of the product.
            for (a, b) in zip(viaParam, direct) { #expect(abs(a - b) <= 1e-9 * max(1, abs(b)), "\(metric.name)") }
            #expect(viaParam != plain, "\(metric.name): times_input must change what is scored")
        }
    }
}

