import Runtime

/// Complexity as mean pixel intensity: the surrogate paper's E_x ‖H_x‖₁ per pixel (Table 3:
/// "mean pixel intensity of a saliency map", where keeping the whole image scores 1.0).
///
/// The paper's maps come out of a sigmoid, already in [0, 1], and it does not say how it
/// brought RISE's and Grad-CAM's maps to that range; we min-max normalise by default (the
/// usual display normalisation of both), so every method is measured on [0, 1]. `normalize:
/// "max"` divides by the maximum instead (a map of ones scores 1, as the paper's baseline row;
/// negative values are clipped to 0) and `"none"` takes the map as it is. A constant map
/// normalises to 0 under min-max (nothing stands out). Lower is better (sparser maps).
public struct MeanIntensityMetric: Metric {
    public init() {}
    public var name: String { "mean_intensity" }
    public var summary: String { "mean of the normalised map, the surrogate paper's complexity (lower is sparser)" }
    public var reference: String { "attentive surrogate network paper (shared/papers/004), Table 3" }
    public var parameters: [ParamSpec] {
        [ParamSpec("normalize", .choice(["minmax", "max", "none"]), default: .string("minmax"),
                   doc: "min-max to [0, 1], divide by the maximum (negatives clipped), or none")]
    }
    public var direction: MetricDirection { .lowerIsBetter }
    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let s = ctx.saliency.map.shape
        guard s.count == 4, s[1] == 1, s[0] > 0 else { throw PluginError.invalid("metric 'mean_intensity': the map must be [N, 1, H, W], got \(s)") }
        let mode = try ctx.params.string("normalize") ?? "minmax"
        let values = (0..<s[0]).map { i -> Double in
            let raw = MetricSupport.mapPlane(ctx.saliency.map, i)
            let plane: [Float]
            switch mode {
            case "max":
                let mx = raw.filter { !$0.isNaN }.max() ?? 0
                plane = mx > 0 ? raw.map { $0.isNaN ? 0 : Swift.max($0, 0) / mx } : [Float](repeating: 0, count: raw.count)
            case "none": plane = raw
            default: plane = MetricSupport.minMaxNormalized(raw)
            }
            return plane.reduce(0.0) { $0 + Double($1) } / Double(plane.count)
        }
        return MetricResult(values: values)
    }
}
