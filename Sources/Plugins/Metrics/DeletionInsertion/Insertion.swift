import Runtime

/// Insertion (RISE): how fast the class probability rises as the most salient pixels are
/// restored first into a blurred image. Higher is better. See `DeletionInsertion`.
public struct InsertionMetric: Metric {
    public init() {}
    public var name: String { "insertion" }
    public var summary: String { "area under the class-probability curve as the most salient pixels are restored first into a blurred image (higher is better)" }
    public var reference: String { "Petsiuk, Das, Saenko, RISE: Randomized Input Sampling for Explanation of Black-box Models, BMVC 2018" }
    public var parameters: [ParamSpec] { DeletionInsertion.parameters(insertion: true) }
    public var direction: MetricDirection { .higherIsBetter }
    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult { try DeletionInsertion.evaluate(&ctx, insertion: true) }
}
