import Foundation
import Testing
@testable import Plugins
import Runtime

/// Small parameter settings that keep the expensive methods fast in debug builds.
private let fastParams: [String: [String: ParamValue]] = [
    "rise": ["masks": .int(64)],
    "smoothgrad": ["samples": .int(4)],
    "vargrad": ["samples": .int(4)],
    "integrated_gradients": ["steps": .int(8)],
    "expected_gradients": ["samples": .int(8)],
    "chip": ["gates": .int(4)],
    "lime": ["samples": .int(40), "segments": .int(8)],
    "kernel_shap": ["samples": .int(40), "segments": .int(8)],
    "nice": ["epochs": .int(1), "batch": .int(3)],
    // The contract's random CNN is no ModelZoo family: the student layout is named.
    "surrogate": ["student": .string("resnet"), "epochs_student": .int(1), "epochs_decoder": .int(1), "batch": .int(4)],
]

private func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}

@Suite("Baseline explainers")
struct ExplainerTests {
    let registry = Registry.shared

    func run(_ name: String, _ g: Graph, _ x: Tensor, target: Target = .index(0), params: [String: ParamValue] = [:],
             score: ScoreKind = .logit, seed: UInt64 = 0, cancellation: CancellationToken = .never) throws -> SaliencyMap {
        let e = try registry.explainer(name)
        // Methods with a fit phase are fitted on random images shaped like x (seed-independent).
        var rng = RandomGenerator(seed: 5)
        let state = e.capabilities.contains(.fits)
            ? try fit(e, model: g, dataset: TensorDataset(images: Tensor.uniform([6] + Array(x.shape.dropFirst()), rng: &rng)), params: params)
            : nil
        return try explain(e, model: g, images: x, target: target, params: params, score: score, seed: seed,
                           cancellation: cancellation, fitted: state)
    }


    // MARK: known answers

    /// Two 8x8 images with positive values (so x * w keeps the block's sign).
    func blockImages() -> Tensor {
        var rng = RandomGenerator(seed: 11)
        return Tensor.uniform([2, 1, 8, 8], low: 0.2, high: 1, rng: &rng)
    }

    @Test func gradientOfALinearNetIsItsWeightPattern() throws {
        let g = try TinyNets.blockLinear(pattern: TinyNets.blockPattern)
        let x = blockImages()
        let s = try run("gradient", g, x)
        let w = TinyNets.blockPattern
        #expect(maxAbsDiff(s.attribution!.scalars, w + w) < 1e-6)
        #expect(maxAbsDiff(s.map.scalars, (w + w).map(abs)) < 1e-6)
        let ixg = try run("input_x_gradient", g, x)
        #expect(maxAbsDiff(ixg.map.scalars, zip(x.scalars, w + w).map(*)) < 1e-6)
        // A linear net has no ReLU: the three backprop variants agree with the gradient.
        for m in ["guided_backprop", "deconvnet"] {
            #expect(maxAbsDiff(try run(m, g, x).attribution!.scalars, w + w) < 1e-6)
        }
    }

    @Test func integratedGradientsOfALinearNetIsInputTimesWeight() throws {
        let g = try TinyNets.blockLinear(pattern: TinyNets.blockPattern)
        let x = blockImages()
        let expected = zip(x.scalars, TinyNets.blockPattern + TinyNets.blockPattern).map(*)
        let mid = try run("integrated_gradients", g, x, params: ["steps": .int(10), "method": .string("riemann_middle"), "batch_size": .int(3)])
        #expect(maxAbsDiff(mid.attribution!.scalars, expected) < 1e-5)
        for gap in mid.scalars["completeness_gap"]! { #expect(gap < 1e-4) }
        // Captum's trapezoid weights sum to (n-1)/n: exactly that fraction of x * w, and the
        // gap is |F(x) - F(0)| / n.
        let trap = try run("integrated_gradients", g, x, params: ["steps": .int(10)])
        #expect(maxAbsDiff(trap.attribution!.scalars, expected.map { $0 * 0.9 }) < 1e-5)
        let f = perImageSums(Tensor(shape: [2, 1, 8, 8], data: expected))
        for i in 0..<2 { #expect(abs(trap.scalars["completeness_gap"]![i] - f[i] / 10) < 1e-4) }
        #expect(maxAbsDiff(trap.map.scalars, expected.map { abs($0) * 0.9 }) < 1e-5)
    }

    @Test func occlusionFindsExactlyTheBlock() throws {
        let g = try TinyNets.blockLinear(pattern: TinyNets.blockPattern)
        let x = blockImages()
        let w = TinyNets.blockPattern
        // 1-pixel windows on a linear net: the drop at each pixel is x * w.
        let one = try run("occlusion", g, x, params: ["window": .int(1), "batch_size": .int(7)])
        #expect(maxAbsDiff(one.map.scalars, zip(x.scalars, w + w).map(*)) < 1e-5)
        // Default window at 8x8 is 2 (stride 2): the block is exactly one window, whose drop
        // (the block's whole contribution) every one of its pixels gets.
        // A window outside the block changes no weighted pixel, so its drop is 0 in exact
        // arithmetic; computed as f(x) - f(occluded), it is 0 up to the rounding of two
        // 64-term sums of size ~|f| (~10): a few ulps of that, depending on the CPU's sgemm
        // kernel. 1e-5 bounds that rounding with room, and is 1e4 times below the smallest
        // block drop.
        let roundingOfF: Float = 1e-5
        let def = try run("occlusion", g, x)
        for i in 0..<2 {
            let block = (0..<64).filter { w[$0] != 0 }.reduce(Float(0)) { $0 + x[flat: i * 64 + $1] * w[$1] }
            for p in 0..<64 {
                let v = def.map[flat: i * 64 + p]
                #expect(abs(v - (w[p] != 0 ? block : 0)) < roundingOfF)
            }
        }
        // Overlapping windows average: stride 1 window 2 spreads the drops to the block's rim.
        let overlap = try run("occlusion", g, x, params: ["window": .int(2), "stride": .int(1)])
        #expect(overlap.map[flat: 1 * 8 + 4] > 0.1)
        #expect(abs(overlap.map[flat: 0]) < roundingOfF)
        // Stride larger than the window: no window covers the gaps, so they are never written
        // (a structural zero), and no window starts past the border.
        let sparse = try run("occlusion", g, x, params: ["window": .int(2), "stride": .int(3)])
        #expect(sparse.map[flat: 3 * 8 + 4] > 0.1 && sparse.map[flat: 2 * 8 + 4] == 0)
        #expect(OcclusionExplainer.starts(8, window: 2, stride: 5) == [0, 5])
        #expect(OcclusionExplainer.starts(28, window: 2, stride: 8) == [0, 8, 16, 24])
        #expect(OcclusionExplainer.starts(10, window: 4, stride: 4) == [0, 4, 8])
    }

    @Test func camAndGradCAMOnAGAPHeadHaveClosedForms() throws {
        let fc: [Float] = [1.5, -0.5, -1, 2, 0.25, 0.25]
        var rng = RandomGenerator(seed: 5)
        let x = Tensor.uniform([2, 2, 6, 6], low: -1, high: 1, rng: &rng)
        let g = try TinyNets.gapHead(h: 6, w: 6, fc: fc)
        for c in 0..<3 {
            let cam = try run("cam", g, x, target: .index(c))
            let gc = try run("gradcam", g, x, target: .index(c))
            for i in 0..<2 {
                for p in 0..<36 {
                    let a0 = max(x[flat: i * 72 + p], 0), a1 = max(x[flat: i * 72 + 36 + p], 0)
                    let expected = fc[c * 2] * a0 + fc[c * 2 + 1] * a1
                    #expect(abs(cam.map[flat: i * 36 + p] - expected) < 1e-5)
                    // dS/dA_k = w_ck / (h w) everywhere, so Grad-CAM = ReLU(CAM) / 36.
                    #expect(abs(gc.map[flat: i * 36 + p] - max(expected, 0) / 36) < 1e-6)
                }
            }
        }
        // With a stride-2 layer the 3x3 map is upsampled bilinearly to 6x6.
        let g2 = try TinyNets.gapHead(h: 6, w: 6, stride: 2, fc: fc)
        let cam = try run("cam", g2, x, target: .index(1))
        var low = [Float](repeating: 0, count: 2 * 9)
        for i in 0..<2 { for yy in 0..<3 { for xx in 0..<3 {
            let p = yy * 2 * 6 + xx * 2
            low[i * 9 + yy * 3 + xx] = fc[2] * max(x[flat: i * 72 + p], 0) + fc[3] * max(x[flat: i * 72 + 36 + p], 0)
        } } }
        let up = Tensor(shape: [2, 1, 3, 3], data: low).upsampleBilinear(size: [6, 6])
        #expect(maxAbsDiff(cam.map.scalars, up.scalars) < 1e-5)
    }

    @Test func guidedBackpropAndDeconvnetDifferFromTheGradientAsPredicted() throws {
        let g = try TinyNets.reluPair()
        let x = Tensor(shape: [1, 1, 1, 2], data: [2, -1])
        #expect(try run("gradient", g, x).attribution!.scalars == [-2, -3])
        #expect(try run("guided_backprop", g, x).attribution!.scalars == [1, 0])
        #expect(try run("deconvnet", g, x).attribution!.scalars == [1, 2])
    }

    /// On the GAP head everything has a closed form: dS_c/dA_k = w_ck / 36, so guided
    /// backprop passes relu(w_ck) / 36 where x_k > 0 (identity 1x1 conv), Grad-CAM is
    /// relu(CAM_c) / 36, and guided Grad-CAM is their product (Selvaraju et al. 2017).
    @Test func guidedGradCAMOnAGAPHeadHasAClosedForm() throws {
        let fc: [Float] = [1.5, -0.5, -1, 2, 0.25, 0.25]
        var rng = RandomGenerator(seed: 9)
        let x = Tensor.uniform([2, 2, 6, 6], low: -1, high: 1, rng: &rng)
        let g = try TinyNets.gapHead(h: 6, w: 6, fc: fc)
        for c in 0..<3 {
            let ggc = try run("guided_gradcam", g, x, target: .index(c))
            for i in 0..<2 { for k in 0..<2 { for p in 0..<36 {
                let a0 = max(x[flat: i * 72 + p], 0), a1 = max(x[flat: i * 72 + 36 + p], 0)
                let gradcam = max(fc[c * 2] * a0 + fc[c * 2 + 1] * a1, 0) / 36
                let guided: Float = x[flat: i * 72 + k * 36 + p] > 0 ? max(fc[c * 2 + k], 0) / 36 : 0
                // Products of values below ~0.1 from a 2-term sum: 1e-7 is a few float roundings.
                #expect(abs(ggc.attribution![flat: i * 72 + k * 36 + p] - guided * gradcam) < 1e-7)
            } } }
        }
    }

    /// On the GAP head the layer is relu(x) itself (identity 1x1 conv), so the map is the
    /// channel mean of relu(x), written out by hand; with stride 2 the 3x3 mean is upsampled
    /// bilinearly (the resize op has its own tests against PyTorch).
    @Test func activationIsTheChannelMeanOfTheLayerUpsampled() throws {
        let fc: [Float] = [1, 0, 0, 1, 1, 1]
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.uniform([2, 2, 6, 6], low: -1, high: 1, rng: &rng)
        let s = try run("activation", try TinyNets.gapHead(h: 6, w: 6, fc: fc), x, params: ["layer": .string("relu")])
        for i in 0..<2 { for p in 0..<36 {
            let mean = (max(x[flat: i * 72 + p], 0) + max(x[flat: i * 72 + 36 + p], 0)) / 2
            #expect(abs(s.map[flat: i * 36 + p] - mean) < 1e-7)  // one float addition and halving
        } }
        // The default layer is the last conv block's output: the ReLU.
        let d = try run("activation", try TinyNets.gapHead(h: 6, w: 6, stride: 2, fc: fc), x)
        var low = [Float](repeating: 0, count: 2 * 9)
        for i in 0..<2 { for yy in 0..<3 { for xx in 0..<3 {
            let p = yy * 2 * 6 + xx * 2
            low[i * 9 + yy * 3 + xx] = (max(x[flat: i * 72 + p], 0) + max(x[flat: i * 72 + 36 + p], 0)) / 2
        } } }
        let up = Tensor(shape: [2, 1, 3, 3], data: low).upsampleBilinear(size: [6, 6])
        #expect(maxAbsDiff(d.map.scalars, up.scalars) < 1e-6)
    }

    // MARK: layers and heads

    @Test func defaultLayerIsTheLastConvBlockOutput() throws {
        #expect(try defaultConvBlockLayer(TinyNets.randomCNN()) == "relu2")
        #expect(try defaultConvBlockLayer(Architectures.lenet5Caffe()) == "conv2")
        #expect(try defaultConvBlockLayer(Architectures.resnet18(inputShape: [3, 32, 32], classes: 4)) == "layer4.1.relu2")
        #expect(throws: PluginError.self) { try defaultConvBlockLayer(TinyNets.reluPair()) }
    }

    @Test func camNeedsAGAPLinearHeadAndSaysSo() throws {
        let lenet = try Architectures.lenet5Caffe()
        var rng = RandomGenerator(seed: 1)
        let x = Tensor.uniform([1, 1, 28, 28], rng: &rng)
        do {
            _ = try run("cam", lenet, x)
            Issue.record("expected an error")
        } catch let e as PluginError {
            #expect("\(e)".contains("GlobalAveragePool"))
        }
        do {
            _ = try run("gradcam", lenet, x, params: ["layer": .string("conv3")])
            Issue.record("expected an error")
        } catch let e as PluginError {
            #expect("\(e)".contains("unknown layer 'conv3'"))
        }
    }

    // MARK: integrated gradients

    @Test func completenessGapShrinksWithMoreSteps() throws {
        let g = try TinyNets.smoothCNN()
        var rng = RandomGenerator(seed: 4)
        let x = Tensor.uniform([2, 3, 8, 8], low: -2, high: 2, rng: &rng)
        for method in ["riemann_trapezoid", "riemann_middle"] {
            let coarse = try run("integrated_gradients", g, x, params: ["steps": .int(4), "method": .string(method)])
            let fine = try run("integrated_gradients", g, x, params: ["steps": .int(64), "method": .string(method)])
            for i in 0..<2 {
                let (c, f) = (coarse.scalars["completeness_gap"]![i], fine.scalars["completeness_gap"]![i])
                #expect(f < c, "\(method) image \(i): gap \(f) at 64 steps vs \(c) at 4")
                #expect(fine.scalars["relative_completeness_gap"]![i] < 0.05)
            }
        }
    }

    @Test func integratedGradientsBaselines() throws {
        let g = try TinyNets.blockLinear(pattern: TinyNets.blockPattern)
        let x = blockImages()
        let b = Tensor.full([1, 8, 8], 0.5)
        let s = try run("integrated_gradients", g, x, params: ["baseline": .string("tensor"), "baseline_tensor": .tensor(b),
                                                               "method": .string("riemann_middle"), "steps": .int(4)])
        let w = TinyNets.blockPattern + TinyNets.blockPattern
        #expect(maxAbsDiff(s.attribution!.scalars, zip(x.scalars, w).map { ($0 - 0.5) * $1 }) < 1e-5)
        #expect(throws: PluginError.self) { try run("integrated_gradients", g, x, params: ["baseline": .string("tensor")]) }
        #expect(throws: PluginError.self) {
            try run("integrated_gradients", g, x, params: ["baseline": .string("tensor"), "baseline_tensor": .tensor(Tensor.zeros([3, 3]))])
        }
        for base in ["blur", "noise"] {
            let r = try run("integrated_gradients", g, x, params: ["baseline": .string(base), "method": .string("riemann_middle")])
            for gap in r.scalars["completeness_gap"]! { #expect(gap < 1e-4) }
        }
    }

    // MARK: SmoothGrad / VarGrad / RISE

    @Test func smoothGradOfALinearNetIsTheGradientAndVarGradIsZero() throws {
        let g = try TinyNets.blockLinear(pattern: TinyNets.blockPattern)
        let x = blockImages()
        let w = TinyNets.blockPattern + TinyNets.blockPattern
        let sg = try run("smoothgrad", g, x, params: ["samples": .int(5), "batch_size": .int(3)])
        #expect(maxAbsDiff(sg.attribution!.scalars, w) < 1e-5)
        let vg = try run("vargrad", g, x, params: ["samples": .int(5)])
        #expect(vg.attribution!.scalars.allSatisfy { abs($0) < 1e-6 })
        // input x gradient: the mean of (x + e) * w; noise averages out only in expectation,
        // so check the mean over many samples against x * w loosely.
        let ixg = try run("smoothgrad", g, x, params: ["samples": .int(400), "base": .string("input_x_gradient"), "noise": .float(0.1)])
        #expect(maxAbsDiff(ixg.attribution!.scalars, zip(x.scalars, w).map(*)) < 0.05)
    }

    @Test func riseWeightsPixelsByTheScoresOfMasksThatKeepThem() throws {
        let g = try TinyNets.blockLinear(pattern: TinyNets.blockPattern)
        let x = blockImages()
        let s = try run("rise", g, x, params: ["masks": .int(3000), "grid": .int(4)])
        let w = TinyNets.blockPattern
        for i in 0..<2 {
            let inside = (0..<64).filter { w[$0] != 0 }.map { s.map[flat: i * 64 + $0] }
            let farOutside = [0, 7, 56, 63].map { s.map[flat: i * 64 + $0] }
            #expect(inside.min()! > farOutside.max()!)
        }
    }

    @Test func riseIsNormalisedByMaskCountAndKeepProbability() throws {
        // A constant score b for every masked copy gives b * mean_i M_i(x) / p ~ b everywhere
        // (E[M] = p): checks the 1 / (N p) normalisation for several p.
        let g = try TinyNets.gapHead(h: 8, w: 8, fc: [Float](repeating: 0, count: 6))
        var rng = RandomGenerator(seed: 8)
        let x = Tensor.uniform([1, 2, 8, 8], rng: &rng)
        for p in [0.5, 0.25] {
            let s = try run("rise", g, x, target: .index(2), params: ["masks": .int(2000), "grid": .int(3), "p": .float(p)])
            let mean = s.map.scalars.reduce(0, +) / Float(s.map.count)
            #expect(abs(mean - 1) < 0.05, "p = \(p): mean saliency \(mean)")
            #expect(s.map.scalars.allSatisfy { abs($0 - 1) < 0.2 })
        }
    }

    // MARK: Captum cross-check

    /// Reference numbers from Captum 0.9.0 / PyTorch 2.13.0+cpu on the same network and
    /// inputs (weights and images from the sin formulas of `TinyNets.captumNet`), target 2:
    /// (element count, sum, sum of |.|, values at flat indices 0, 17, 100, 255, 431, 500, 700,
    /// 863 taken modulo the count). Produced with Saliency(abs=False), InputXGradient,
    /// GuidedBackprop, Deconvolution, IntegratedGradients(n_steps=8, riemann_trapezoid),
    /// LayerGradCam(relu2, relu_attributions=True) + LayerAttribution.interpolate(bilinear),
    /// GuidedGradCam(relu2, interpolate_mode="bilinear"), and Occlusion(window (3,3,3),
    /// strides (3,2,2), baseline 0). The suite does not need torch.
    static let captum: [String: (Int, Double, Double, [Double])] = [
        "gradient": (864, -0.02531426, 1.45997, [-0.0001611178, 0.0003802734, 0.003329976, 0.002934226, -0.000554087, 0.0002730953, 0.002772303, -0.001374393]),
        "input_x_gradient": (864, -0.08991251, 0.7047498, [-8.055892e-05, 0.0001914324, 0.0005935047, 0.001616821, -0.0004661353, 0.000183878, 0.002749561, -6.497098e-05]),
        "guided_backprop": (864, 0.2576085, 4.924803, [0.005768216, 0.002679201, -0.008319879, -0.003131984, 0, -0.002671115, 0, 0]),
        "deconvnet": (864, 0.0450086, 1.696204, [0.006846639, -0.001883744, -4.707968e-05, -9.073006e-07, 0, 3.851148e-06, 0, 0]),
        "integrated_gradients": (864, -0.06666895, 0.6068387, [-0.0001371183, 0.0003610682, 0.0005270143, 0.002630756, -0.000641529, 0.0002556314, 0.001664902, -6.755583e-05]),
        "gradcam": (288, 0.008491258, 0.008491258, [0, 0, 0.0005552473, 0, 0, 0, 0.0001850824, 0]),
        "guided_gradcam": (864, 1.237181e-05, 0.0001507004, [0, 0, -4.619591e-06, -5.796752e-07, 0, -0, 0, 0]),
        "occlusion": (864, 0.1265981, 1.778094, [-0.004080325, -0.003325164, -0.0009686947, 0.002270818, -0.0005757511, 0.003946766, 0.004411429, 0.003884315]),
    ]

    @Test func occlusionWithPredictedTargetsReusesTheTargetPass() throws {
        // With target: predicted, the unoccluded scores come from the host's pass that found
        // the targets; with the same class given as an index, occlusion runs that pass itself.
        // Same model, images and batch: equal up to sgemm splitting a product differently
        // between threads on two calls (1e-6 relative to the largest drop bounds that).
        let (g, x) = try TinyNets.captumNet()
        let predicted = try resolveTargets(.predicted, model: g, images: x)
        for score in [ScoreKind.logit, .prob] {
            let params: [String: ParamValue] = ["window": .int(3), "stride": .int(2)]
            let viaHost = try run("occlusion", g, x, target: .predicted, params: params, score: score)
            let own = try run("occlusion", g, x, target: .each(predicted.map { .index($0) }), params: params, score: score)
            #expect(viaHost.targets == predicted)
            let scale = own.map.scalars.map(abs).max() ?? 0
            #expect(maxAbsDiff(viaHost.map.scalars, own.map.scalars) <= 1e-6 * Swift.max(scale, 1e-3), "score \(score)")
        }
    }

    @Test(arguments: ["gradient", "input_x_gradient", "guided_backprop", "deconvnet", "integrated_gradients", "gradcam", "guided_gradcam", "occlusion"])
    func agreesWithCaptum(_ name: String) throws {
        let (g, x) = try TinyNets.captumNet()
        let params: [String: ParamValue] = name == "integrated_gradients" ? ["steps": .int(8)]
            : name == "occlusion" ? ["window": .int(3), "stride": .int(2)] : [:]
        let s = try run(name, g, x, target: .index(2), params: params)
        let v = (name == "gradcam" ? s.map : s.attribution!).scalars.map(Double.init)
        let (count, sum, absSum, picks) = Self.captum[name]!
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 2e-7 + 2e-4 * abs(b) }
        #expect(v.count == count)
        // The signed sum cancels, so float32 accumulation order shows relative to sum |.|.
        #expect(abs(v.reduce(0, +) - sum) <= 1e-4 * absSum, "\(name) sum \(v.reduce(0, +)) vs Captum \(sum)")
        #expect(close(v.map(abs).reduce(0, +), absSum), "\(name) sum|.| \(v.map(abs).reduce(0, +)) vs Captum \(absSum)")
        for (k, i) in [0, 17, 100, 255, 431, 500, 700, 863].enumerated() {
            #expect(close(v[i % count], picks[k]), "\(name)[\(i % count)] = \(v[i % count]) vs Captum \(picks[k])")
        }
    }

    // MARK: every registered explainer

    @Test(arguments: Registry.shared.explainers.map(\.name))
    func contract(_ name: String) throws {
        let g = try TinyNets.randomCNN()
        var rng = RandomGenerator(seed: 21)
        let x = Tensor.uniform([2, 3, 16, 16], rng: &rng)
        let params = fastParams[name] ?? [:]
        let a = try run(name, g, x, target: .predicted, params: params, seed: 42)
        #expect(a.map.shape == [2, 1, 16, 16])
        #expect(a.map.scalars.allSatisfy { $0.isFinite })
        if let attr = a.attribution {
            #expect(attr.shape == [2, 3, 16, 16])
            #expect(attr.scalars.allSatisfy { $0.isFinite })
        }
        #expect(a.map.scalars.contains { $0 != 0 }, "\(name) gave an all-zero map")
        let b = try run(name, g, x, target: .predicted, params: params, seed: 42)
        #expect(a.map.scalars == b.map.scalars, "\(name) is not deterministic for a fixed seed")
        let e = try registry.explainer(name)
        // IG and DeepLIFT draw random numbers only for their "noise" baseline.
        if e.capabilities.contains(.stochastic) && !["integrated_gradients", "deeplift"].contains(name) {
            let c = try run(name, g, x, target: .predicted, params: params, seed: 43)
            #expect(a.map.scalars != c.map.scalars, "\(name) ignores the seed")
        }
        // score kinds run and stay finite
        let p = try run(name, g, x, target: .index(1), params: params, score: .prob, seed: 1)
        #expect(p.map.scalars.allSatisfy { $0.isFinite })

        let token = CancellationToken()
        token.cancel()
        #expect(throws: PluginError.cancelled) { try run(name, g, x, params: params, cancellation: token) }
        #expect(throws: PluginError.self) { try run(name, g, x, params: ["no_such_parameter": .int(1)]) }
        for spec in e.parameters {
            #expect(!spec.doc.isEmpty)
            if let d = spec.defaultValue, let r = spec.range {
                if case let .int(v) = d { #expect(r.contains(Double(v))) }
                if case let .float(v) = d { #expect(r.contains(v)) }
            }
        }
        #expect(!e.reference.isEmpty && !e.summary.isEmpty)
    }

    @Test func cancellationMidwayStopsLongMethods() throws {
        let g = try TinyNets.randomCNN()
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.uniform([1, 3, 16, 16], rng: &rng)
        let token = CancellationToken()
        let calls = Counter()
        #expect(throws: PluginError.cancelled) {
            try explain(registry.explainer("rise"), model: g, images: x, params: ["masks": .int(100_000)], cancellation: token,
                        progress: { done, _ in calls.bump(); if done == 3 { token.cancel() } })
        }
        #expect(calls.value == 3)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func bump() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}

/* The script that produced ExplainerTests.captum (Python, torch 2.13.0+cpu, captum 0.9.0):

import numpy as np, torch, torch.nn as nn
from captum.attr import Saliency, InputXGradient, GuidedBackprop, Deconvolution, IntegratedGradients, LayerGradCam, LayerAttribution, GuidedGradCam, Occlusion
torch.set_default_dtype(torch.float32)
def formula(n, a, b, s):
    return torch.tensor((np.sin(np.arange(n) * a + b) * s).astype(np.float32))
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1); self.relu1 = nn.ReLU(); self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1); self.relu2 = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1); self.flatten = nn.Flatten(); self.fc = nn.Linear(6, 5)
    def forward(self, x):
        return self.fc(self.flatten(self.gap(self.relu2(self.conv2(self.pool1(self.relu1(self.conv1(x))))))))
m = Net().eval()
with torch.no_grad():
    for p, (a, b, s) in [(m.conv1.weight, (0.9, 0.1, 0.4)), (m.conv1.bias, (1.1, 0.5, 0.05)), (m.conv2.weight, (0.7, 0.3, 0.25)),
                         (m.conv2.bias, (1.3, 1.0, 0.05)), (m.fc.weight, (1.3, 0.2, 0.6)), (m.fc.bias, (2.0, 0.7, 0.1))]:
        p.copy_(formula(p.numel(), a, b, s).reshape(p.shape))
x = (0.5 + formula(2 * 3 * 12 * 12, 0.37, 0.0, 0.5)).reshape(2, 3, 12, 12)
t = 2
out = {}
out["logits"] = m(x).detach()
out["gradient"] = Saliency(m).attribute(x, target=t, abs=False)
out["input_x_gradient"] = InputXGradient(m).attribute(x, target=t)
out["guided_backprop"] = GuidedBackprop(m).attribute(x, target=t)
out["deconvnet"] = Deconvolution(m).attribute(x, target=t)
out["integrated_gradients"] = IntegratedGradients(m).attribute(x, target=t, n_steps=8, method="riemann_trapezoid")
gc = LayerGradCam(m, m.relu2).attribute(x, target=t, relu_attributions=True)
out["gradcam"] = LayerAttribution.interpolate(gc, (12, 12), interpolate_mode="bilinear")
out["guided_gradcam"] = GuidedGradCam(m, m.relu2).attribute(x, target=t, interpolate_mode="bilinear")
out["occlusion"] = Occlusion(m).attribute(x, sliding_window_shapes=(3, 3, 3), strides=(3, 2, 2), baselines=0, target=t)
idx = [0, 17, 100, 255, 431, 500, 700, 863]
for k, v in out.items():
    v = v.detach().double().flatten()
    picks = ", ".join(f"{float(v[i % v.numel()]):.7g}" for i in idx)
    print(f'"{k}": ({v.numel()}, {float(v.sum()):.7g}, {float(v.abs().sum()):.7g}, [{picks}]),')
*/
