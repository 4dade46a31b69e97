import Foundation
import Runtime

/// Superpixels by simple linear iterative clustering (Achanta, Shaji, Smith, Lucchi, Fua &
/// Süsstrunk, "SLIC Superpixels Compared to State-of-the-Art Superpixel Methods", TPAMI 2012,
/// Algorithm 1), the interpretable features of `lime` and `kernel_shap`.
///
/// - Colour space: CIELAB (sRGB, D65) for 3-channel images, taken as sRGB in [0, 1] (an image
///   outside that range is min-max scaled to it first, so normalised inputs segment the same);
///   other channel counts use each channel min-max scaled to [0, 100], Lab's L range.
/// - Centres start on a regular grid of about `segments` cells, step S = sqrt(HW / segments),
///   and move to the lowest-gradient position of their 3x3 neighbourhood (Sec. 3.1).
/// - Ten assignment/update iterations (the paper's "10 iterations suffice for most images"),
///   each pixel to the nearest centre within 2S x 2S by D = sqrt(d_lab^2 + (d_xy / S)^2 m^2),
///   m = `compactness` (Eq. 3; 10 is the paper's and skimage's default for Lab).
/// - Connectivity is enforced afterwards: connected fragments smaller than a quarter of the
///   expected cell size are merged into an adjacent superpixel (Sec. 3.2), and labels are
///   renumbered 0..<count in raster order, so the result is a function of the image alone.
struct SLICSegmentation {
    /// Superpixel index per pixel, row-major [H * W].
    let labels: [Int32]
    let count: Int

    static let iterations = 10

    /// Segments one image, `pixels` laid out [C, H, W].
    init(_ pixels: UnsafeBufferPointer<Float>, channels c: Int, height h: Int, width w: Int, segments: Int, compactness: Double) {
        let n = h * w
        let features = SLICSegmentation.colourFeatures(pixels, channels: c, plane: n)
        let fc = features.count / Swift.max(n, 1)
        let step = Swift.max((Double(n) / Double(Swift.max(segments, 1))).squareRoot(), 1)
        let ny = Swift.max(1, Int((Double(h) / step).rounded())), nx = Swift.max(1, Int((Double(w) / step).rounded()))
        // Centre k: features then (y, x).
        var centres: [Double] = []
        features.withUnsafeBufferPointer { f in
            for i in 0..<ny {
                for j in 0..<nx {
                    var (y, x) = (Int((Double(i) + 0.5) * Double(h) / Double(ny)), Int((Double(j) + 0.5) * Double(w) / Double(nx)))
                    (y, x) = SLICSegmentation.lowestGradient(f, fc: fc, h: h, w: w, y: y, x: x)
                    for q in 0..<fc { centres.append(f[q * n + y * w + x]) }
                    centres += [Double(y), Double(x)]
                }
            }
        }
        let k = ny * nx, stride = fc + 2
        var labels = [Int32](repeating: 0, count: n)
        var distance = [Double](repeating: .infinity, count: n)
        let weight = (compactness / step) * (compactness / step)
        let reach = Int(step.rounded(.up))
        features.withUnsafeBufferPointer { f in
            labels.withUnsafeMutableBufferPointer { lab in distance.withUnsafeMutableBufferPointer { dist in
                var sums = [Double](repeating: 0, count: k * stride), counts = [Int](repeating: 0, count: k)
                for _ in 0..<SLICSegmentation.iterations {
                    for p in 0..<n { dist[p] = .infinity }
                    for ci in 0..<k {
                        let base = ci * stride
                        let (cy, cx) = (centres[base + fc], centres[base + fc + 1])
                        let y0 = Swift.max(0, Int(cy) - reach), y1 = Swift.min(h - 1, Int(cy) + reach)
                        let x0 = Swift.max(0, Int(cx) - reach), x1 = Swift.min(w - 1, Int(cx) + reach)
                        guard y0 <= y1, x0 <= x1 else { continue }
                        for y in y0...y1 {
                            for x in x0...x1 {
                                let p = y * w + x
                                var dc = 0.0
                                for q in 0..<fc { let d = f[q * n + p] - centres[base + q]; dc += d * d }
                                let (dy, dx) = (Double(y) - cy, Double(x) - cx)
                                let d = dc + (dy * dy + dx * dx) * weight
                                if d < dist[p] { dist[p] = d; lab[p] = Int32(ci) }
                            }
                        }
                    }
                    for i in 0..<sums.count { sums[i] = 0 }
                    for i in 0..<k { counts[i] = 0 }
                    for p in 0..<n {
                        let ci = Int(lab[p]), base = ci * stride
                        for q in 0..<fc { sums[base + q] += f[q * n + p] }
                        sums[base + fc] += Double(p / w)
                        sums[base + fc + 1] += Double(p % w)
                        counts[ci] += 1
                    }
                    for ci in 0..<k where counts[ci] > 0 {
                        for q in 0..<stride { centres[ci * stride + q] = sums[ci * stride + q] / Double(counts[ci]) }
                    }
                }
            } }
        }
        (self.labels, self.count) = SLICSegmentation.connected(labels, h: h, w: w, minSize: Swift.max(1, n / Swift.max(4 * k, 1)))
    }

    /// [fc, H * W] colour features of one image in Double.
    static func colourFeatures(_ px: UnsafeBufferPointer<Float>, channels c: Int, plane n: Int) -> [Double] {
        var lo = Float.infinity, hi = -Float.infinity
        for v in px { lo = Swift.min(lo, v); hi = Swift.max(hi, v) }
        guard c == 3 else {
            // Per channel to [0, 100].
            var out = [Double](repeating: 0, count: c * n)
            for ch in 0..<c {
                var clo = Float.infinity, chi = -Float.infinity
                for p in 0..<n { clo = Swift.min(clo, px[ch * n + p]); chi = Swift.max(chi, px[ch * n + p]) }
                let scale = chi > clo ? 100 / Double(chi - clo) : 0
                for p in 0..<n { out[ch * n + p] = Double(px[ch * n + p] - clo) * scale }
            }
            return out
        }
        let rescale = lo < 0 || hi > 1
        let span = hi > lo ? Double(hi - lo) : 1
        func linear(_ v: Float) -> Double {
            let s = rescale ? Double(v - lo) / span : Double(v)
            return s <= 0.04045 ? s / 12.92 : Foundation.pow((s + 0.055) / 1.055, 2.4)
        }
        func f(_ t: Double) -> Double { t > 216.0 / 24389 ? Foundation.cbrt(t) : (24389.0 / 27 * t + 16) / 116 }
        var out = [Double](repeating: 0, count: 3 * n)
        for p in 0..<n {
            let (r, g, b) = (linear(px[p]), linear(px[n + p]), linear(px[2 * n + p]))
            // sRGB (D65) -> XYZ, normalised by the D65 white point.
            let x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
            let y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
            let z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883
            let (fx, fy, fz) = (f(x), f(y), f(z))
            out[p] = 116 * fy - 16
            out[n + p] = 500 * (fx - fy)
            out[2 * n + p] = 200 * (fy - fz)
        }
        return out
    }

    /// The position of least colour gradient in the 3x3 neighbourhood of (y, x) (Sec. 3.1:
    /// keeps centres off edges and noisy pixels).
    static func lowestGradient(_ f: UnsafeBufferPointer<Double>, fc: Int, h: Int, w: Int, y: Int, x: Int) -> (Int, Int) {
        let n = h * w
        var best = (y, x), bestG = Double.infinity
        for yy in Swift.max(1, y - 1)...Swift.max(1, Swift.min(h - 2, y + 1)) where yy < h - 1 {
            for xx in Swift.max(1, x - 1)...Swift.max(1, Swift.min(w - 2, x + 1)) where xx < w - 1 {
                var g = 0.0
                for q in 0..<fc {
                    let dx = f[q * n + yy * w + xx + 1] - f[q * n + yy * w + xx - 1]
                    let dy = f[q * n + (yy + 1) * w + xx] - f[q * n + (yy - 1) * w + xx]
                    g += dx * dx + dy * dy
                }
                if g < bestG { bestG = g; best = (yy, xx) }
            }
        }
        return best
    }

    /// Labels of 4-connected components, fragments below `minSize` merged into the component
    /// met just before them in raster order (or after, for a fragment at the very start),
    /// numbered 0..<count in raster order.
    static func connected(_ labels: [Int32], h: Int, w: Int, minSize: Int) -> ([Int32], Int) {
        let n = h * w
        var out = [Int32](repeating: -1, count: n)
        var queue = [Int](repeating: 0, count: n)
        var next: Int32 = 0
        for start in 0..<n where out[start] < 0 {
            let own = labels[start]
            // The label of an already-numbered 4-neighbour of the fragment's first pixel.
            var adjacent: Int32 = -1
            for q in [start - 1, start - w] where q >= 0 && (q != start - 1 || start % w > 0) && out[q] >= 0 { adjacent = out[q] }
            var head = 0, tail = 1
            queue[0] = start
            out[start] = next
            while head < tail {
                let p = queue[head]; head += 1
                let (y, x) = (p / w, p % w)
                for (ok, q) in [(x > 0, p - 1), (x < w - 1, p + 1), (y > 0, p - w), (y < h - 1, p + w)] where ok {
                    if out[q] < 0 && labels[q] == own { out[q] = next; queue[tail] = q; tail += 1 }
                }
            }
            if tail < minSize && adjacent >= 0 {
                for i in 0..<tail { out[queue[i]] = adjacent }
            } else {
                next += 1
            }
        }
        return (out, Int(next))
    }
}
