import Runtime

/// Deletion (RISE): how fast the class probability falls as the most salient pixels are
/// removed first. Lower is better. See `DeletionInsertion` for the protocol.
public struct DeletionMetric: Metric {
    public init() {}
    public var name: String { "deletion" }
    public var summary: String { "area under the class-probability curve as the most salient pixels are deleted first (lower is better)" }
    public var reference: String { "Petsiuk, Das, Saenko, RISE: Randomized Input Sampling for Explanation of Black-box Models, BMVC 2018" }
    public var parameters: [ParamSpec] { DeletionInsertion.parameters(insertion: false) }
    public var direction: MetricDirection { .lowerIsBetter }
    public var bounds: ClosedRange<Double>? { 0...1 }
    public var curveAxes: (x: String, y: String) { ("fraction of pixels deleted (most salient first)", "class probability") }
    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult { try DeletionInsertion.evaluate(&ctx, insertion: false) }
}
