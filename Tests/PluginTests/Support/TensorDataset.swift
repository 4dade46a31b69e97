import Plugins
import Runtime

/// Images held in memory as a dataset (labels cycle over `classes`).
struct TensorDataset: Dataset {
    let images: Tensor
    var classes = 2
    var name: String { "tensors" }
    var classNames: [String] { (0..<classes).map { "c\($0)" } }
    var count: Int { images.shape[0] }
    func example(_ index: Int) throws -> Example {
        guard index >= 0 && index < count else { throw PluginError.invalid("index \(index) out of range") }
        return Example(image: images.select(axis: 0, index).reshaped(Array(images.shape.dropFirst())), label: index % classes)
    }
}
