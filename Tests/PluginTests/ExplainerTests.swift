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
        try explain(registry.explainer(name), model: g, images: x, target: target, params: params, score: score, seed: seed,
                    cancellation: cancellation)
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
        let def = try run("occlusion", g, x)
        for i in 0..<2 {
            let block = (0..<64).filter { w[$0] != 0 }.reduce(Float(0)) { $0 + x[flat: i * 64 + $1] * w[$1] }
            for p in 0..<64 {
                let v = def.map[flat: i * 64 + p]
                if w[p] != 0 { #expect(abs(v - block) < 1e-5) } else { #expect(v == 0) }
            }
        }
        // Overlapping windows average: stride 1 window 2 spreads the drops to the block's rim.
        let overlap = try run("occlusion", g, x, params: ["window": .int(2), "stride": .int(1)])
        #expect(overlap.map[flat: 1 * 8 + 4] > 0)
        #expect(overlap.map[flat: 0] == 0)
        // Stride larger than the window: gaps stay 0, no window starts past the border.
        let sparse = try run("occlusion", g, x, params: ["window": .int(2), "stride": .int(3)])
        #expect(sparse.map[flat: 3 * 8 + 4] > 0 && sparse.map[flat: 2 * 8 + 4] == 0)
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

    @Test func guidedGradCAMIsGuidedBackpropTimesUpsampledGradCAM() throws {
        let g = try TinyNets.randomCNN()
        var rng = RandomGenerator(seed: 9)
        let x = Tensor.uniform([2, 3, 16, 16], rng: &rng)
        let gbp = try run("guided_backprop", g, x, target: .index(2))
        let gc = try run("gradcam", g, x, target: .index(2))
        let ggc = try run("guided_gradcam", g, x, target: .index(2))
        let expected = gbp.attribution! * gc.map
        #expect(maxAbsDiff(ggc.attribution!.scalars, expected.scalars) < 1e-6)
        #expect(gc.map.scalars.allSatisfy { $0 >= 0 })
    }

    @Test func activationIsTheChannelMeanOfTheLayerUpsampled() throws {
        let g = try TinyNets.randomCNN()
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.uniform([1, 3, 16, 16], rng: &rng)
        let a = try g.forward(x, options: ForwardOptions(capture: ["relu1"])).captured["relu1"]!
        let s = try run("activation", g, x, params: ["layer": .string("relu1")])
        #expect(maxAbsDiff(s.map.scalars, a.mean(axis: 1, keepDims: true).scalars) < 1e-6)
        let d = try run("activation", g, x)
        let a2 = try g.forward(x, options: ForwardOptions(capture: ["relu2"])).captured["relu2"]!
        #expect(maxAbsDiff(d.map.scalars, a2.mean(axis: 1, keepDims: true).upsampleBilinear(size: [16, 16]).scalars) < 1e-6)
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
        if e.capabilities.contains(.stochastic) && name != "integrated_gradients" {
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
