import Runtime

/// Insertion (RISE): how fast the class probability rises as the most salient pixels are
/// restored first into a blurred image. Higher is better. See `DeletionInsertion`.
///
/// Default start image: RISE's evaluation code, `conv2d(x, gkern(11, 5), padding=5)` per
/// channel — gkern's kernel and zero padding (`blur_padding: "zero"`), so the image's
/// borders start darker than the blur alone makes them. `blur_padding: "reflect"` mirrors
/// the image at the border instead.
public struct InsertionMetric: Metric {
    public init() {}
    public var name: String { "insertion" }
    public var summary: String { "area under the class-probability curve as the most salient pixels are restored first into a blurred image (higher is better)" }
    public var reference: String { "Petsiuk, Das, Saenko, RISE: Randomized Input Sampling for Explanation of Black-box Models, BMVC 2018" }
    public var parameters: [ParamSpec] { DeletionInsertion.parameters(insertion: true) }
    public var direction: MetricDirection { .higherIsBetter }
    public var bounds: ClosedRange<Double>? { 0...1 }
    public var curveAxes: (x: String, y: String) { ("fraction of pixels restored in the blurred image (most salient first)", "class probability") }
    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult { try DeletionInsertion.evaluate(&ctx, insertion: true) }
}
