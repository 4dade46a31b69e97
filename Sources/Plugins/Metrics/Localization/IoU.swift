import Runtime

/// Pixel IoU between the binarised map and the ground-truth region (mask, or filled box).
///
/// Binarisation (`mode`):
/// - "fraction": pixels with value >= threshold · max (CHIP's "threshold of the maximal
///   intensity"; a map with no positive value selects nothing);
/// - "top_percent": the top_percent % most salient pixels (at least one; ties by index);
/// - "best": CHIP's grid search — the fraction threshold on the grid 0, 1/grid, ..., 1 with
///   the highest mean IoU over the batch (one threshold for all images, as CHIP selects one
///   per method on the whole set; ties go to the lower threshold), reported in
///   extras["threshold"]. The search runs over the images of one call; for a dataset-wide
///   threshold evaluate the set in one call, or pick from the per-image curves below.
/// - "auc": VEbI's Fig. 8 "area under the IoU curve" as the value: the map is min-max
///   normalised to [0, 1] per image, binarised at each threshold t of the grid 0, 1/grid, ...,
///   1 (pixels with normalised value >= t; t = 0 keeps every pixel), and the IoU curve's area
///   over [0, 1] is taken by the trapezoid rule (a NaN point, both regions empty, counts 0).
///   The default grid, 100, spaces thresholds by 0.01.
/// The other modes also return, per image, the IoU curve over the fraction-of-maximum grid
/// (thresholds t · max), with its trapezoid area in extras["auc"]; mode "auc" returns its
/// min-max curve and area there instead. The two areas differ when the map's minimum is not 0
/// (min-max normalisation removes the offset; a fraction of the maximum does not).
/// IoU is NaN when both regions are empty (undefined; aggregates skip it).
public struct IoUMetric: Metric {
    public init() {}
    public var name: String { "iou" }
    public var summary: String { "IoU of the thresholded map with the ground-truth mask or box" }
    public var reference: String { "CHIP (shared/papers/001) and VEbI's an8Flower (shared/papers/002) protocols" }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("mode", .choice(["fraction", "top_percent", "best", "auc"]), default: .string("fraction"),
                      doc: "binarise at a fraction of the maximum, keep the top percent of pixels, grid-search the fraction, or report the area under the IoU curve over thresholds of the min-max normalised map"),
            ParamSpec("threshold", .float, default: .float(0.5), range: 0...1, doc: "fraction of the map's maximum (mode fraction)"),
            ParamSpec("top_percent", .float, default: .float(20), range: 0...100, doc: "percent of pixels kept (mode top_percent)"),
            ParamSpec("grid", .int, default: .int(100), range: 1...10_000, doc: "the threshold grid has grid + 1 points 0...1 (modes best and auc, and the IoU curve)"),
        ]
    }
    public var direction: MetricDirection { .higherIsBetter }
    public var bounds: ClosedRange<Double>? { 0...1 }
    public var curveAxes: (x: String, y: String) { ("threshold (fraction of the map's maximum; of its min-max range in mode auc)", "IoU with the mask") }
    public var needsGroundTruth: Bool { true }

    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let (n, _, h, w) = try MetricSupport.checkShapes(ctx, metric: name)
        let grid = try MetricSupport.thresholdGrid(ctx.params.int("grid"))
        let mode = try ctx.params.string("mode") ?? "fraction"
        var planes: [[Float]] = [], truths: [[Bool]] = [], curves: [[Double]] = []
        for i in 0..<n {
            try ctx.cancellation.check()
            let plane = MetricSupport.mapPlane(ctx.saliency.map, i)
            let truth = try MetricSupport.truthMask(ctx.groundTruth, i, h: h, w: w, metric: name)
            planes.append(plane); truths.append(truth)
            if mode == "auc" {
                let normalized = MetricSupport.minMaxNormalized(plane)
                curves.append(grid.map { t in IoUMetric.iou(normalized.map { Double($0) >= t }, truth) })
            } else {
                curves.append(grid.map { IoUMetric.iou(MetricSupport.binarized(plane, fraction: $0), truth) })
            }
        }
        let areas = curves.map { MetricSupport.trapezoid(grid, $0.map { $0.isNaN ? 0 : $0 }) }
        var values: [Double], thresholds: [Double]
        switch mode {
        case "auc":
            values = areas
            thresholds = [Double](repeating: .nan, count: n)
        case "top_percent":
            let p = try ctx.params.float("top_percent")
            values = (0..<n).map { i in
                let order = MetricSupport.pixelOrder(planes[i], descending: true)
                let keep = max(1, Int((p / 100 * Double(order.count)).rounded()))
                var m = [Bool](repeating: false, count: order.count)
                for q in order.prefix(keep) { m[q] = true }
                return IoUMetric.iou(m, truths[i])
            }
            thresholds = [Double](repeating: .nan, count: n)
        case "best":
            var bestK = 0, bestMean = -Double.infinity
            for k in grid.indices {
                let vals = curves.map { $0[k] }.filter { !$0.isNaN }
                let mean = vals.isEmpty ? -Double.infinity : vals.reduce(0, +) / Double(vals.count)
                if mean > bestMean { bestMean = mean; bestK = k }
            }
            values = curves.map { $0[bestK] }
            thresholds = [Double](repeating: grid[bestK], count: n)
        default:
            let t = try ctx.params.float("threshold")
            values = (0..<n).map { IoUMetric.iou(MetricSupport.binarized(planes[$0], fraction: t), truths[$0]) }
            thresholds = [Double](repeating: t, count: n)
        }
        return MetricResult(values: values,
                            curves: curves.map { c in zip(grid, c).map { (x: $0, y: $1) } },
                            extras: ["threshold": thresholds, "auc": areas])
    }

    /// |a ∧ b| / |a ∨ b|; NaN when both are empty.
    static func iou(_ a: [Bool], _ b: [Bool]) -> Double {
        var inter = 0, union = 0
        for k in a.indices {
            if a[k] && b[k] { inter += 1 }
            if a[k] || b[k] { union += 1 }
        }
        return union == 0 ? .nan : Double(inter) / Double(union)
    }
}
