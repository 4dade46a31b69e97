import Runtime

/// MoRF: replace the most relevant pixels first with random colours; a good map makes the
/// target score fall fast. Value: AOPC (mean score drop over the iterations), higher is
/// better. Curve: the score against the fraction of pixels replaced. See `PixelFlipping`.
public struct MoRFMetric: Metric {
    public init() {}
    public var name: String { "morf" }
    public var summary: String { "most relevant pixels first replaced by uniform noise; AOPC, the mean score drop (higher is better)" }
    public var reference: String { "Samek, Binder, Montavon, Lapuschkin, Müller, Evaluating the Visualization of What a Deep Neural Network Has Learned, IEEE TNNLS 2017" }
    public var parameters: [ParamSpec] { PixelFlipping.parameters }
    public var direction: MetricDirection { .higherIsBetter }
    public var curveAxes: (x: String, y: String) { ("fraction of pixels replaced by noise (most relevant first)", "target score") }
    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let r = try PixelFlipping.run(&ctx, metric: name, morf: true, lerf: false)
        // unreachable from input: run returns the MoRF curve when asked for it
        let s = r.morf!
        return MetricResult(values: s.map(PixelFlipping.aopc), curves: s.map { PixelFlipping.points(r.xs, $0) })
    }
}
