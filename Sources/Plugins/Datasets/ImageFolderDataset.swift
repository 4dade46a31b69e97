import Foundation
import Runtime

/// `folder`: any folder of PNG or JPEG images, with one subfolder per class (labels in sorted
/// subfolder order, see `listImageFolder`) or flat (no classes: every label is -1). Items
/// are named by their file names. Images are read on demand (a folder can be far
/// larger than memory); `size` resizes with bilinear interpolation (PyTorch numerics) so
/// images of mixed sizes batch together; `gray` picks 1 channel (luma) or 3 (gray files
/// replicated), again so a batch has one channel count.
public struct ImageFolderDataset: Dataset {
    public let path: String
    public let files: [(path: String, label: Int)]
    public let classNames: [String]
    public let size: Int?
    public let gray: Bool

    public init(path: String, size: Int? = nil, gray: Bool = false) throws {
        let listing: (files: [(path: String, label: Int)], classNames: [String])
        do { listing = try listImageFolder(path: path) } catch let e as IOError {
            throw PluginError.invalid("folder dataset: \(e)")
        }
        self.path = path; files = listing.files; classNames = listing.classNames; self.size = size; self.gray = gray
    }

    public var name: String { "folder:" + URL(fileURLWithPath: path).lastPathComponent }
    public var count: Int { files.count }

    public func label(_ index: Int) throws -> Int {
        try checkIndex(index, count: count, dataset: name)
        return files[index].label
    }

    /// The file's path below the folder: "cat/001.jpg", or "001.jpg" in a flat folder.
    public func itemName(_ index: Int) -> String? {
        guard index >= 0 && index < count else { return nil }
        let file = files[index].path
        let prefix = URL(fileURLWithPath: path).path + "/"
        return file.hasPrefix(prefix) ? String(file.dropFirst(prefix.count)) : (file as NSString).lastPathComponent
    }

    public func example(_ index: Int) throws -> Example {
        try checkIndex(index, count: count, dataset: name)
        let file = files[index]
        var image: Tensor
        do { image = try imageTensor(fromPNG: file.path, gray: gray) } catch let e as IOError {
            throw PluginError.invalid("folder dataset: \(e)")
        }
        if let size, image.shape[2] != size || image.shape[3] != size {
            image = Autograd.noGrad { image.upsampleBilinear(size: [size, size]) }
            // Bilinear weights are convex, but keep the documented [0, 1] range exact.
            image = Tensor(shape: image.shape) { out in
                image.withUnsafeBufferPointer { src in for i in 0..<out.count { out[i] = Swift.min(1, Swift.max(0, src[i])) } }
            }
        }
        return Example(image: image.reshaped(Array(image.shape.dropFirst())), label: file.label)
    }
}

public struct ImageFolderProvider: DatasetProvider {
    public init() {}
    public var name: String { "folder" }
    public var summary: String { "PNG/JPEG images in class subfolders (label = sorted subfolder index) or in one flat folder (no labels)" }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("path", .string, doc: "the folder holding one subfolder of .png/.jpg images per class, or the images themselves"),
            ParamSpec("size", .int, range: 1...4096, doc: "resize to size x size (bilinear); default: keep the file's size"),
            ParamSpec("gray", .bool, default: .bool(false), doc: "true: 1 channel (luma); false: 3 channels"),
        ]
    }
    /// The folder has no splits of its own: every split name opens the whole folder.
    public func open(split: String, params given: Params) throws -> any Dataset {
        let params = try Params.resolve(given.values, schema: parameters, plugin: name)
        guard let path = try params.string("path") else {
            throw PluginError.invalid("dataset 'folder' needs path: the folder of .png/.jpg images (one subfolder per class, or flat)")
        }
        return try ImageFolderDataset(path: path, size: params["size"] == nil ? nil : params.int("size"), gray: params.bool("gray"))
    }
}
