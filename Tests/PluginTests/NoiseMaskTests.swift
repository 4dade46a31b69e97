import Testing
@testable import Plugins
import Runtime

/// A net whose two logits read only a known 3x3 block of an 8x8 gray image (through a
/// Flatten + Gemm whose weights are zero elsewhere): the mask must keep the block and drop
/// the rest, since only the block moves the features and every kept pixel costs.
func regionNet() throws -> (Graph, [Int]) {
    let b = GraphBuilder(name: "region", inputShape: [1, 8, 8], seed: 1)
    try b.flatten(name: "flatten")
    try b.linear(name: "fc", out: 2)
    let g = try b.build()
    var rng = RandomGenerator(seed: 3)
    var w = [Float](repeating: 0, count: 2 * 64)
    let region = [2, 3, 4].flatMap { r in [4, 5, 6].map { c in r * 8 + c } }
    for o in 0..<2 { for i in region { w[o * 64 + i] = (o == 0 ? 1 : -1) * (0.5 + rng.nextUniform()) } }
    try g.setWeight("fc.weight", Tensor(shape: [2, 64], data: w))
    return (g, region)
}

@Suite("Noise Mask")
struct NoiseMaskTests {
    let explainer = NoiseMaskExplainer()

    @Test func keepsTheRegionTheOutputDependsOnAndDropsTheRest() throws {
        let (g, region) = try regionNet()
        var rng = RandomGenerator(seed: 5)
        let x = Tensor.uniform([2, 1, 8, 8], rng: &rng)
        let r = try explain(explainer, model: g, images: x, params: ["max_iterations": .int(800), "lr": .float(0.05)], seed: 11)
        #expect(r.map.shape == [2, 1, 8, 8])
        for i in 0..<2 {
            let m = r.map.select(axis: 0, i).scalars
            let inside = region.map { m[$0] }.reduce(0, +) / Float(region.count)
            let outside = (0..<64).filter { !region.contains($0) }.map { m[$0] }.reduce(0, +) / Float(64 - region.count)
            #expect(inside > 0.6, "image \(i): mean mask inside the region \(inside)")
            #expect(outside < 0.15, "image \(i): mean mask outside the region \(outside)")
        }
        // The record carries the two terms per iteration; preservation falls from ~init.
        let pres = r.curves["preservation"]![0]
        #expect(pres.first! > 0.9 && pres.last! < 0.5)
        #expect(r.curves["loss_term"]![0].count == pres.count)
        #expect(r.scalars["beta0"]!.allSatisfy { $0 > 0 })
    }

    /// The fused blend op (the hot path) against the same objective composed from taped ops:
    /// same blended input, same gradient with respect to V (feature-side gradient g plus the
    /// preservation term mean(M) per image).
    @Test func fusedBlendMatchesTheComposedObjective() throws {
        var rng = RandomGenerator(seed: 9)
        let (n, c, h, w) = (2, 3, 5, 4)
        let x = Tensor.uniform([n, c, h, w], rng: &rng)
        let u = Tensor.uniform([n, c, h, w], rng: &rng)
        let g = Tensor.normal([n, c, h, w], rng: &rng)
        let v0 = Tensor.normal([n, 1, h, w], rng: &rng) * 2
        let blend = MaskedBlend(images: x)

        let v1 = v0.requiringGrad()
        let fused = blend.apply(v1, noise: u)
        let fusedGrad = gradient(of: fused, wrt: v1, seed: g)

        let v2 = v0.requiringGrad()
        let m = v2.sigmoid()
        let composed = x * m + u * (1 - m)
        let objective = (composed * g).sum() + m.reshaped([n, h * w]).mean(axis: 1).sum()
        let composedGrad = gradient(of: objective, wrt: v2)

        #expect(fused.shape == composed.shape)
        for (a, b) in zip(fused.scalars, composed.scalars) { #expect(abs(a - b) < 1e-5) }
        for (a, b) in zip(fusedGrad.scalars, composedGrad.scalars) { #expect(abs(a - b) < 1e-5 * max(1, abs(b))) }
        let keep = m.reshaped([n, h * w]).mean(axis: 1).scalars
        for i in 0..<n { #expect(abs(blend.keep[i] - Double(keep[i])) < 1e-5) }
    }

    /// The feature loss's seed gradient is 2 beta (f - t) / K and its MSE the plain mean.
    @Test func featureLossSeedIsTheMSEGradient() throws {
        var rng = RandomGenerator(seed: 2)
        let f = Tensor.normal([2, 6], rng: &rng), t = Tensor.normal([2, 6], rng: &rng)
        var mse = [0.0, 0.0]
        let seed = NoiseMaskExplainer.featureLossSeed(f, target: t, beta: [0.5, 3], mse: &mse)
        let fi = f.requiringGrad()
        let loss = ((fi - t).squared().mean(axis: 1) * Tensor(shape: [2], data: [0.5, 3])).sum()
        let expected = gradient(of: loss, wrt: fi)
        for (a, b) in zip(seed.scalars, expected.scalars) { #expect(abs(a - b) < 1e-5) }
        let direct = (f - t).squared().mean(axis: 1).scalars
        for i in 0..<2 { #expect(abs(mse[i] - Double(direct[i])) < 1e-5) }
    }

    @Test func seededAndCancellable() throws {
        let (g, _) = try regionNet()
        let x = Tensor.full([1, 1, 8, 8], 0.5)
        let params: [String: ParamValue] = ["max_iterations": .int(20)]
        let a = try explain(explainer, model: g, images: x, params: params, seed: 4)
        let b = try explain(explainer, model: g, images: x, params: params, seed: 4)
        #expect(a.map.scalars == b.map.scalars)
        let c = try explain(explainer, model: g, images: x, params: params, seed: 5)
        #expect(a.map.scalars != c.map.scalars)
        let token = CancellationToken()
        token.cancel()
        #expect(throws: PluginError.cancelled) {
            try explain(explainer, model: g, images: x, params: params, seed: 4, cancellation: token)
        }
    }

    @Test func worksOnAnyLayerAndStopsWhenStalled() throws {
        let g = try Architectures.lenet5Caffe(seed: 2)
        var rng = RandomGenerator(seed: 6)
        let x = Tensor.uniform([1, 1, 28, 28], rng: &rng)
        for layer in ["conv2", "pool2", "fc1"] {
            let r = try explain(explainer, model: g, images: x,
                                params: ["layer": .string(layer), "max_iterations": .int(30), "window": .int(5), "tolerance": .float(0.5)], seed: 1)
            #expect(r.map.shape == [1, 1, 28, 28])
            // A loose tolerance stops well before the cap.
            #expect(r.scalars["iterations"]![0] < 30)
        }
        #expect(throws: GraphError.self) { try explain(explainer, model: g, images: x, params: ["layer": .string("conv9")]) }
        #expect(NoiseMaskExplainer.defaultLayer(g) == "fc2")
    }

    /// `content` on a hand-set 2-pixel RGB image: X * M + fill * (1 - M) per channel, then
    /// BT.601 luma. Pixel 0: X = (1, 0, 0), M = 1 -> luma 0.299. Pixel 1: X = (0, 1, 0),
    /// M = 0.25, fill = (0.5, 0.5, 0.5) -> (0.375, 0.625, 0.375) -> 0.299*0.375 + 0.587*0.625
    /// + 0.114*0.375 = 0.5217... Without fill ("kept"): pixel 1 -> 0.587 * 0.25 = 0.14675.
    @Test func keptAndCompositeAreTheGrayscaleImageContentTheMaskKeeps() {
        let x = Tensor(shape: [1, 3, 1, 2], data: [1, 0, 0, 1, 0, 0])
        let m = Tensor(shape: [1, 1, 1, 2], data: [1, 0.25])
        let composite = NoiseMaskExplainer.content(x, mask: m, fill: [0.5, 0.5, 0.5]).scalars
        let kept = NoiseMaskExplainer.content(x, mask: m, fill: nil).scalars
        // Float32 arithmetic on values of order 1: a few ulps.
        #expect(abs(composite[0] - 0.299) < 1e-6 && abs(composite[1] - Float(0.299 * 0.375 + 0.587 * 0.625 + 0.114 * 0.375)) < 1e-6)
        #expect(abs(kept[0] - 0.299) < 1e-6 && abs(kept[1] - 0.14675) < 1e-6)
        #expect(NoiseMaskExplainer.undecidedFraction(Tensor(shape: [1, 1, 2, 2], data: [0.05, 0.5, 0.95, 0.2])) == [0.5])
    }

    /// The three outputs come from the same optimisation (same seed): kept is X * M and
    /// composite X * M + mid-range * (1 - M) of the mask output, on the gray region net.
    @Test func outputsShareOneOptimisation() throws {
        let (g, _) = try regionNet()
        var rng = RandomGenerator(seed: 5)
        let x = Tensor.uniform([2, 1, 8, 8], rng: &rng)
        func run(_ output: String) throws -> SaliencyMap {
            try explain(explainer, model: g, images: x, params: ["max_iterations": .int(60), "output": .string(output)], seed: 3)
        }
        let m = try run("mask").map.scalars, kept = try run("kept"), composite = try run("composite").map.scalars
        let xs = x.scalars, lo = xs.min()!, hi = xs.max()!, mid = (lo + hi) / 2
        #expect(kept.map.shape == [2, 1, 8, 8])
        // The same seed gives the same mask bit for bit (one thread of arithmetic per image);
        // the products then differ from the hand formula only by one rounding.
        for p in 0..<xs.count {
            #expect(abs(kept.map.scalars[p] - xs[p] * m[p]) < 1e-6)
            #expect(abs(composite[p] - (xs[p] * m[p] + mid * (1 - m[p]))) < 1e-6)
        }
        #expect(kept.scalars["undecided"]!.count == 2)
    }
}
