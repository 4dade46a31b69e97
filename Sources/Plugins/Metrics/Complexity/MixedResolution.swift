import Foundation
import Runtime

/// NICE's semantic image compression (§2.2, §4.3, Fig. 6): keep full resolution where the
/// mask is open and b x b block means elsewhere,
///
///     x~ = x * z + x_b * (1 - z)                                              (Eq. 12)
///
/// then store x~ as an 8-bit PNG. For each block size b of `blocks` it reports the PNG bytes
/// of x~, their ratio to the PNG of x, and whether the model's top-1 class on x~ is the true
/// label.
///
/// - The mask z is the map itself when its values lie in [0, 1] (NICE's Eq. 11 mask); a map
///   with other values (a gradient) is min-max normalised per image into a soft mask. With
///   `density`, z is the map binarised to its top `density` fraction of pixels per image
///   (ties in pixel order), so any method compares with NICE at equal density; density 0 is
///   uniform downsampling (z = 0 everywhere).
/// - x_b is `Tensor.blockMeanFilled`: block-constant fill with ceil-mode edge blocks that
///   average only the pixels they hold. b = 1 gives x~ = x.
/// - PNG: 8-bit gray or RGB by the image's channels, libpng defaults (`encodePNG`; values
///   clamped to [0, 1]); images with another channel count are stored as one gray image of their
///   planes stacked vertically. The model classifies what the PNG decodes to: x~ quantised to 256
///   levels.
/// - Accuracy needs the true labels (a dataset with labels). Score a fine-tuned classifier by
///   passing it as the metric's model (`metric("mixed_resolution", f.model, ...)`).
///
/// - `fill: "zero"` shows 0 where the mask is closed (x * z, how NICE's MNIST code scores its
///   masks) instead of block means; blocks and `at` are then unused.
///
/// Value per image: `value` at block `at`: "ratio", "bytes", "correct" (1 or 0) or "density"
/// (the mean of z). Only what the value needs is computed: PNG sizes for ratio and bytes,
/// classifier passes for correct. Extras per image: density, and bytes_original, bytes_b<b>,
/// ratio_b<b> for every b (ratio, bytes) or correct_original, correct_b<b> (correct); with zero
/// fill the suffix is "zero". Curve per image: (b, ratio) or (b, correct). The paper's Fig. 6 figures are
/// ratios of mean bytes and mean accuracies over a test set.
public struct MixedResolutionMetric: Metric {
    public init() {}
    public var name: String { "mixed_resolution" }
    public var summary: String { "PNG bytes and top-1 accuracy of NICE's mixed-resolution images x*z + blockmean_b(x)*(1-z), per block size" }
    public var reference: String { "Li, Ji, Neural Image Compression and Explanation (NICE), Eq. 12 and Fig. 6 (shared/papers/000)" }
    public var direction: MetricDirection { .neither }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("blocks", .numbers, default: .list([1, 2, 4, 8, 16, 32, 64].map { .int($0) }), doc: "block sizes b of the low-resolution background"),
            ParamSpec("density", .float, range: 0...1, doc: "binarise the map to this top fraction of pixels (default: the map as a soft mask, min-max normalised unless in [0, 1])"),
            ParamSpec("fill", .choice(["block_mean", "zero"]), default: .string("block_mean"),
                      doc: "what closed pixels show: block means (Eq. 12) or zero (x * z, NICE's MNIST code; blocks and at are then unused)"),
            ParamSpec("value", .choice(["ratio", "bytes", "correct", "density"]), default: .string("ratio"),
                      doc: "the per-image value: PNG size ratio to x, PNG bytes, top-1 correct (1/0) at block at, or the mask's density"),
            ParamSpec("at", .int, default: .int(8), range: 1...100_000, doc: "the block size whose figure is the value (one of blocks)"),
            ParamSpec("batch_size", .int, default: .int(100), range: 1...100_000, doc: "images per classifier pass"),
        ]
    }

    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let (n, c, h, w) = try MetricSupport.checkShapes(ctx, metric: name)
        let blocks = try (ctx.params.numbers("blocks") ?? []).map { v -> Int in
            guard v == v.rounded(), v >= 1, v <= 100_000 else { throw PluginError.invalid("metric '\(name)': block sizes must be whole numbers >= 1, got \(v)") }
            return Int(v)
        }
        guard !blocks.isEmpty else { throw PluginError.invalid("metric '\(name)': blocks is empty") }
        let at = try ctx.params.int("at")
        guard blocks.contains(at) else { throw PluginError.invalid("metric '\(name)': at: \(at) is not one of blocks \(blocks)") }
        guard let labels = ctx.groundTruth.labels, labels.count == n else {
            throw PluginError.invalid("metric '\(name)' scores accuracy against the true labels; the images carry none (use a dataset with labels)")
        }
        let z = try mask(ctx, n: n, h: h, w: w)
        let x = quantised(ctx.images)
        let batchSize = try ctx.params.int("batch_size")

        // Only what `value` reads is measured: PNG bytes for ratio and bytes, the classifier for
        // correct (a 7-block sweep over 800 images is 16 classifier passes otherwise).
        let valueKind = try ctx.params.string("value") ?? "ratio"
        let (wantBytes, wantCorrect) = (valueKind == "ratio" || valueKind == "bytes", valueKind == "correct")
        func measure(_ images: Tensor) throws -> (bytes: [Double], correct: [Double]) {
            var bytes: [Double] = []
            for i in 0..<n where wantBytes {
                try ctx.cancellation.check()
                // PNG holds gray or RGB; other channel counts go in as their planes stacked into one gray image.
                let shape = c == 1 || c == 3 ? [c, h, w] : [1, c * h, w]
                bytes.append(Double(try encodePNG(images.select(axis: 0, i).reshaped(shape)).count))
            }
            var correct: [Double] = []
            for r in stride(from: 0, to: wantCorrect ? n : 0, by: batchSize) {
                try ctx.cancellation.check()
                let part = images.slice(axis: 0, r..<Swift.min(n, r + batchSize))
                let predicted = try Autograd.noGrad { try ctx.model.forward(part).output.argmax(axis: 1) }
                correct += zip(predicted, labels[r..<Swift.min(n, r + batchSize)]).map { $0 == $1 ? 1.0 : 0.0 }
            }
            return (bytes, correct)
        }
        let original = try measure(x)
        let density = z.withUnsafeBufferPointer { zp in (0..<n).map { i in Double(zp[(i * h * w)..<((i + 1) * h * w)].reduce(0, +)) / Double(h * w) } }
        var extras: [String: [Double]] = ["density": density]
        if wantBytes { extras["bytes_original"] = original.bytes }
        if wantCorrect { extras["correct_original"] = original.correct }
        var curves = [[(x: Double, y: Double)]](repeating: [], count: n)
        let zeroFill = try ctx.params.string("fill") == "zero"
        for b in zeroFill ? [0] : blocks {
            let mixed = quantised(zeroFill ? ctx.images * z : ctx.images * z + ctx.images.blockMeanFilled(block: b) * (1 - z))
            let r = try measure(mixed)
            let suffix = zeroFill ? "zero" : "b\(b)"
            if wantBytes {
                let ratio = zip(r.bytes, original.bytes).map { $0 / $1 }
                extras["bytes_\(suffix)"] = r.bytes
                extras["ratio_\(suffix)"] = ratio
                for i in 0..<n { curves[i].append((Double(b), ratio[i])) }
            }
            if wantCorrect {
                extras["correct_\(suffix)"] = r.correct
                for i in 0..<n { curves[i].append((Double(b), r.correct[i])) }
            }
        }
        let suffix = zeroFill ? "zero" : "b\(at)"
        let key: String
        switch valueKind {
        case "bytes": key = "bytes_\(suffix)"
        case "correct": key = "correct_\(suffix)"
        case "density": key = "density"
        default: key = "ratio_\(suffix)"
        }
        return MetricResult(values: extras[key] ?? [], curves: curves, extras: extras)
    }

    /// z [N, 1, H, W]: the map as given when it lies in [0, 1], min-max normalised per image
    /// otherwise, or binarised at `density`.
    private func mask(_ ctx: MetricContext, n: Int, h: Int, w: Int) throws -> Tensor {
        let map = ctx.saliency.map.detached()
        guard let density = try ctx.params["density"] == nil ? nil : ctx.params.float("density") else {
            if map.scalars.allSatisfy({ $0 >= 0 && $0 <= 1 }) { return map }
            return Tensor(shape: [n, 1, h, w], data: (0..<n).flatMap { MetricSupport.minMaxNormalized(MetricSupport.mapPlane(map, $0)) })
        }
        let hw = h * w, keep = Int((density * Double(hw)).rounded())
        var out = [Float](repeating: 0, count: n * hw)
        for i in 0..<n {
            for p in MetricSupport.pixelOrder(MetricSupport.mapPlane(map, i), descending: true).prefix(keep) { out[i * hw + p] = 1 }
        }
        return Tensor(shape: [n, 1, h, w], data: out)
    }

    /// Values as an 8-bit PNG stores them: clamped to [0, 1], rounded to 256 levels.
    private func quantised(_ t: Tensor) -> Tensor {
        t.withUnsafeBufferPointer { src in
            Tensor(shape: t.shape) { dst in
                for i in 0..<dst.count { dst[i] = src[i].isNaN ? 0 : (Swift.min(Swift.max(src[i], 0), 1) * 255).rounded() / 255 }
            }
        }
    }
}
