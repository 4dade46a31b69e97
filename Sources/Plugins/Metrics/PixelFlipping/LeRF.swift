import Runtime

/// LeRF: replace the least relevant pixels first with random colours; a good map keeps the
/// target score until late. Value: AOPC (mean score drop), lower is better. See `PixelFlipping`.
public struct LeRFMetric: Metric {
    public init() {}
    public var name: String { "lerf" }
    public var summary: String { "least relevant pixels first replaced by uniform noise; AOPC, the mean score drop (lower is better)" }
    public var reference: String { "Samek, Binder, Montavon, Lapuschkin, Müller, Evaluating the Visualization of What a Deep Neural Network Has Learned, IEEE TNNLS 2017" }
    public var parameters: [ParamSpec] { PixelFlipping.parameters }
    public var direction: MetricDirection { .lowerIsBetter }
    public var curveAxes: (x: String, y: String) { ("fraction of pixels replaced by noise (least relevant first)", "target score") }
    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let r = try PixelFlipping.run(&ctx, metric: name, morf: false, lerf: true)
        // unreachable from input: run returns the LeRF curve when asked for it
        let s = r.lerf!
        return MetricResult(values: s.map(PixelFlipping.aopc), curves: s.map { PixelFlipping.points(r.xs, $0) })
    }
}
