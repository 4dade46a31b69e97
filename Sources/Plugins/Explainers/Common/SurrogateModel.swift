import Foundation
import Runtime

// What LIME and KernelSHAP share: superpixels as interpretable features, images with some of
// them switched off, batched scoring, and a weighted linear fit of the scores on the on/off
// masks. They differ only in how masks are drawn and weighted (`SurrogateSampler`).

/// The parameters both surrogate methods take.
func surrogateSpecs(samples: Int, baseline: String) -> [ParamSpec] {
    [
        ParamSpec("segments", .int, default: .int(50), range: 1...100_000,
                  doc: "approximate number of SLIC superpixels (the features); the segmentation may give a few more or fewer"),
        ParamSpec("compactness", .float, default: .float(10), range: 0.01...1e6,
                  doc: "SLIC's m: higher gives more square superpixels, lower follows colour more closely (10 for Lab, Achanta et al.)"),
        ParamSpec("samples", .int, default: .int(samples), range: 2...1_000_000, doc: "perturbed images (masks) per explained image, the first ones included"),
        ParamSpec("baseline", .choice(["mean", "zeros", "blur", "noise", "tensor"]), default: .string(baseline),
                  doc: "what an 'off' superpixel shows: its mean colour, zeros, a blurred copy, uniform noise, or baseline_tensor"),
        ParamSpec("baseline_tensor", .tensor, doc: "the 'off' image when baseline = \"tensor\": [C,H,W], [1,C,H,W] or [N,C,H,W]"),
        batchSizeSpec(default: 64),
    ]
}

/// How a surrogate method draws its binary masks z (1 = superpixel kept) and weighs them.
protocol SurrogateSampler {
    /// `samples` masks of `features` values, row-major, and their regression weights.
    func draw(samples: Int, features: Int, rng: inout RandomGenerator) -> (masks: [Float], weights: [Double])
    /// Ridge penalty (0: ordinary weighted least squares).
    var ridge: Double { get }
}

/// One image's surrogate fit: the superpixels, the masks drawn, the scores of the masked images
/// and the fitted coefficients.
struct SurrogateFit {
    let segmentation: SLICSegmentation
    let masks: [Float]
    let weights: [Double]
    let scores: [Float]
    let coefficients: [Double]
    let intercept: Double

    /// The coefficient of each pixel's superpixel, [H * W].
    var map: [Float] { segmentation.labels.map { Float(coefficients[Int($0)]) } }
}

enum SurrogateModel {
    /// Fits each image of the context: segments it, draws masks with `sampler`, scores the
    /// masked images `batch_size` at a time, and fits the weighted linear model.
    static func fit(_ ctx: inout ExplainContext, sampler: some SurrogateSampler, plugin: String) throws -> [SurrogateFit] {
        let x = ctx.images
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let per = c * h * w
        let fill = try offImages(&ctx, plugin: plugin)
        var fits: [SurrogateFit] = []
        for i in 0..<n {
            try ctx.cancellation.check()
            let (segments, compactness) = (try ctx.params.int("segments"), try ctx.params.float("compactness"))
            let seg = x.withUnsafeBufferPointer { xp in
                SLICSegmentation(UnsafeBufferPointer(rebasing: xp[(i * per)..<((i + 1) * per)]), channels: c, height: h, width: w,
                                 segments: segments, compactness: compactness)
            }
            let samples = try ctx.params.int("samples")
            let (masks, weights) = sampler.draw(samples: samples, features: seg.count, rng: &ctx.rng)
            let scores = try maskedScores(ctx, image: i, fill: fill, segmentation: seg, masks: masks, samples: samples)
            let (coefficients, intercept) = try weightedLinearFit(masks: masks, features: seg.count, scores: scores,
                                                                  weights: weights, ridge: sampler.ridge, plugin: plugin)
            fits.append(SurrogateFit(segmentation: seg, masks: masks, weights: weights, scores: scores,
                                     coefficients: coefficients, intercept: intercept))
            ctx.progress?(i + 1, n)
        }
        return fits
    }

    /// The explanation of `fits`: map = each pixel's superpixel coefficient, attribution the
    /// same on every channel (Captum's `return_input_shape`), scalars the superpixel count and
    /// the fitted intercept per image.
    static func explanation(_ fits: [SurrogateFit], images x: Tensor) -> Explanation {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let map = Tensor(shape: [n, 1, h, w], data: fits.flatMap(\.map))
        return Explanation(map: map, attribution: map.expanded(to: [n, c, h, w]).detached(),
                           scalars: ["superpixels": fits.map { Double($0.segmentation.count) }, "intercept": fits.map(\.intercept)])
    }

    /// The images an 'off' superpixel shows, [N, C, H, W]: each superpixel's mean colour per
    /// channel ("mean", LIME's default `hide_color=None`) or a baseline as integrated gradients
    /// builds it. The mean needs the segmentation, so it is computed per image later: nil here.
    static func offImages(_ ctx: inout ExplainContext, plugin: String) throws -> Tensor? {
        try ctx.params.string("baseline") == "mean" ? nil : try baselineBatch(&ctx, plugin: plugin)
    }

    /// Target scores of `samples` copies of image `i` with the superpixels whose mask entry
    /// is 0 replaced by the fill, `batch_size` copies per forward pass.
    static func maskedScores(_ ctx: ExplainContext, image i: Int, fill: Tensor?, segmentation seg: SLICSegmentation,
                             masks: [Float], samples: Int) throws -> [Float] {
        let x = ctx.images
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        let plane = h * w, per = c * plane, m = seg.count
        let off = fill.map { f in Array(f.scalars[(i * per)..<((i + 1) * per)]) } ?? superpixelMeans(x, image: i, segmentation: seg)
        var scores: [Float] = []
        scores.reserveCapacity(samples)
        let target = ctx.targets[i % ctx.targets.count]
        for r in try chunks(samples, ctx.params.int("batch_size")) {
            try ctx.cancellation.check()
            let batch = x.withUnsafeBufferPointer { xp in off.withUnsafeBufferPointer { op in
                seg.labels.withUnsafeBufferPointer { lp in masks.withUnsafeBufferPointer { mp in
                    Tensor(shape: [r.count, c, h, w]) { b in
                        let src = xp.baseAddress! + i * per
                        for (j, s) in r.enumerated() {
                            let dst = b.baseAddress! + j * per, mask = mp.baseAddress! + s * m
                            for p in 0..<plane {
                                let keep = mask[Int(lp[p])] != 0
                                for ch in 0..<c { let q = ch * plane + p; dst[q] = keep ? src[q] : op[q] }
                            }
                        }
                    }
                } }
            } }
            scores += try scoresNoGrad(ctx, batch, targets: [Int](repeating: target, count: r.count))
        }
        return scores
    }

    /// Each superpixel's mean colour per channel, painted over it: [C * H * W].
    static func superpixelMeans(_ x: Tensor, image i: Int, segmentation seg: SLICSegmentation) -> [Float] {
        let (c, plane) = (x.shape[1], x.shape[2] * x.shape[3])
        var sums = [Double](repeating: 0, count: seg.count * c), counts = [Double](repeating: 0, count: seg.count)
        return x.withUnsafeBufferPointer { xp in
            let src = xp.baseAddress! + i * c * plane
            for p in 0..<plane {
                let l = Int(seg.labels[p])
                counts[l] += 1
                for ch in 0..<c { sums[l * c + ch] += Double(src[ch * plane + p]) }
            }
            var out = [Float](repeating: 0, count: c * plane)
            for p in 0..<plane {
                let l = Int(seg.labels[p])
                for ch in 0..<c { out[ch * plane + p] = Float(sums[l * c + ch] / counts[l]) }
            }
            return out
        }
    }

    /// Weighted least squares of `scores` on the masks with an unpenalised intercept and a
    /// ridge penalty on the coefficients: minimise sum_s w_s (y_s - b - z_s . beta)^2 + ridge |beta|^2,
    /// as scikit-learn's `Ridge` / `LinearRegression` with `sample_weight` (what LIME and
    /// Captum fit): centre z and y by their weighted means, solve the normal equations
    /// (Z_c^T W Z_c + ridge I) beta = Z_c^T W y_c with a Cholesky factorisation (in Double), and
    /// b = mean(y) - mean(z) . beta.
    static func weightedLinearFit(masks: [Float], features m: Int, scores: [Float], weights: [Double], ridge: Double,
                                  plugin: String) throws -> (coefficients: [Double], intercept: Double) {
        let s = scores.count
        let total = weights.reduce(0, +)
        var zMean = [Double](repeating: 0, count: m)
        var yMean = 0.0
        for r in 0..<s {
            yMean += weights[r] * Double(scores[r])
            for j in 0..<m { zMean[j] += weights[r] * Double(masks[r * m + j]) }
        }
        yMean /= total
        for j in 0..<m { zMean[j] /= total }
        var gram = [Double](repeating: 0, count: m * m), rhs = [Double](repeating: 0, count: m)
        var centred = [Double](repeating: 0, count: m)
        for r in 0..<s {
            let wr = weights[r], yc = Double(scores[r]) - yMean
            for j in 0..<m { centred[j] = Double(masks[r * m + j]) - zMean[j] }
            for j in 0..<m {
                let a = wr * centred[j]
                rhs[j] += a * yc
                for k in 0...j { gram[j * m + k] += a * centred[k] }
            }
        }
        for j in 0..<m { for k in 0..<j { gram[k * m + j] = gram[j * m + k] } }
        let beta: [Double]
        do {
            beta = try Cholesky(gram, n: m, shift: ridge).solve(rhs)
        } catch {
            throw PluginError.invalid("'\(plugin)': the \(s) masks do not determine all \(m) superpixel weights (some superpixels "
                + "vary together or not at all); use more samples or fewer segments")
        }
        let intercept = yMean - zip(zMean, beta).reduce(0) { $0 + $1.0 * $1.1 }
        return (beta, intercept)
    }
}
