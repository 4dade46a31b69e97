import Foundation
import Runtime

/// Shared helpers of the metric plugins: shape checks, per-image planes, pixel orders,
/// normalisation, ground truth as masks and boxes, connected components, areas, ranks.
/// A namespace so the names cannot collide with other plugins' helpers in the module.
enum MetricSupport {
    /// Checks images [N, C, H, W], map [N, 1, H, W] and one target per image; returns the sizes.
    static func checkShapes(_ ctx: MetricContext, metric: String) throws -> (n: Int, c: Int, h: Int, w: Int) {
        let s = ctx.images.shape
        guard s.count == 4, s.allSatisfy({ $0 > 0 }) else {
            throw PluginError.invalid("metric '\(metric)': images must be a non-empty [N, C, H, W] batch, got \(s)")
        }
        guard ctx.saliency.map.shape == [s[0], 1, s[2], s[3]] else {
            throw PluginError.invalid("metric '\(metric)': the saliency map has shape \(ctx.saliency.map.shape); expected [\(s[0]), 1, \(s[2]), \(s[3])] to match the images \(s)")
        }
        return (s[0], s[1], s[2], s[3])
    }

    /// Checks that the map carries one target class per image (metrics that score the model).
    static func checkTargets(_ ctx: MetricContext, n: Int, metric: String) throws {
        guard ctx.saliency.targets.count == n else {
            throw PluginError.invalid("metric '\(metric)': the saliency map has \(ctx.saliency.targets.count) targets for \(n) images")
        }
    }

    /// Image `i` of the map as a flat [H·W] array.
    static func mapPlane(_ map: Tensor, _ i: Int) -> [Float] {
        let hw = map.shape[2] * map.shape[3]
        return map.withUnsafeBufferPointer { Array($0[(i * hw)..<((i + 1) * hw)]) }
    }

    /// Pixel indices by saliency, most salient first (`descending`) or least salient first;
    /// ties keep index order (a stable order, so results do not depend on the sort algorithm).
    /// NaN counts as the least salient value in either direction's sense of "least".
    static func pixelOrder(_ values: [Float], descending: Bool) -> [Int] {
        let key: [Float] = values.map { $0.isNaN ? (descending ? -.infinity : .infinity) : $0 }
        var idx = Array(0..<values.count)
        key.withUnsafeBufferPointer { k in
            if descending {
                idx.sort { a, b in k[a] > k[b] || (k[a] == k[b] && a < b) }
            } else {
                idx.sort { a, b in k[a] < k[b] || (k[a] == k[b] && a < b) }
            }
        }
        return idx
    }

    /// Min-max normalisation to [0, 1]. A constant plane (no pixel is distinguished) becomes
    /// all zeros; NaN becomes 0.
    static func minMaxNormalized(_ values: [Float]) -> [Float] {
        var lo = Float.infinity, hi = -Float.infinity
        for v in values where !v.isNaN { lo = Swift.min(lo, v); hi = Swift.max(hi, v) }
        guard hi > lo, hi.isFinite, lo.isFinite else { return [Float](repeating: 0, count: values.count) }
        let scale = 1 / (hi - lo)
        return values.map { $0.isNaN ? 0 : ($0 - lo) * scale }
    }

    /// Grayscale plane of image `i` (BT.601 luma; `Tensor.grayscalePlane`).
    static func grayscale(_ images: Tensor, _ i: Int) -> [Float] { images.grayscalePlane(i) }

    /// The plane a map-reading metric scores for image `i`: the map, or with `timesInput` the
    /// min-max normalised map times the grayscale input (the image content the map keeps: the
    /// control for Noise Mask's "kept" output, which scores X * M instead of M).
    static func scoredPlane(_ ctx: MetricContext, _ i: Int, timesInput: Bool) -> [Float] {
        let plane = mapPlane(ctx.saliency.map, i)
        guard timesInput else { return plane }
        let gray = ctx.images.grayscalePlane(i)
        return zip(minMaxNormalized(plane), gray).map { $0 * $1 }
    }

    /// The `times_input` parameter png_size and ssim share.
    static let timesInputParam = ParamSpec("times_input", .bool, default: .bool(false),
                                           doc: "score the min-max normalised map times the grayscale input (the image content the map keeps) instead of the map")

    /// The ground-truth region of image `i` as a binary [H·W] mask: the mask when the data has
    /// masks (> 0.5 is inside), otherwise the filled box.
    static func truthMask(_ truth: GroundTruth, _ i: Int, h: Int, w: Int, metric: String) throws -> [Bool] {
        if let m = truth.masks {
            guard m.rank == 4, m.shape[1] == 1, m.shape[2] == h, m.shape[3] == w, i < m.shape[0] else {
                throw PluginError.invalid("metric '\(metric)': ground-truth masks have shape \(m.shape); expected [N, 1, \(h), \(w)]")
            }
            let hw = h * w
            return m.withUnsafeBufferPointer { b in (0..<hw).map { b[i * hw + $0] > 0.5 } }
        }
        if let boxes = truth.boxes {
            let b = try checkedBox(boxes, i, h: h, w: w, metric: metric)
            var out = [Bool](repeating: false, count: h * w)
            for y in b[1]..<b[3] { for x in b[0]..<b[2] { out[y * w + x] = true } }
            return out
        }
        throw PluginError.invalid("metric '\(metric)' needs ground-truth masks or boxes; this data has none")
    }

    /// The ground-truth box of image `i` (x0, y0, x1, y1), inclusive-exclusive: the given box,
    /// otherwise the bounding box of the mask.
    static func truthBox(_ truth: GroundTruth, _ i: Int, h: Int, w: Int, metric: String) throws -> [Int] {
        if let boxes = truth.boxes { return try checkedBox(boxes, i, h: h, w: w, metric: metric) }
        let m = try truthMask(truth, i, h: h, w: w, metric: metric)
        guard let b = boundingBox(m, h: h, w: w) else {
            throw PluginError.invalid("metric '\(metric)': the ground-truth mask of image \(i) is empty, so it has no box")
        }
        return b
    }

    static func checkedBox(_ boxes: [[Int]], _ i: Int, h: Int, w: Int, metric: String) throws -> [Int] {
        guard i < boxes.count else { throw PluginError.invalid("metric '\(metric)': \(boxes.count) ground-truth boxes for more images") }
        let b = boxes[i]
        guard b.count == 4 else { throw PluginError.invalid("metric '\(metric)': box \(b) of image \(i) must be (x0, y0, x1, y1)") }
        let c = [Swift.max(0, b[0]), Swift.max(0, b[1]), Swift.min(w, b[2]), Swift.min(h, b[3])]
        guard c[2] > c[0], c[3] > c[1] else {
            throw PluginError.invalid("metric '\(metric)': box \(b) of image \(i) is empty inside the \(w)x\(h) image")
        }
        return c
    }

    /// Bounding box (x0, y0, x1, y1), inclusive-exclusive, of the true pixels; nil if none.
    static func boundingBox(_ m: [Bool], h: Int, w: Int) -> [Int]? {
        var x0 = w, y0 = h, x1 = -1, y1 = -1
        for y in 0..<h { for x in 0..<w where m[y * w + x] { x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y) } }
        return x1 < 0 ? nil : [x0, y0, x1 + 1, y1 + 1]
    }

    /// IoU of two inclusive-exclusive boxes.
    static func boxIoU(_ a: [Int], _ b: [Int]) -> Double {
        let iw = max(0, min(a[2], b[2]) - max(a[0], b[0])), ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        let inter = Double(iw * ih)
        let union = Double((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
        return union > 0 ? inter / union : 0
    }

    /// The bounding box of the largest 8-connected component of `m` (ties: the component met
    /// first in raster order); nil when `m` is empty. Iterative flood fill, no recursion.
    static func largestComponentBox(_ m: [Bool], h: Int, w: Int) -> [Int]? {
        var label = [Int32](repeating: 0, count: h * w)
        var stack: [Int] = []
        var best: (size: Int, box: [Int])? = nil
        var next: Int32 = 0
        for start in 0..<(h * w) where m[start] && label[start] == 0 {
            next += 1
            label[start] = next
            stack.append(start)
            var size = 0, x0 = w, y0 = h, x1 = -1, y1 = -1
            while let p = stack.popLast() {
                size += 1
                let y = p / w, x = p % w
                x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
                for dy in -1...1 {
                    let yy = y + dy
                    guard yy >= 0 && yy < h else { continue }
                    for dx in -1...1 {
                        let xx = x + dx
                        guard xx >= 0 && xx < w else { continue }
                        let q = yy * w + xx
                        if m[q] && label[q] == 0 { label[q] = next; stack.append(q) }
                    }
                }
            }
            // unreachable from input: `best!` is read only when best is not nil (the || short-circuits)
            if best == nil || size > best!.size { best = (size, [x0, y0, x1 + 1, y1 + 1]) }
        }
        return best?.box
    }

    /// Area under the piecewise-linear curve through (xs, ys) by the trapezoid rule.
    static func trapezoid(_ xs: [Double], _ ys: [Double]) -> Double {
        var a = 0.0
        for k in 1..<max(xs.count, 1) { a += (xs[k] - xs[k - 1]) * (ys[k] + ys[k - 1]) / 2 }
        return a
    }

    /// Ranks 1...n with ties given their average rank (as scipy's rankdata "average").
    static func ranks(_ v: [Float]) -> [Double] {
        let order = v.indices.sorted { v[$0] < v[$1] || (v[$0] == v[$1] && $0 < $1) }
        var r = [Double](repeating: 0, count: v.count)
        var k = 0
        while k < order.count {
            var j = k
            while j + 1 < order.count && v[order[j + 1]] == v[order[k]] { j += 1 }
            let avg = Double(k + j) / 2 + 1
            for t in k...j { r[order[t]] = avg }
            k = j + 1
        }
        return r
    }

    /// Spearman's rank correlation: Pearson correlation of average ranks. NaN when either
    /// input is constant (no ranking to correlate).
    static func spearman(_ a: [Float], _ b: [Float]) -> Double {
        pearson(ranks(a), ranks(b))
    }

    static func pearson(_ a: [Double], _ b: [Double]) -> Double {
        let n = Double(a.count)
        guard a.count == b.count, a.count > 1 else { return .nan }
        let ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for k in a.indices { let da = a[k] - ma, db = b[k] - mb; sab += da * db; saa += da * da; sbb += db * db }
        guard saa > 0, sbb > 0 else { return .nan }
        return sab / (saa * sbb).squareRoot()
    }

    /// Per-image target scores from logits [N, classes]: the softmax probability or the logit.
    /// Softmax in Double with the max subtracted, so large logits do not overflow.
    static func targetScores(_ logits: Tensor, targets: ArraySlice<Int>, probability: Bool, metric: String) throws -> [Double] {
        guard logits.rank == 2, logits.shape[0] == targets.count else {
            throw PluginError.invalid("metric '\(metric)': the model's output has shape \(logits.shape); expected [\(targets.count), classes]")
        }
        let c = logits.shape[1]
        return try logits.withUnsafeBufferPointer { l in
            try targets.enumerated().map { (row, t) -> Double in
                guard t >= 0 && t < c else { throw PluginError.invalid("metric '\(metric)': target class \(t) is outside the model's \(c) classes") }
                let base = row * c
                guard probability else { return Double(l[base + t]) }
                var mx = -Double.infinity
                for k in 0..<c { mx = max(mx, Double(l[base + k])) }
                var s = 0.0
                for k in 0..<c { s += Foundation.exp(Double(l[base + k]) - mx) }
                return Foundation.exp(Double(l[base + t]) - mx) / s
            }
        }
    }

    /// Thresholds 0, 1/g, ..., 1 (fractions of the map's maximum), the grid of the `best` modes.
    static func thresholdGrid(_ g: Int) -> [Double] { (0...g).map { Double($0) / Double(g) } }

    /// The plane binarised at a fraction of its maximum: m >= t · max. NaN is never inside; a
    /// map whose maximum is not positive has no inside (nothing is salient).
    static func binarized(_ plane: [Float], fraction t: Double) -> [Bool] {
        let mx = plane.lazy.filter { !$0.isNaN }.max() ?? 0
        guard mx > 0 else { return [Bool](repeating: false, count: plane.count) }
        let cut = Float(t) * mx
        return plane.map { $0 >= cut }
    }

    /// Predicted classes (argmax of the logits), in batches of `batchSize`.
    static func predictedClasses(_ model: Graph, _ images: Tensor, batchSize: Int, cancellation: CancellationToken) throws -> [Int] {
        let n = images.shape[0]
        var out: [Int] = []
        var start = 0
        while start < n {
            try cancellation.check()
            let end = min(n, start + batchSize)
            let logits = try Autograd.noGrad { try model(images.slice(axis: 0, start..<end)) }
            guard logits.rank == 2 else { throw PluginError.invalid("the model's output has shape \(logits.shape); expected [N, classes]") }
            out += logits.argmax(axis: 1)
            start = end
        }
        return out
    }
}
