import Runtime

/// Complexity as compressed size: the bytes of the map encoded as an 8-bit grayscale PNG
/// after min-max normalisation (NICE's file-size measure: a sparse, smooth map compresses
/// well). A constant map normalises to all zeros. The number depends on libpng's default
/// compression settings, which we never change, so values compare within this program.
/// Lower is better (simpler maps). `times_input: true` encodes the min-max normalised map times
/// the grayscale input instead (the image content the map keeps; `MetricSupport.scoredPlane`).
public struct PNGSizeMetric: Metric {
    public init() {}
    public var name: String { "png_size" }
    public var summary: String { "bytes of the min-max normalised map as an 8-bit grayscale PNG (lower is simpler)" }
    public var reference: String { "complexity as compressed size, as in NICE (shared/papers/000)" }
    public var direction: MetricDirection { .lowerIsBetter }
    public var parameters: [ParamSpec] { [MetricSupport.timesInputParam] }
    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let s = ctx.saliency.map.shape
        guard s.count == 4, s[1] == 1, s[0] > 0 else { throw PluginError.invalid("metric 'png_size': the map must be [N, 1, H, W], got \(s)") }
        let timesInput = try ctx.params.bool("times_input")
        if timesInput { _ = try MetricSupport.checkShapes(ctx, metric: name) }
        var values: [Double] = []
        for i in 0..<s[0] {
            try ctx.cancellation.check()
            let plane = MetricSupport.minMaxNormalized(MetricSupport.scoredPlane(ctx, i, timesInput: timesInput))
            values.append(Double(try encodePNG(Tensor(shape: [1, s[2], s[3]], data: plane)).count))
        }
        return MetricResult(values: values)
    }
}
