import Runtime

/// Ground truth that localisation metrics compare maps with.
public struct GroundTruth: Sendable {
    /// [N, 1, H, W] binary masks, when known.
    public var masks: Tensor?
    /// Boxes per image as (x0, y0, x1, y1) in pixels, inclusive-exclusive, when known.
    public var boxes: [[Int]]?
    /// True class per image, when known (top-1 localisation needs the classification to be right).
    public var labels: [Int]?
    public init(masks: Tensor? = nil, boxes: [[Int]]? = nil, labels: [Int]? = nil) { self.masks = masks; self.boxes = boxes; self.labels = labels }
}

public struct MetricContext {
    public let model: Graph
    public let images: Tensor
    public let saliency: SaliencyMap
    public let params: Params
    public let groundTruth: GroundTruth
    public var rng: RandomGenerator
    public let cancellation: CancellationToken
    /// The explainer that made the map, for metrics that re-explain (sanity checks).
    public let explainer: (any Explainer)?
    /// The dataset a fitting explainer was fitted on, for metrics that re-explain on a changed
    /// model and so must refit (a fitted state belongs to the weights it was fitted to).
    public let fitDataset: (any Dataset)?
    public init(model: Graph, images: Tensor, saliency: SaliencyMap, params: Params, groundTruth: GroundTruth = GroundTruth(),
                rng: RandomGenerator = RandomGenerator(seed: 0), cancellation: CancellationToken = .never, explainer: (any Explainer)? = nil,
                fitDataset: (any Dataset)? = nil) {
        self.model = model; self.images = images; self.saliency = saliency; self.params = params
        self.groundTruth = groundTruth; self.rng = rng; self.cancellation = cancellation; self.explainer = explainer
        self.fitDataset = fitDataset
    }
}

/// A metric's verdict: one value per image, optional curves per image (x, y), extras.
public struct MetricResult: Sendable {
    public var values: [Double]
    public var curves: [[(x: Double, y: Double)]]?
    public var extras: [String: [Double]]
    public init(values: [Double], curves: [[(x: Double, y: Double)]]? = nil, extras: [String: [Double]] = [:]) {
        self.values = values; self.curves = curves; self.extras = extras
    }
}

public enum MetricDirection: String, Sendable { case higherIsBetter = "higher is better", lowerIsBetter = "lower is better", neither = "" }

public protocol Metric: Sendable {
    var name: String { get }
    var summary: String { get }
    var reference: String { get }
    var parameters: [ParamSpec] { get }
    var direction: MetricDirection { get }
    /// Whether ground truth masks or boxes are required.
    var needsGroundTruth: Bool { get }
    /// The range every value lies in, when the metric has one (an AUC of probabilities:
    /// 0...1); reports clip confidence intervals to it.
    var bounds: ClosedRange<Double>? { get }
    /// What the axes of the metric's curves show, for the report's plots ("fraction of
    /// pixels deleted", "class probability"); metrics without curves keep the default.
    var curveAxes: (x: String, y: String) { get }
    func evaluate(_ ctx: inout MetricContext) throws -> MetricResult
}

extension Metric {
    public var parameters: [ParamSpec] { [] }
    public var needsGroundTruth: Bool { false }
    public var bounds: ClosedRange<Double>? { nil }
    public var curveAxes: (x: String, y: String) { ("curve point", name) }
}
