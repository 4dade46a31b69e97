import Runtime

/// A training set held in memory: every image stacked in one buffer, with its label.
/// Synthetic datasets render on demand and would otherwise be re-rendered every epoch; the
/// loop also needs random access to assemble shuffled batches cheaply.
public struct TrainingData: Sendable {
    public let name: String
    /// All images, [count * sample] values, row-major.
    public let images: Tensor
    public let labels: [Int]
    /// Shape of one image ([C, H, W]).
    public let sampleShape: [Int]
    public var count: Int { labels.count }

    /// Materialises a dataset: every example must have example 0's shape, and a label in
    /// 0..<classes when the dataset names its classes.
    public init(_ ds: any Dataset, cancellation: CancellationToken = .never) throws {
        guard ds.count > 0 else { throw PluginError.invalid("training: the dataset '\(ds.name)' is empty") }
        let first = try ds.example(0)
        let sampleShape = first.image.shape, sample = first.image.count, n = ds.count
        var labels = [Int](repeating: 0, count: n)
        let classes = ds.classNames.count
        var failure: Error?
        let images = Tensor(shape: [n * sample]) { dst in
            do {
                for i in 0..<n {
                    if i % 256 == 0 { try cancellation.check() }
                    let ex = i == 0 ? first : try ds.example(i)
                    guard ex.image.shape == sampleShape else {
                        throw PluginError.invalid("training: example \(i) of '\(ds.name)' has shape \(ex.image.shape), example 0 has \(sampleShape)")
                    }
                    guard ex.label >= 0 && (classes == 0 || ex.label < classes) else {
                        throw PluginError.invalid("training: example \(i) of '\(ds.name)' has label \(ex.label) outside 0..<\(classes)")
                    }
                    labels[i] = ex.label
                    ex.image.withUnsafeBufferPointer { src in
                        for j in 0..<sample { dst[i * sample + j] = src[j] }
                    }
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
        self.name = ds.name
        self.images = images
        self.labels = labels
        self.sampleShape = sampleShape
    }

    /// Data already in memory: `images` [N, ...] with N labels (all 0 when not given).
    public init(name: String, images: Tensor, labels: [Int]? = nil) throws {
        guard images.rank >= 1, images.shape[0] > 0 else { throw PluginError.invalid("training: '\(name)' holds no images (shape \(images.shape))") }
        let n = images.shape[0]
        if let labels, labels.count != n { throw PluginError.invalid("training: '\(name)' has \(n) images and \(labels.count) labels") }
        self.name = name
        self.images = images.detached().reshaped([images.count])
        self.labels = labels ?? [Int](repeating: 0, count: n)
        self.sampleShape = Array(images.shape.dropFirst())
    }

    /// The images at `indices`, stacked as [indices.count] + sampleShape.
    public func batch(_ indices: [Int]) -> Tensor {
        let sample = sampleShape.reduce(1, *)
        return Tensor(shape: [indices.count] + sampleShape) { dst in
            images.withUnsafeBufferPointer { src in
                for (row, i) in indices.enumerated() {
                    for j in 0..<sample { dst[row * sample + j] = src[i * sample + j] }
                }
            }
        }
    }

    /// What identifies the data in a checkpoint: name, size, shape, every label and 16 evenly
    /// spaced images (hashing all images of a large set would cost more than it protects).
    var identity: String {
        var d = Digest()
        d.update(name); d.update(count); d.update(sampleShape.map(String.init).joined(separator: "x"))
        for l in labels { d.update(l) }
        let picks = Array(Set((0..<Swift.min(count, 16)).map { count <= 16 ? $0 : $0 * (count - 1) / 15 })).sorted()
        d.update(batch(picks))
        return "\(name), \(count) examples of \(sampleShape) #\(d.hex.prefix(12))"
    }
}
