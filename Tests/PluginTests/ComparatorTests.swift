import Foundation
import Testing
@testable import Plugins
import Runtime

/// The issue-25 comparators beyond the reference tables: DeepLIFT's summation-to-delta on every
/// shipped model, closed forms of excitation backprop and c-MWP.
@Suite("Comparators: completeness and closed forms")
struct ComparatorTests {
    func run(_ name: String, _ g: Graph, _ x: Tensor, target: Target = .index(0), params: [String: ParamValue] = [:]) throws -> SaliencyMap {
        try explain(Registry.shared.explainer(name), model: g, images: x, target: target, params: params)
    }

    /// Summation-to-delta (Shrikumar et al. Eq. 1) with the split max-pool rule, on every model in
    /// models/ and two baselines. Each contribution carries float32 rounding of ~1e-7 of its
    /// size, so the sum of ~1e3-1e4 of them is off by at most ~1e-6 of their sum of |.|
    /// (measured: below 1e-7 of it); 1e-5 of it leaves room for other BLAS kernels.
    @Test(arguments: ShippedModelTests.specs.map(\.file))
    func deepLIFTSumsToTheOutputDifference(_ file: String) throws {
        let g = try loadONNX(path: ShippedModelTests.modelsDir + "/" + file)
        let shape = Array(g.inputs[0].shape.dropFirst())
        let x = Tensor(shape: [2] + shape, data: TinyNets.formula(2 * shape.reduce(1, *), 0.23, 0.4, 0.5).map { 0.5 + $0 })
        for baseline in ["zeros", "blur"] {
            let s = try run("deeplift", g, x, target: .predicted, params: ["baseline": .string(baseline)])
            let a = try #require(s.attribution)
            for i in 0..<2 {
                let absSum = a.select(axis: 0, i).abs().sum().item
                let gap = try #require(s.scalars["completeness_gap"])[i]
                #expect(gap <= 1e-5 * Double(absSum), "\(file) \(baseline) image \(i): gap \(gap), sum |attr| \(absSum)")
            }
        }
    }

    /// The gradient at max pooling (the deeplift package's default, Captum's effective rule)
    /// loses summation-to-delta where the reference pools higher: on the VGG with the blurred
    /// baseline the gap is a sizeable fraction of |F(x) - F(x')|, so the split rule is what
    /// makes the test above pass.
    @Test func theGradientAtMaxPoolingBreaksCompleteness() throws {
        let g = try loadONNX(path: ShippedModelTests.modelsDir + "/vgg-an8flower-single6c.onnx")
        let x = Tensor(shape: [2, 3, 64, 64], data: TinyNets.formula(2 * 3 * 64 * 64, 0.23, 0.4, 0.5).map { 0.5 + $0 })
        let s = try run("deeplift", g, x, target: .predicted, params: ["baseline": .string("blur"), "maxpool": .string("gradient")])
        #expect(try #require(s.scalars["relative_completeness_gap"]).max()! > 0.01)
    }

    /// On the GAP head (A = relu(x), 6x6, fc weights w) excitation backprop at `relu` has a
    /// closed form: P(A_k(p)) = A_k(p) w+_ck / sum_k' w+_ck' sum_p' A_k'(p') (the fc layer's
    /// normaliser is sum_k mean(A_k) w+_ck, average pooling splits P(g_k) over A_k in
    /// proportion), so the map is CAM with the positive weights, normalised to sum 1. c-MWP
    /// subtracts the same with the negative weights' magnitudes and takes the ReLU.
    @Test func excitationBackpropAndCMWPOnAGAPHead() throws {
        let fc: [Float] = [1.5, -0.5, 0.5, 2, -1, 0.25]
        var rng = RandomGenerator(seed: 13)
        let x = Tensor.uniform([2, 2, 6, 6], low: -1, high: 1, rng: &rng)
        let g = try TinyNets.gapHead(h: 6, w: 6, fc: fc)
        for c in 0..<3 {
            let eb = try run("excitation_backprop", g, x, target: .index(c), params: ["layer": .string("relu")])
            let cm = try run("c_mwp", g, x, target: .index(c), params: ["layer": .string("relu")])
            for i in 0..<2 {
                func a(_ k: Int, _ p: Int) -> Float { max(x[flat: i * 72 + k * 36 + p], 0) }
                let sums = (0..<2).map { k in (0..<36).reduce(Float(0)) { $0 + a(k, $1) } }
                let (wp, wn) = ((0..<2).map { max(fc[c * 2 + $0], 0) }, (0..<2).map { max(-fc[c * 2 + $0], 0) })
                let (sp, sn) = (wp[0] * sums[0] + wp[1] * sums[1], wn[0] * sums[0] + wn[1] * sums[1])
                var total: Float = 0
                for p in 0..<36 {
                    let mwp = (a(0, p) * wp[0] + a(1, p) * wp[1]) / sp
                    let dual = sn > 0 ? (a(0, p) * wn[0] + a(1, p) * wn[1]) / sn : 0
                    // Ratios of sums of ~36 values in [0, 1]: float32 rounding ~1e-7 relative.
                    #expect(abs(eb.map[flat: i * 36 + p] - mwp) < 1e-6)
                    #expect(abs(cm.map[flat: i * 36 + p] - max(mwp - dual, 0)) < 1e-6)
                    total += eb.map[flat: i * 36 + p]
                }
                // Marginal winning probabilities: the map is a distribution over the layer.
                #expect(abs(total - 1) < 1e-5)
            }
        }
    }

    @Test func excitationNeedsAWeightedTopLayer() throws {
        // relu-pair ends in a Gemm: fine. A graph whose logits come from an Add has no top layer.
        _ = try ExcitationPass.topNode(TinyNets.reluPair(), plugin: "c_mwp")
        let b = GraphBuilder(name: "no-top", inputShape: [2, 4, 4])
        try b.globalAvgPool(name: "gap")
        try b.flatten(name: "flatten")
        try b.sum("flatten", "flatten", name: "twice")
        do {
            _ = try ExcitationPass.topNode(b.build(), plugin: "c_mwp")
            Issue.record("expected an error")
        } catch let e as PluginError {
            #expect("\(e)".contains("Gemm, MatMul or Conv"))
        }
    }

    // MARK: SLIC, LIME, KernelSHAP

    /// Superpixels of a [C, H, W] image.
    func slic(_ x: Tensor, segments: Int, compactness: Double = 10) -> SLICSegmentation {
        x.withUnsafeBufferPointer { SLICSegmentation($0, channels: x.shape[0], height: x.shape[1], width: x.shape[2],
                                                      segments: segments, compactness: compactness) }
    }

    /// Four flat colour quadrants of 16x16: red, green, blue, grey.
    func quadrants() -> Tensor {
        let colours: [[Float]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5]]
        var px = [Float](repeating: 0, count: 3 * 256)
        for y in 0..<16 { for x in 0..<16 {
            let q = (y / 8) * 2 + x / 8
            for c in 0..<3 { px[c * 256 + y * 16 + x] = colours[q][c] }
        } }
        return Tensor(shape: [3, 16, 16], data: px)
    }

    @Test func slicFindsFlatRegionsAndNeverCrossesAnEdge() throws {
        let x = quadrants()
        func quadrant(_ p: Int) -> Int { (p / 16 / 8) * 2 + (p % 16) / 8 }
        // Four segments on four flat quadrants: exactly the quadrants, numbered in raster order.
        let four = slic(x, segments: 4)
        #expect(four.count == 4)
        #expect((0..<256).allSatisfy { Int(four.labels[$0]) == quadrant($0) })
        // More segments split the quadrants but no superpixel straddles two colours, each is
        // 4-connected, and labels are 0..<count.
        for k in [16, 30] {
            let s = slic(x, segments: k)
            #expect(s.count >= 4 && Set(s.labels) == Set((0..<s.count).map(Int32.init)))
            for l in 0..<s.count {
                let pixels = (0..<256).filter { Int(s.labels[$0]) == l }
                #expect(Set(pixels.map(quadrant)).count == 1, "superpixel \(l) of \(k) crosses a colour edge")
                #expect(isConnected(pixels, width: 16), "superpixel \(l) of \(k) is not connected")
            }
        }
    }

    func isConnected(_ pixels: [Int], width w: Int) -> Bool {
        let set = Set(pixels)
        var seen: Set<Int> = [pixels[0]], stack = [pixels[0]]
        while let p = stack.popLast() {
            for q in [p - 1, p + 1, p - w, p + w] where set.contains(q) && !seen.contains(q) && (abs(q % w - p % w) <= 1) {
                seen.insert(q); stack.append(q)
            }
        }
        return seen.count == set.count
    }

    @Test func slicCountFollowsSegmentsOnSmoothImages() throws {
        // A smooth image: the count stays near the request (the grid has ~segments cells and the
        // connectivity step only removes fragments), and compactness makes cells more square.
        let x = ComparatorReferenceTests.smoothImage([3, 48, 48]).reshaped([3, 48, 48])
        for k in [9, 25, 64] {
            let n = slic(x, segments: k).count
            #expect(n >= k / 2 && n <= 2 * k, "asked \(k), got \(n)")
        }
        func meanSpread(_ s: SLICSegmentation) -> Double {
            // Mean over superpixels of (bounding box area / pixel count): 1 for rectangles.
            (0..<s.count).map { l -> Double in
                let p = (0..<(48 * 48)).filter { Int(s.labels[$0]) == l }
                let ys = p.map { $0 / 48 }, xs = p.map { $0 % 48 }
                return Double((ys.max()! - ys.min()! + 1) * (xs.max()! - xs.min()! + 1)) / Double(p.count)
            }.reduce(0, +) / Double(s.count)
        }
        #expect(meanSpread(slic(x, segments: 25, compactness: 100)) < meanSpread(slic(x, segments: 25, compactness: 0.5)))
    }

    /// On a linear model f(x) = sum(w x) with zero 'off' fill, switching superpixels is exactly
    /// linear: f(z) = sum_s z_s c_s with c_s the superpixel's contribution sum_{p in s} w_p x_p.
    /// Unpenalised LIME and KernelSHAP (Shapley values of an additive game are its terms) must
    /// recover c_s whatever masks they draw.
    @Test func surrogatesRecoverExactContributionsOfALinearModel() throws {
        let g = try TinyNets.blockLinear(pattern: TinyNets.blockPattern)
        var rng = RandomGenerator(seed: 11)
        let x = Tensor.uniform([2, 1, 8, 8], low: 0.2, high: 1, rng: &rng)
        for (method, extra) in [("lime", ["alpha": ParamValue.float(0)]), ("kernel_shap", [:])] {
            var params: [String: ParamValue] = ["segments": .int(6), "samples": .int(64), "baseline": .string("zeros")]
            params.merge(extra) { $1 }
            let s = try run(method, g, x, params: params)
            for i in 0..<2 {
                let seg = x.withUnsafeBufferPointer {
                    SLICSegmentation(UnsafeBufferPointer(rebasing: $0[(i * 64)..<((i + 1) * 64)]), channels: 1, height: 8, width: 8,
                                     segments: 6, compactness: 10)
                }
                var c = [Float](repeating: 0, count: seg.count)
                for p in 0..<64 { c[Int(seg.labels[p])] += TinyNets.blockPattern[p] * x[flat: i * 64 + p] }
                for p in 0..<64 {
                    // Least squares on exact data: residual zero up to float32 scores (~1e-7 of
                    // f ~ 3) amplified by the conditioning of 64 random masks on a few superpixels.
                    #expect(abs(s.map[flat: i * 64 + p] - c[Int(seg.labels[p])]) < 1e-4, "\(method) image \(i) pixel \(p)")
                }
                #expect(s.scalars["superpixels"]![i] == Double(seg.count))
            }
        }
    }

    @Test func kernelSHAPMasksFollowTheShapleyKernel() throws {
        // Two end masks with weight 1e6, then masks whose size k has probability proportional
        // to (M - 1) / (k (M - k)): for M = 6 that is 5/5, 5/8, 5/9, 5/8, 5/5 over k = 1..5, so
        // k = 1 or 5 have 27.3% each and k = 3 has 15.2%.
        var rng = RandomGenerator(seed: 2)
        let (masks, weights) = KernelSHAPExplainer.Sampler().draw(samples: 20_002, features: 6, rng: &rng)
        #expect(Array(masks[0..<6]) == [1, 1, 1, 1, 1, 1] && Array(masks[6..<12]) == [0, 0, 0, 0, 0, 0])
        #expect(weights[0] == 1e6 && weights[1] == 1e6 && weights[2...].allSatisfy { $0 == 1 })
        var counts = [Int](repeating: 0, count: 7)
        for s in 2..<20_002 { counts[Int(masks[(s * 6)..<(s * 6 + 6)].reduce(0, +))] += 1 }
        let total = (1...5).map { 5.0 / Double($0 * (6 - $0)) }.reduce(0, +)
        for k in 1...5 {
            let expected = 5.0 / Double(k * (6 - k)) / total
            // 20000 draws: a binomial share has standard error <= 0.0035; 0.015 is > 4 of them.
            #expect(abs(Double(counts[k]) / 20_000 - expected) < 0.015, "k = \(k)")
        }
        #expect(counts[0] == 0 && counts[6] == 0)
        // LIME: the first mask is the image itself, the rest keep each superpixel with p = 1/2,
        // and the kernel is sqrt(exp(-d^2 / w^2)) of the cosine distance d = 1 - sqrt(k / M).
        let (lime, limeWeights) = LIMEExplainer.Sampler(kernelWidth: 0.25, ridge: 1).draw(samples: 4000, features: 5, rng: &rng)
        #expect(Array(lime[0..<5]) == [1, 1, 1, 1, 1] && abs(limeWeights[0] - 1) < 1e-12)
        let share = lime[5...].reduce(0, +) / Float(lime.count - 5)
        #expect(abs(share - 0.5) < 0.02)  // 19995 Bernoulli draws: standard error 0.0035
        let d = 1 - (2.0 / 5).squareRoot()
        #expect(abs(LIMEExplainer.Sampler.kernel(on: 2, of: 5, width: 0.25) - exp(-d * d / 0.0625).squareRoot()) < 1e-12)
    }
}
