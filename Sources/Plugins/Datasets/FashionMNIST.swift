import Foundation
import Runtime

/// `fashion-mnist`: Zalando's Fashion-MNIST (28x28 gray, 10 classes, 60k train / 10k test)
/// from the IDX files scripts/bootstrap installs in /usr/share/datasets/fashion-mnist.
///
/// Each split is decoded once per process and directory and shared (the files are 30 MB
/// gzip-compressed, and every `open` would otherwise decode them again).
public struct FashionMNISTDataset: Dataset {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let labels = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    public let split: String
    /// [N, 1, 28, 28] in [0, 1].
    public let images: Tensor
    public let labels: [Int]

    public init(split: String = "train", directory: String = defaultDirectory, limit: Int? = nil) throws {
        try checkSplit(split, dataset: "fashion-mnist")
        let all = try FashionMNISTCache.shared.load(train: split == "train", directory: directory)
        self.split = split
        let n = Swift.min(limit ?? all.labels.count, all.labels.count)
        images = n == all.labels.count ? all.images : all.images.slice(axis: 0, 0..<n)
        labels = Array(all.labels[0..<n])
    }

    public var name: String { "fashion-mnist" }
    public var classNames: [String] { Self.labels }
    public var count: Int { labels.count }

    public func example(_ index: Int) throws -> Example {
        try checkIndex(index, count: count, dataset: name)
        let plane = images.shape[2] * images.shape[3]
        let image = images.withUnsafeBufferPointer { src in
            Tensor(shape: [1, images.shape[2], images.shape[3]]) { dst in
                for i in 0..<plane { dst[i] = src[index * plane + i] }
            }
        }
        return Example(image: image, label: labels[index])
    }
}

/// Decoded splits by (directory, split), loaded on first use.
final class FashionMNISTCache: @unchecked Sendable {
    static let shared = FashionMNISTCache()
    private let lock = NSLock()
    private var table: [String: (images: Tensor, labels: [Int])] = [:]

    func load(train: Bool, directory: String) throws -> (images: Tensor, labels: [Int]) {
        let key = directory + (train ? "#train" : "#test")
        lock.lock(); defer { lock.unlock() }
        if let hit = table[key] { return hit }
        let prefix = directory + "/" + (train ? "train" : "t10k")
        let missing = [prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz"]
            .filter { !FileManager.default.fileExists(atPath: $0) }
        if !missing.isEmpty {
            throw PluginError.invalid("fashion-mnist: missing \(missing.joined(separator: ", ")); "
                + "run scripts/bootstrap to download Fashion-MNIST into \(directory) (or pass path: to a folder with the four IDX files)")
        }
        let loaded: (images: Tensor, labels: [Int])
        do { loaded = try loadFashionMNIST(train: train, directory: directory) } catch let e as IOError {
            throw PluginError.invalid("fashion-mnist: \(e); run scripts/bootstrap to download the files again")
        }
        table[key] = loaded
        return loaded
    }
}

/// `fashion-mnist` provider.
public struct FashionMNISTProvider: DatasetProvider {
    public init() {}
    public var name: String { "fashion-mnist" }
    public var summary: String { "Fashion-MNIST: 28x28 gray clothing images, 10 classes (60k train, 10k test)" }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("limit", .int, range: 1...70_000, doc: "keep only the first N examples of the split"),
            ParamSpec("path", .string, default: .string(FashionMNISTDataset.defaultDirectory), doc: "folder with the four IDX .gz files"),
        ]
    }
    public func open(split: String, params given: Params) throws -> any Dataset {
        let params = try Params.resolve(given.values, schema: parameters, plugin: name)
        return try FashionMNISTDataset(split: split, directory: params.string("path") ?? FashionMNISTDataset.defaultDirectory,
                                       limit: params["limit"] == nil ? nil : params.int("limit"))
    }
}
