import Foundation
import Runtime

/// Structural similarity between the map and the input image (the Noise Mask thesis' measure
/// of "structural consistency with the input images", Table 2), after Wang et al. 2004:
///
/// - both planes are grayscale (BT.601 luma for RGB inputs) and min-max normalised to [0, 1],
///   so the dynamic range is L = 1 and C1 = (K1·L)², C2 = (K2·L)²;
/// - local statistics use an 11x11 Gaussian window with sigma 1.5 (normalised to sum 1),
///   evaluated only where the window fits inside the image ("valid", as Wang's reference
///   `ssim_index.m` with `filter2(..., 'valid')`), so no padding enters the statistics;
/// - σ² and σxy are the window-weighted (biased) moments, as in the reference code;
/// - the value is the mean of the SSIM map. Wang's optional downsampling of large images is not
///   applied (maps here are compared at the model's input size).
///
/// Images smaller than the window are an error (set a smaller odd `window`).
public struct SSIMMetric: Metric {
    public init() {}
    public var name: String { "ssim" }
    public var summary: String { "mean structural similarity between the grayscale map and the grayscale input" }
    public var reference: String { "Wang, Bovik, Sheikh, Simoncelli, Image Quality Assessment: From Error Visibility to Structural Similarity, IEEE TIP 2004" }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("window", .int, default: .int(11), range: 1...255, doc: "odd side of the Gaussian window"),
            ParamSpec("sigma", .float, default: .float(1.5), range: 1e-3...100, doc: "standard deviation of the window, in pixels"),
            ParamSpec("k1", .float, default: .float(0.01), range: 0...1, doc: "luminance stabiliser, C1 = (k1·L)² with L = 1"),
            ParamSpec("k2", .float, default: .float(0.03), range: 0...1, doc: "contrast stabiliser, C2 = (k2·L)² with L = 1"),
        ]
    }
    public var direction: MetricDirection { .higherIsBetter }

    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let (n, _, h, w) = try MetricSupport.checkShapes(ctx, metric: name)
        let win = try ctx.params.int("window")
        guard win % 2 == 1 else { throw PluginError.invalid("parameter 'window' of 'ssim' must be odd, got \(win)") }
        guard win <= min(h, w) else {
            throw PluginError.invalid("metric 'ssim': the \(win)x\(win) window does not fit the \(h)x\(w) image; set window to an odd value <= \(min(h, w))")
        }
        let kernel = try SSIMMetric.gaussianWindow(size: win, sigma: ctx.params.float("sigma"))
        let c1 = try pow(ctx.params.float("k1"), 2), c2 = try pow(ctx.params.float("k2"), 2)
        var values: [Double] = []
        for i in 0..<n {
            try ctx.cancellation.check()
            let x = MetricSupport.minMaxNormalized(MetricSupport.grayscale(ctx.images, i)).map(Double.init)
            let y = MetricSupport.minMaxNormalized(MetricSupport.mapPlane(ctx.saliency.map, i)).map(Double.init)
            values.append(SSIMMetric.meanSSIM(x, y, h: h, w: w, kernel: kernel, c1: c1, c2: c2))
        }
        return MetricResult(values: values)
    }

    /// The 1-D Gaussian exp(-x²/(2σ²)) at x = -(k-1)/2 ... (k-1)/2, normalised to sum 1, in
    /// Double (the 2-D window is its outer product, Wang's `fspecial('gaussian', 11, 1.5)`).
    static func gaussianWindow(size k: Int, sigma: Double) -> [Double] {
        let half = Double(k - 1) / 2
        let g = (0..<k).map { i -> Double in let x = Double(i) - half; return Foundation.exp(-x * x / (2 * sigma * sigma)) }
        let s = g.reduce(0, +)
        return g.map { $0 / s }
    }

    /// Mean SSIM of two [h·w] planes with a separable window, valid positions only.
    static func meanSSIM(_ x: [Double], _ y: [Double], h: Int, w: Int, kernel: [Double], c1: Double, c2: Double) -> Double {
        let k = kernel.count
        let xx = zip(x, x).map(*), yy = zip(y, y).map(*), xy = zip(x, y).map(*)
        let mx = filterValid(x, h: h, w: w, kernel), my = filterValid(y, h: h, w: w, kernel)
        let sxx = filterValid(xx, h: h, w: w, kernel), syy = filterValid(yy, h: h, w: w, kernel), sxy = filterValid(xy, h: h, w: w, kernel)
        let count = (h - k + 1) * (w - k + 1)
        var total = 0.0
        for p in 0..<count {
            let (a, b) = (mx[p], my[p])
            let vx = sxx[p] - a * a, vy = syy[p] - b * b, cov = sxy[p] - a * b
            total += ((2 * a * b + c1) * (2 * cov + c2)) / ((a * a + b * b + c1) * (vx + vy + c2))
        }
        return total / Double(count)
    }

    /// Separable correlation with `kernel` over the positions where it fits: [(h-k+1)·(w-k+1)].
    static func filterValid(_ v: [Double], h: Int, w: Int, _ kernel: [Double]) -> [Double] {
        let k = kernel.count, ow = w - k + 1, oh = h - k + 1
        var rows = [Double](repeating: 0, count: h * ow)
        for r in 0..<h {
            for c in 0..<ow {
                var s = 0.0
                for t in 0..<k { s += kernel[t] * v[r * w + c + t] }
                rows[r * ow + c] = s
            }
        }
        var out = [Double](repeating: 0, count: oh * ow)
        for r in 0..<oh {
            for c in 0..<ow {
                var s = 0.0
                for t in 0..<k { s += kernel[t] * rows[(r + t) * ow + c] }
                out[r * ow + c] = s
            }
        }
        return out
    }
}
