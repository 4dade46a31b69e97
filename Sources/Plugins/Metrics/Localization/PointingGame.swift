import Foundation
import Runtime

/// Pointing game (Zhang et al. 2016): a hit when the map's maximum lies inside the
/// ground-truth region (mask, or box) or within `tolerance` pixels of it (Euclidean distance
/// to the nearest region pixel, TorchRay's disc). The tolerance is 15 pixels at 224x224
/// (the paper's), scaled with the image's side, sqrt(H·W) / 224, by default: 2 at 28x28.
/// Several pixels sharing the maximum: the first in raster order points (a flat map points at
/// the top-left corner, which is what it deserves). Value 1 (hit) or 0; extras "x", "y" are
/// the pointed pixel.
public struct PointingGameMetric: Metric {
    public init() {}
    public var name: String { "pointing_game" }
    public var summary: String { "1 if the map's maximum falls inside the ground-truth region (with a tolerance), else 0" }
    public var reference: String { "Zhang, Lin, Brandt, Shen, Sclaroff, Top-down Neural Attention by Excitation Backprop, ECCV 2016" }
    public var parameters: [ParamSpec] {
        [ParamSpec("tolerance", .float, range: 0...1e6, doc: "pixels of slack around the region; default 15 · sqrt(H·W) / 224")]
    }
    public var direction: MetricDirection { .higherIsBetter }
    public var bounds: ClosedRange<Double>? { 0...1 }
    public var needsGroundTruth: Bool { true }

    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let (n, _, h, w) = try MetricSupport.checkShapes(ctx, metric: name)
        let tol = try ctx.params["tolerance"] == nil ? (15 * (Double(h * w)).squareRoot() / 224).rounded() : ctx.params.float("tolerance")
        let r = Int(tol.rounded(.down))
        var values: [Double] = [], xs: [Double] = [], ys: [Double] = []
        for i in 0..<n {
            let plane = MetricSupport.mapPlane(ctx.saliency.map, i)
            let truth = try MetricSupport.truthMask(ctx.groundTruth, i, h: h, w: w, metric: name)
            var best = 0
            for p in plane.indices where !plane[p].isNaN && (plane[best].isNaN || plane[p] > plane[best]) { best = p }
            let (py, px) = (best / w, best % w)
            var hit = false
            search: for y in max(0, py - r)...min(h - 1, py + r) {
                for x in max(0, px - r)...min(w - 1, px + r) where truth[y * w + x] {
                    let d2 = Double((y - py) * (y - py) + (x - px) * (x - px))
                    if d2 <= tol * tol { hit = true; break search }
                }
            }
            values.append(hit ? 1 : 0); xs.append(Double(px)); ys.append(Double(py))
        }
        return MetricResult(values: values, extras: ["x": xs, "y": ys])
    }
}
