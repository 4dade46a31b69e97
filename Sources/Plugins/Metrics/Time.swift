import Runtime

/// Seconds per map, as the host timed the explain call (wall time of the whole batch divided
/// by the number of maps, so every image of a batch gets the same value). Lower is better.
public struct TimeMetric: Metric {
    public init() {}
    public var name: String { "time" }
    public var summary: String { "seconds per map, as timed by the explain call" }
    public var reference: String { "wall-clock time per map (the surrogate paper's Table 3 reports the inverse, maps per second)" }
    public var direction: MetricDirection { .lowerIsBetter }
    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let (n, _, _, _) = try MetricSupport.checkShapes(ctx, metric: name)
        return MetricResult(values: [Double](repeating: ctx.saliency.secondsPerMap, count: n))
    }
}
