import Runtime

/// One example: an image [C, H, W] in [0, 1] (before the model's normalisation), its label,
/// and ground truth when the dataset has it.
public struct Example: Sendable {
    public var image: Tensor
    public var label: Int
    /// [1, H, W] binary mask of the discriminative region or the object.
    public var mask: Tensor?
    /// (x0, y0, x1, y1) in pixels.
    public var box: [Int]?
    public init(image: Tensor, label: Int, mask: Tensor? = nil, box: [Int]? = nil) {
        self.image = image; self.label = label; self.mask = mask; self.box = box
    }
}

/// A dataset: indexable examples, deterministic for a given seed and index.
public protocol Dataset: Sendable {
    var name: String { get }
    var classNames: [String] { get }
    var count: Int { get }
    func example(_ index: Int) throws -> Example
    /// The label of one example, without decoding its image when the dataset can.
    func label(_ index: Int) throws -> Int
    /// What an example is called where it came from (a folder dataset's file name); nil when it has no name of its own.
    func itemName(_ index: Int) -> String?
}

extension Dataset {
    public func label(_ index: Int) throws -> Int { try example(index).label }
    public func itemName(_ index: Int) -> String? { nil }
}

extension Dataset {
    /// Stacks examples into a batch: images [N, C, H, W], labels, masks [N, 1, H, W] when all
    /// have one, boxes when all have one.
    public func batch(_ indices: [Int]) throws -> (images: Tensor, labels: [Int], truth: GroundTruth) {
        try checkBatchMemory(count: indices.count)
        let ex = try indices.map(example)
        let images = Tensor.stack(ex.map(\.image))
        let allMasks = ex.compactMap(\.mask), allBoxes = ex.compactMap(\.box)
        let masks = !ex.isEmpty && allMasks.count == ex.count ? Tensor.stack(allMasks) : nil
        let boxes = !ex.isEmpty && allBoxes.count == ex.count ? allBoxes : nil
        return (images, ex.map(\.label), GroundTruth(masks: masks, boxes: boxes, labels: ex.map(\.label)))
    }
}

extension Dataset {
    /// Throws when `count` examples shaped like the first one (image and mask) do not fit the
    /// memory budget as one batch. Generates the first example only.
    public func checkBatchMemory(count n: Int) throws {
        guard n > 0, self.count > 0 else { return }
        let first = try example(0)
        let per = first.image.count + (first.mask?.count ?? 0)
        try MemoryBudget.check(shape: [n, per], "dataset \(name): \(n) image(s) of \(first.image.shape) as one batch")
    }
}

/// Makes a dataset from a name, a split and options (a dataset plugin).
public protocol DatasetProvider: Sendable {
    var name: String { get }
    var summary: String { get }
    var parameters: [ParamSpec] { get }
    func open(split: String, params: Params) throws -> any Dataset
}

/// Images already in memory as a dataset (labels cycle over `classes`): for fitting a
/// method on a batch at hand, benchmarks and tests.
public struct TensorDataset: Dataset {
    /// [N, C, H, W]
    public let images: Tensor
    public let classes: Int
    public init(images: Tensor, classes: Int = 2) { self.images = images; self.classes = Swift.max(classes, 1) }
    public var name: String { "tensors" }
    public var classNames: [String] { (0..<classes).map { "c\($0)" } }
    public var count: Int { images.shape[0] }
    public func example(_ index: Int) throws -> Example {
        guard index >= 0 && index < count else { throw PluginError.invalid("index \(index) is out of range (0..<\(count))") }
        return Example(image: images.select(axis: 0, index).reshaped(Array(images.shape.dropFirst())), label: index % classes)
    }
}
