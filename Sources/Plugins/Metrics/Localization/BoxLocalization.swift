import Runtime

/// Weakly supervised box localisation, CHIP's Table II protocol (after CAM): binarise the map
/// at a fraction of its maximum, take the bounding box of the largest 8-connected component,
/// and count it correct when its IoU with the ground-truth box is >= `iou` (0.5, ILSVRC's
/// rule). The ground-truth box is the data's box, or the bounding box of its mask.
///
/// Value: 1 if the box is correct, else 0, so 1 − mean is the ("ground-truth known")
/// localisation error. Top-1 localisation also needs the predicted class to be the true one:
/// extras["class_correct"] and extras["top1_correct"] hold those flags when the ground truth
/// carries labels (NaN otherwise), so 1 − mean(top1_correct) is Table II's top-1 loc error.
/// `mode: "best"` grid-searches the threshold as CHIP does — one threshold for the batch, the
/// one with the most correct boxes (ties: higher mean IoU, then the lower threshold) — and
/// extras["threshold"] reports it. CHIP picks one threshold for the whole validation set, so
/// evaluate the set in one call, or pick from the per-image curves (threshold, box IoU) that
/// this mode returns. Other extras: "iou" and the box "x0", "y0", "x1", "y1"
/// (inclusive-exclusive; all NaN when nothing passes the threshold).
/// `count: "top1"` makes the value (and what mode best maximises) top1_correct, and
/// `value: "iou" | "threshold"` reports the box IoU or the threshold used instead, so a
/// pipeline can show the threshold chosen on validation images and apply it to the test set.
public struct BoxLocalizationMetric: Metric {
    public init() {}
    public var name: String { "box_localization" }
    public var summary: String { "1 if the box around the largest thresholded component overlaps the ground-truth box with IoU >= 0.5" }
    public var reference: String { "CHIP (shared/papers/001), Table II; Zhou et al., Learning Deep Features for Discriminative Localization, CVPR 2016" }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("mode", .choice(["fraction", "best"]), default: .string("fraction"), doc: "fixed fraction of the maximum, or grid search"),
            ParamSpec("threshold", .float, default: .float(0.5), range: 0...1, doc: "fraction of the map's maximum (mode fraction)"),
            ParamSpec("grid", .int, default: .int(100), range: 1...10_000, doc: "thresholds 0, 1/grid, ..., 1 (mode best)"),
            ParamSpec("iou", .float, default: .float(0.5), range: 0...1, doc: "IoU with the ground-truth box needed to be correct"),
            ParamSpec("batch_size", .int, default: .int(32), range: 1...4096, doc: "images per forward pass for the predicted classes"),
            ParamSpec("count", .choice(["box", "top1"]), default: .string("box"),
                      doc: "what is correct (and what mode best maximises): the box alone, or the box and the predicted class (top-1 localisation; needs labels)"),
            ParamSpec("value", .choice(["correct", "iou", "threshold"]), default: .string("correct"),
                      doc: "per-image value: correct (1/0), the box IoU, or the threshold used (mode best: the grid's choice, so tables show it)"),
        ]
    }
    public var direction: MetricDirection { .higherIsBetter }
    public var curveAxes: (x: String, y: String) { ("threshold (fraction of the map's maximum)", "IoU of the box with the true box") }
    public var needsGroundTruth: Bool { true }

    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let (n, _, h, w) = try MetricSupport.checkShapes(ctx, metric: name)
        let need = try ctx.params.float("iou")
        let planes = (0..<n).map { MetricSupport.mapPlane(ctx.saliency.map, $0) }
        let truth = try (0..<n).map { try MetricSupport.truthBox(ctx.groundTruth, $0, h: h, w: w, metric: name) }
        func boxes(_ t: Double) -> [(box: [Int]?, iou: Double)] {
            (0..<n).map { i in
                let b = MetricSupport.largestComponentBox(MetricSupport.binarized(planes[i], fraction: t), h: h, w: w)
                return (b, b.map { MetricSupport.boxIoU($0, truth[i]) } ?? 0)
            }
        }
        // The predicted class is right (top-1 counting), per image; all true when counting boxes.
        var classCorrect: [Double]? = nil
        if let labels = ctx.groundTruth.labels {
            guard labels.count == n else { throw PluginError.invalid("metric '\(name)': \(labels.count) labels for \(n) images") }
            let predicted = try MetricSupport.predictedClasses(ctx.model, ctx.images, batchSize: ctx.params.int("batch_size"), cancellation: ctx.cancellation)
            classCorrect = (0..<n).map { predicted[$0] == labels[$0] ? 1.0 : 0.0 }
        }
        let top1 = try ctx.params.string("count") == "top1"
        guard !top1 || classCorrect != nil else {
            throw PluginError.invalid("metric '\(name)': count: \"top1\" needs the images' labels; this data has none")
        }
        let counted = top1 ? classCorrect ?? [] : [Double](repeating: 1, count: n)
        var t = try ctx.params.float("threshold")
        var result = boxes(t)
        var curves: [[(x: Double, y: Double)]]? = nil
        if try ctx.params.string("mode") == "best" {
            var bestKey = (-1, -1.0)
            curves = [[(x: Double, y: Double)]](repeating: [], count: n)
            for g in try MetricSupport.thresholdGrid(ctx.params.int("grid")) {
                try ctx.cancellation.check()
                let r = boxes(g)
                // unreachable from input: curves was set to n empty lists just before this loop
                for i in 0..<n { curves![i].append((x: g, y: r[i].iou)) }
                let key = ((0..<n).filter { counted[$0] == 1 && r[$0].iou >= need }.count, r.reduce(0) { $0 + $1.iou })
                if key.0 > bestKey.0 || (key.0 == bestKey.0 && key.1 > bestKey.1) { bestKey = key; t = g; result = r }
            }
        }
        let correct = result.map { $0.iou >= need ? 1.0 : 0.0 }
        var extras: [String: [Double]] = [
            "threshold": [Double](repeating: t, count: n),
            "iou": result.map(\.iou),
            "box_correct": correct,
        ]
        for (k, key) in ["x0", "y0", "x1", "y1"].enumerated() { extras[key] = result.map { $0.box.map { Double($0[k]) } ?? .nan } }
        if let cls = classCorrect {
            extras["class_correct"] = cls
            extras["top1_correct"] = zip(cls, correct).map { $0 * $1 }
        } else {
            extras["class_correct"] = [Double](repeating: .nan, count: n)
            extras["top1_correct"] = [Double](repeating: .nan, count: n)
        }
        let values: [Double]
        switch try ctx.params.string("value") {
        case "iou": values = result.map(\.iou)
        case "threshold": values = [Double](repeating: t, count: n)
        default: values = zip(counted, correct).map { $0 * $1 }
        }
        return MetricResult(values: values, curves: curves, extras: extras)
    }
}
