import Foundation
import Testing
@testable import Plugins
import Runtime

/// One MoRF / LeRF / ABPC setting of the numpy reference: per image, the two AOPCs, ABPC and
/// both curves (target score after 0...iterations steps).
struct PixelFlippingCase {
    struct Image {
        let morf: Double, lerf: Double, abpc: Double
        let morfCurve: [Double], lerfCurve: [Double]
    }
    let perStep: Int, iterations: Int
    let colour: Double
    let prob: Bool
    let images: [Image]
}

/// Independent references for the perturbation and complexity metrics: numbers printed by the
/// numpy script at the end of this file (run by hand; the suite does not need Python) on
/// inputs built from closed-form formulas, so Swift and numpy start from the same floats.
/// MoRF and LeRF draw their replacement colours from the metric's generator; with
/// `noise_low` = `noise_high` every replacement is that one colour (low + (high − low) · u is
/// exactly `low`), so the reference needs no random numbers.
@Suite("Metric references")
struct MetricReferenceTests {
    /// flatten 2x6x6 -> fc1 (72 -> 5) -> ReLU -> fc2 (5 -> 3), weights and two images from the
    /// sin formulas of the script; the map is floor(3 sin(0.61 i + 0.3)), integers -3...2 with
    /// many ties (which break by pixel index); targets 1 and 2.
    static func mlpFixture() throws -> (model: Graph, images: Tensor, map: SaliencyMap) {
        let g = try TinyNets.mlp(name: "metric-mlp", inputShape: [2, 6, 6], hidden: 5, classes: 3, weights: [
            "fc1.weight": TinyNets.formula(360, 0.05, 0.2, 0.1), "fc1.bias": TinyNets.formula(5, 1.3, 0.4, 0.2),
            "fc2.weight": TinyNets.formula(15, 1.1, 0.5, 0.8), "fc2.bias": TinyNets.formula(3, 2.0, 0.1, 0.1)])
        let x = Tensor(shape: [2, 2, 6, 6], data: TinyNets.formula(144, 0.37, 0, 0.45).map { 0.5 + $0 })
        let m = (0..<72).map { Float(Foundation.floor(Foundation.sin(Double($0) * 0.61 + 0.3) * 3)) }
        return (g, x, SaliencyMap(map: Tensor(shape: [2, 1, 6, 6], data: m), method: "given", params: Params(), targets: [1, 2]))
    }

    /// float32 forward passes (sums of 72 and 5 products, values below 1) against numpy in
    /// float64 agree to ~1e-7; 1e-5 leaves room for other summation orders (another sgemm
    /// kernel), while one pixel replaced out of order moves a score by more than 1e-3.
    static let scoreTolerance = 1e-5

    // MARK: MoRF, LeRF, ABPC

    static let pixelFlipping: [PixelFlippingCase] = [
        PixelFlippingCase(perStep: 5, iterations: 7, colour: 0.3, prob: false, images: [
            .init(morf: 0.0345307381, lerf: 0.0791057866, abpc: -0.0445750485,
                  morfCurve: [0.157545008, 0.105023664, 0.125384413, 0.138691997, 0.153099498, 0.130507996, 0.0940329603, 0.0798286257],
                  lerfCurve: [0.157545008, 0.118247323, 0.0927927987, 0.0809565128, 0.0265241575, 0.0787099709, 0.0261886266, 0.046549376]),
            .init(morf: -0.0921594707, lerf: -0.13351444, abpc: 0.0413549698,
                  morfCurve: [-0.84738237, -0.823446112, -0.824074757, -0.799376036, -0.759153921, -0.713696364, -0.643064773, -0.631588859],
                  lerfCurve: [-0.84738237, -0.776750778, -0.765274865, -0.720961953, -0.672252613, -0.666023327, -0.644286557, -0.618010971])]),
        PixelFlippingCase(perStep: 4, iterations: 9, colour: 0.8, prob: true, images: [
            .init(morf: 0.0250074556, lerf: 0.0260704142, abpc: -0.00106295862,
                  morfCurve: [0.28481652, 0.280724875, 0.278272978, 0.273907746, 0.262431226, 0.255369571, 0.250435535, 0.243006175, 0.236279774, 0.232846244],
                  lerfCurve: [0.28481652, 0.278272852, 0.274428105, 0.267181193, 0.262308644, 0.257760706, 0.246249559, 0.246397358, 0.237199876, 0.232846244]),
            .init(morf: 0.0414495094, lerf: 0.02961633, abpc: 0.0118331794,
                  morfCurve: [0.124243794, 0.101320254, 0.0957950673, 0.0888378353, 0.0845035467, 0.0755298239, 0.0676918074, 0.0674783392, 0.0620803086, 0.0604620664],
                  lerfCurve: [0.124243794, 0.116875539, 0.112129501, 0.106607548, 0.101312797, 0.0939426185, 0.0864260561, 0.080032188, 0.0642425286, 0.0604620664])]),
    ]

    @Test(arguments: 0..<2)
    func pixelFlippingMatchesNumpy(_ index: Int) throws {
        let (model, images, map) = try Self.mlpFixture()
        let ref = Self.pixelFlipping[index]
        // batch_size 3 splits the 2 x (L + 1) states across batches and images.
        let params: [String: ParamValue] = ["pixels_per_step": .int(ref.perStep), "iterations": .int(ref.iterations),
                                            "noise_low": .float(ref.colour), "noise_high": .float(ref.colour),
                                            "score": .string(ref.prob ? "prob" : "logit"), "batch_size": .int(3)]
        let morf = try evaluate(MoRFMetric(), model: model, images: images, saliency: map, params: params, seed: 11)
        let lerf = try evaluate(LeRFMetric(), model: model, images: images, saliency: map, params: params, seed: 12)
        let abpc = try evaluate(ABPCMetric(), model: model, images: images, saliency: map, params: params, seed: 13)
        let xs = (0...ref.iterations).map { Double(Swift.min($0 * ref.perStep, 36)) / 36 }
        let tol = Self.scoreTolerance
        for (i, want) in ref.images.enumerated() {
            #expect(abs(morf.values[i] - want.morf) < tol, "MoRF AOPC image \(i): \(morf.values[i]) vs numpy \(want.morf)")
            #expect(abs(lerf.values[i] - want.lerf) < tol, "LeRF AOPC image \(i): \(lerf.values[i]) vs numpy \(want.lerf)")
            #expect(abs(abpc.values[i] - want.abpc) < tol, "ABPC image \(i): \(abpc.values[i]) vs numpy \(want.abpc)")
            #expect(abs(abpc.extras["morf"]![i] - want.morf) < tol && abs(abpc.extras["lerf"]![i] - want.lerf) < tol)
            let (mc, lc, ac) = (try #require(morf.curves?[i]), try #require(lerf.curves?[i]), try #require(abpc.curves?[i]))
            #expect(mc.count == ref.iterations + 1 && lc.count == ref.iterations + 1 && ac.count == ref.iterations + 1)
            for k in 0...ref.iterations {
                // The fractions are ratios of small integers: exact.
                #expect(mc[k].x == xs[k] && lc[k].x == xs[k] && ac[k].x == xs[k])
                #expect(abs(mc[k].y - want.morfCurve[k]) < tol, "MoRF image \(i) step \(k): \(mc[k].y) vs numpy \(want.morfCurve[k])")
                #expect(abs(lc[k].y - want.lerfCurve[k]) < tol, "LeRF image \(i) step \(k): \(lc[k].y) vs numpy \(want.lerfCurve[k])")
                #expect(abs(ac[k].y - (want.lerfCurve[k] - want.morfCurve[k])) < 2 * tol)
            }
        }
    }

    // MARK: deletion, insertion

    /// Step 5 of 36 pixels (8 steps, the last one partial), the softmax probability of the
    /// target; deletion writes 0.1, insertion starts from RISE's 5-tap, sigma 1.5 kernel
    /// (gkern) with zero padding, the metric's default. AUC by the trapezoid rule over the true fractions.
    static let deletionInsertion: [String: [(auc: Double, curve: [Double])]] = [
        "deletion": [
            (0.32588735, [0.28481652, 0.303472452, 0.311122781, 0.32232563, 0.331953947, 0.340165289, 0.347683688, 0.353228747, 0.353196259]),
            (0.171648463, [0.124243794, 0.140743702, 0.137418148, 0.148572732, 0.165019678, 0.183969304, 0.233446248, 0.234020781, 0.241647544])],
        "insertion": [
            (0.298783915, [0.31534367, 0.307822484, 0.302395703, 0.300702314, 0.299366496, 0.296085595, 0.288034713, 0.284472324, 0.28481652]),
            (0.143469111, [0.150541549, 0.148786771, 0.159869559, 0.153807258, 0.146973298, 0.141558705, 0.120864109, 0.122371242, 0.124243794])],
    ]

    @Test func deletionAndInsertionMatchNumpy() throws {
        let (model, images, map) = try Self.mlpFixture()
        let del = try evaluate(DeletionMetric(), model: model, images: images, saliency: map,
                               params: ["step": .int(5), "baseline": .float(0.1), "batch_size": .int(5)])
        let ins = try evaluate(InsertionMetric(), model: model, images: images, saliency: map,
                               params: ["step": .int(5), "blur_kernel": .int(5), "blur_sigma": .float(1.5), "batch_size": .int(5)])
        // The blur adds float32 rounding of 25-tap sums of values below 1 (~1e-7) to the scores'.
        for (name, r) in [("deletion", del), ("insertion", ins)] {
            for (i, want) in Self.deletionInsertion[name]!.enumerated() {
                #expect(abs(r.values[i] - want.auc) < Self.scoreTolerance, "\(name) image \(i): \(r.values[i]) vs numpy \(want.auc)")
                let curve = try #require(r.curves?[i])
                #expect(curve.map(\.y).count == want.curve.count)
                for (p, y) in zip(curve, want.curve) {
                    #expect(abs(p.y - y) < Self.scoreTolerance, "\(name) image \(i) at x = \(p.x): \(p.y) vs numpy \(y)")
                }
                #expect(curve.last!.x == 1 && curve[7].x == 35.0 / 36)
            }
        }
    }

    // MARK: png_size

    /// numpy's 8-bit quantisation of the min-max normalised maps (Adler-32 and sum of the
    /// pixel bytes, pixels 0, 37, 151, 299, 479) and the sizes of minimal PNGs of those pixels
    /// (signature, IHDR, one IDAT, IEND) written by Python's zlib at level 9 with filter 0 on
    /// every row, and with the best single filter (0-4) on every row.
    static let png: [String: (adler32: UInt32, sum: Int, picks: [UInt8], filter0: Int, bestFilter: Int)] = [
        "smooth": (66188551, 62726, [127, 250, 249, 215, 9], 484, 292),
        "texture": (3808096115, 61298, [140, 81, 251, 154, 227], 568, 568),
        "constant": (31457281, 0, [0, 0, 0, 0, 0], 71, 71),
    ]
    static let pngSide = (h: 20, w: 24)

    static func pngMaps() -> [(String, [Float])] {
        let n = pngSide.h * pngSide.w
        return [("smooth", TinyNets.formula(n, 0.05, 0, 1)), ("texture", TinyNets.formula(n, 2.3, 0.1, 1)),
                ("constant", [Float](repeating: 0.7, count: n))]
    }

    @Test func pngSizeIsTheLengthOfAPNGOfNumpysQuantisation() throws {
        let (h, w) = Self.pngSide
        let maps = Self.pngMaps()
        let model = try Self.mlpFixture().model   // png_size never runs the model
        let batch = Tensor(shape: [maps.count, 1, h, w], data: maps.flatMap(\.1))
        let r = try evaluate(PNGSizeMetric(), model: model, images: .zeros([maps.count, 1, h, w]),
                             saliency: SaliencyMap(map: batch, method: "given", params: Params(), targets: [0, 0, 0]))
        for (i, (name, values)) in maps.enumerated() {
            let ref = Self.png[name]!
            // What the metric encodes, decoded by the test's own reader (zlib + PNG unfiltering,
            // not libpng): exactly numpy's pixels.
            let ours = try encodePNG(Tensor(shape: [1, h, w], data: MetricSupport.minMaxNormalized(values)))
            let pixels = try MinimalPNGReader.grayPixels(ours, width: w, height: h)
            #expect(adler32(pixels) == ref.adler32 && pixels.reduce(0) { $0 + Int($1) } == ref.sum, "\(name): quantisation differs from numpy's")
            #expect([0, 37, 151, 299, 479].map { pixels[$0] } == ref.picks, "\(name)")
            // The metric's number is that file's length, and the length of our encoder's PNG of
            // numpy's pixels (same bytes into libpng on the same machine: exact).
            #expect(r.values[i] == Double(ours.count))
            let numpyPixels = Tensor(shape: [1, h, w], data: pixels.map { Float($0) / 255 })
            #expect(r.values[i] == Double(try encodePNG(numpyPixels).count))
            // libpng adds an sRGB chunk (13 bytes) and chooses a filter per row at zlib level 6;
            // another zlib build compresses a few percent differently. So: within 10% of the
            // best single-filter level-9 file plus that chunk, and never much above filter 0.
            let v = r.values[i]
            #expect(v >= 0.9 * Double(ref.bestFilter) && v <= 1.1 * Double(ref.bestFilter) + 13,
                    "\(name): \(v) bytes vs \(ref.bestFilter) (best filter, level 9)")
            #expect(v <= Double(ref.filter0) + 13 + 0.05 * Double(ref.filter0), "\(name): \(v) bytes vs \(ref.filter0) (filter 0, level 9)")
        }
        // The smooth map compresses to well under the incompressible texture.
        #expect(r.values[0] < 0.7 * r.values[1])
    }

    // MARK: sanity_randomization

    /// A two-layer ReLU net whose randomised weights the test draws itself, from a generator
    /// seeded as the metric's (the documented cascade: top layer first, normals with mean 0
    /// and the population standard deviation of the weights they replace, biases kept). The
    /// gradient of each randomised model and the rank correlation are computed by hand in
    /// Double: grad_i = sum_j W1[j, i] W2[t, j] [W1 x + b1]_j > 0, and Spearman's
    /// 1 - 6 sum d^2 / (n (n^2 - 1)) for distinct values (the fixture checks they are).
    @Test func sanityRandomizationMatchesHandComputedCascade() throws {
        let w = ["fc1.weight": TinyNets.formula(48, 0.9, 0.3, 0.5), "fc1.bias": TinyNets.formula(4, 1.7, 0.2, 0.3),
                 "fc2.weight": TinyNets.formula(12, 1.3, 0.1, 0.7), "fc2.bias": TinyNets.formula(3, 0.5, 0.0, 0.1)]
        let g = try TinyNets.mlp(name: "sanity-mlp", inputShape: [1, 3, 4], hidden: 4, classes: 3, weights: w)
        let images = Tensor(shape: [2, 1, 3, 4], data: TinyNets.formula(24, 0.83, 0.4, 0.5).map { 0.5 + $0 })
        let targets = [0, 2]
        func handMap(_ w1: [Float], _ w2: [Float], image i: Int) throws -> [Double] {
            let x = images.scalars[(i * 12)..<((i + 1) * 12)].map(Double.init)
            var grad = [Double](repeating: 0, count: 12)
            for j in 0..<4 {
                let pre = (0..<12).reduce(Double(w["fc1.bias"]![j])) { $0 + Double(w1[j * 12 + $1]) * x[$1] }
                // Float32 rounding must not decide the ReLU: no unit sits at its kink.
                try #require(abs(pre) > 1e-4, "unit \(j) of image \(i) is at the ReLU kink")
                if pre > 0 { for k in 0..<12 { grad[k] += Double(w1[j * 12 + k]) * Double(w2[targets[i] * 4 + j]) } }
            }
            return grad.map { Swift.abs($0) }
        }
        func handSpearman(_ a: [Double], _ b: [Double]) throws -> Double {
            func ranks(_ v: [Double]) throws -> [Double] {
                let order = v.indices.sorted { v[$0] < v[$1] }
                // Distinct, and apart by far more than float32 rounding, so both sides rank alike.
                for k in 1..<order.count { try #require(v[order[k]] - v[order[k - 1]] > 1e-5, "tied map values \(v)") }
                var r = [Double](repeating: 0, count: v.count)
                for (rank, idx) in order.enumerated() { r[idx] = Double(rank + 1) }
                return r
            }
            let (ra, rb) = (try ranks(a), try ranks(b))
            let n = Double(a.count)
            return 1 - 6 * zip(ra, rb).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / (n * (n * n - 1))
        }
        func populationStd(_ v: [Float]) -> Float {
            let m = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
            return Float((v.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(v.count)).squareRoot())
        }
        let seed: UInt64 = 5
        var rng = RandomGenerator(seed: seed)
        let w2r = Tensor.normal([3, 4], mean: 0, std: populationStd(w["fc2.weight"]!), rng: &rng).scalars
        let w1r = Tensor.normal([4, 12], mean: 0, std: populationStd(w["fc1.weight"]!), rng: &rng).scalars

        let grad = GradientExplainer()
        let maps = try (0..<2).map { try explain(grad, model: g, images: images.slice(axis: 0, $0..<($0 + 1)), target: .index(targets[$0])) }
        let saliency = SaliencyMap(map: Tensor.concat(maps.map(\.map), axis: 0), method: grad.name, params: maps[0].params, targets: targets)
        let r = try evaluate(SanityRandomizationMetric(), model: g, images: images, saliency: saliency, seed: seed, explainer: grad)
        var values: [Double] = []
        for i in 0..<2 {
            let original = try handMap(w["fc1.weight"]!, w["fc2.weight"]!, image: i)
            // The explained map is the hand gradient (float32 GEMMs: 1e-6 on values below 3).
            for (m, o) in zip(saliency.map.scalars[(i * 12)..<((i + 1) * 12)], original) { #expect(abs(Double(m) - o) < 1e-5) }
            let expected = [try handSpearman(original, try handMap(w["fc1.weight"]!, w2r, image: i)),
                            try handSpearman(original, try handMap(w1r, w2r, image: i))]
            let curve = try #require(r.curves?[i])
            #expect(curve.map(\.x) == [1, 2])
            // Ranks of distinct values are integers on both sides: equal up to the division.
            for k in 0..<2 { #expect(abs(curve[k].y - expected[k]) < 1e-12, "image \(i), \(k + 1) layer(s): \(curve[k].y) vs \(expected[k])") }
            #expect(r.values[i] == curve[1].y)
            values += expected
        }
        // The fixture is not degenerate: the cascade lowers the correlation, not all to one value.
        #expect(Set(values).count == 4 && values.contains { $0 < 0.5 })
        for (name, v) in w { #expect(g.weight(name)!.scalars == v, "weight \(name) was not restored") }
    }

    private func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for x in bytes { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
        return b << 16 | a
    }
}

/* The script that produced MetricReferenceTests.pixelFlipping, .deletionInsertion and .png
   (Python 3.11, numpy 2.4.6, zlib 1.2.13):

import numpy as np, zlib, struct

def formula(n, a, b, s):
    return (np.sin(np.arange(n) * a + b) * s).astype(np.float32)
def fmt(v):
    return ", ".join(f"{x:.9g}" for x in v)

# The MLP and inputs of MetricReferenceTests.mlpFixture: flatten 2x6x6 -> fc1 (72 -> 5) ->
# ReLU -> fc2 (5 -> 3), weights and images from sin formulas, a map with ties, targets [1, 2].
W1 = formula(360, 0.05, 0.2, 0.1).reshape(5, 72).astype(np.float64)
b1 = formula(5, 1.3, 0.4, 0.2).astype(np.float64)
W2 = formula(15, 1.1, 0.5, 0.8).reshape(3, 5).astype(np.float64)
b2 = formula(3, 2.0, 0.1, 0.1).astype(np.float64)
X = (np.float32(0.5) + formula(144, 0.37, 0.0, 0.45)).reshape(2, 2, 6, 6).astype(np.float64)
M = np.floor(np.sin(np.arange(72) * 0.61 + 0.3) * 3).reshape(2, 36)
targets = [1, 2]

def score(x, t, prob):
    h = np.maximum(x.reshape(72) @ W1.T + b1, 0)
    l = h @ W2.T + b2
    if not prob:
        return l[t]
    e = np.exp(l - l.max())
    return e[t] / e.sum()

def game(start, source, order, per, steps, t, prob):
    """Cumulative replacement: after step k the first k * per pixels of `order` (all channels) come from `source`."""
    s = start.copy()
    out = [score(s, t, prob)]
    for k in range(1, steps + 1):
        for p in order[(k - 1) * per: k * per]:
            s[:, p // 6, p % 6] = source[:, p // 6, p % 6]
        out.append(score(s, t, prob))
    return np.array(out)

most = [np.argsort(-M[i], kind="stable") for i in range(2)]   # ties by pixel index
least = [np.argsort(M[i], kind="stable") for i in range(2)]

print("static let pixelFlipping: [PixelFlippingCase] = [")
for per, steps, colour, prob in [(5, 7, 0.3, False), (4, 9, 0.8, True)]:
    rows = []
    for i in range(2):
        src = np.full((2, 6, 6), float(np.float32(colour)))
        mo = game(X[i], src, most[i], per, steps, targets[i], prob)
        le = game(X[i], src, least[i], per, steps, targets[i], prob)
        rows.append(f"        .init(morf: {np.mean(mo[0] - mo):.9g}, lerf: {np.mean(le[0] - le):.9g}, abpc: {np.mean(le - mo):.9g},\n"
                    f"              morfCurve: [{fmt(mo)}],\n              lerfCurve: [{fmt(le)}])")
    print(f"    PixelFlippingCase(perStep: {per}, iterations: {steps}, colour: {colour}, prob: {str(prob).lower()}, images: [\n" + ",\n".join(rows) + "]),")
print("]")

def kernel(k, sigma):
    """RISE's gkern: scipy.ndimage.gaussian_filter of a centred delta of length k (truncate 4,
    mode 'reflect'), so the tails fold back into the k taps."""
    r = int(4 * sigma + 0.5)
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    g /= g.sum()
    out = np.zeros(k)
    for i in range(k):
        for t in range(-r, r + 1):
            m = (i + t) % (2 * k)
            if (m if m < k else 2 * k - 1 - m) == k // 2:
                out[i] += g[t + r]
    return out
def blur(img, k, sigma):
    """Separable, zero padding (RISE's conv2d(x, gkern, padding=k // 2))."""
    g, r = kernel(k, sigma), k // 2
    out = np.empty_like(img)
    for c in range(img.shape[0]):
        p = np.pad(img[c], r)
        rows = np.array([[np.dot(g, p[y + r, x:x + k]) for x in range(6)] for y in range(6)])
        p = np.pad(rows, ((r, r), (0, 0)))
        out[c] = np.array([[np.dot(g, p[y:y + k, x]) for x in range(6)] for y in range(6)])
    return out
def auc(s, per):
    xs = np.minimum(np.arange(len(s)) * per, 36) / 36
    return float(np.sum((xs[1:] - xs[:-1]) * (s[1:] + s[:-1]) / 2))

print("static let deletionInsertion: [String: [(auc: Double, curve: [Double])]] = [")
for name in ["deletion", "insertion"]:
    rows = []
    for i in range(2):
        if name == "deletion":
            s = game(X[i], np.full((2, 6, 6), float(np.float32(0.1))), most[i], 5, 8, targets[i], True)
        else:
            s = game(blur(X[i], 5, 1.5), X[i], most[i], 5, 8, targets[i], True)
        rows.append(f"        ({auc(s, 5):.9g}, [{fmt(s)}])")
    print(f'    "{name}": [\n' + ",\n".join(rows) + "],")
print("]")

# png_size: maps of MetricReferenceTests.pngMaps (20x24), min-max normalised and quantised to
# 8 bits as numpy does it, and the sizes of minimal PNGs (signature, IHDR, one IDAT, IEND) of
# those pixels with the same filter on every row, zlib level 9.
H, W = 20, 24
def quantise(v):
    lo, hi = v.min(), v.max()
    if not hi > lo:
        return np.zeros(v.shape, np.uint8)
    x = np.clip(((v - lo) / (hi - lo)).astype(np.float32), 0, 1) * np.float32(255)
    x = x.astype(np.float64)
    # Far from a rounding tie (> 5e-5), so a 1-ulp difference in how the normalisation is
    # computed (division here, multiplication by the reciprocal elsewhere) cannot flip a pixel.
    assert np.abs(x - np.floor(x) - 0.5).min() > 5e-5
    return np.floor(x + 0.5).astype(np.uint8)
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)
def png_size(px, f):
    raw, prev = b"", [0] * W
    for r in px.astype(int).tolist():
        out = []
        for i, x in enumerate(r):
            a, b, c = (r[i - 1] if i else 0), prev[i], (prev[i - 1] if i else 0)
            out.append((x - [0, a, b, (a + b) // 2, paeth(a, b, c)][f]) % 256)
        raw += bytes([f] + out)
        prev = r
    ihdr = struct.pack(">IIBBBBB", W, H, 8, 0, 0, 0, 0)
    return len(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

maps = {"smooth": formula(H * W, 0.05, 0.0, 1.0), "texture": formula(H * W, 2.3, 0.1, 1.0), "constant": np.full(H * W, np.float32(0.7))}
print("static let png: [String: (adler32: UInt32, sum: Int, picks: [UInt8], filter0: Int, bestFilter: Int)] = [")
for k, v in maps.items():
    q = quantise(v).reshape(H, W)
    sizes = [png_size(q, f) for f in range(5)]
    picks = ", ".join(str(int(q.flat[i])) for i in [0, 37, 151, 299, 479])
    print(f'    "{k}": ({zlib.adler32(q.tobytes())}, {int(q.sum())}, [{picks}], {sizes[0]}, {min(sizes)}),')
print("]")
*/
