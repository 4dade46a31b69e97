import Foundation

/// An IDX array (the MNIST / Fashion-MNIST file format) of unsigned bytes.
///
/// Format: a 4-byte magic `00 00 <type> <rank>` (type 0x08 = unsigned byte), then `rank`
/// big-endian UInt32 dimensions, then the values in row-major order. Only type 0x08 is
/// supported, which is what MNIST-family files use.
public struct IDXArray: Sendable {
    /// The dimensions from the header, e.g. [60000, 28, 28] for an image file.
    public let shape: [Int]
    /// The values, row-major, exactly `shape.reduce(1, *)` of them.
    public let bytes: [UInt8]
    /// Where the array was read from (for error messages of the helpers below).
    public let path: String

    public init(shape: [Int], bytes: [UInt8], path: String = "<memory>") {
        self.shape = shape
        self.bytes = bytes
        self.path = path
    }
}

/// Reads an IDX file, plain or gzip-compressed (detected from the content, not the name).
/// Throws `IOError` naming the file for a missing/unreadable file, corrupt or truncated
/// gzip data, a bad magic number, an unsupported element type, or dimensions that do not
/// match the data length.
public func readIDX(path: String) throws -> IDXArray {
    let raw = try readFileBytes(path)
    let bytes = isGzip(raw) ? try gunzip(raw, path: path) : raw
    return try parseIDX(bytes, path: path)
}

/// Parses the (already decompressed) bytes of an IDX file. `path` is used in error messages.
public func parseIDX(_ data: [UInt8], path: String) throws -> IDXArray {
    func fail(_ message: String) -> IOError { IOError(path: path, message: message) }
    guard data.count >= 4 else {
        throw fail("too short for an IDX header (\(data.count) bytes, need at least 4)")
    }
    guard data[0] == 0, data[1] == 0 else {
        let magic = data[0..<4].map { String(format: "%02x", $0) }.joined()
        throw fail("not an IDX file: magic 0x\(magic) does not start with 0x0000")
    }
    guard data[2] == 0x08 else {
        throw fail(String(format: "unsupported IDX element type 0x%02x (only 0x08, unsigned byte, is supported)", data[2]))
    }
    let rank = Int(data[3])
    guard rank >= 1 else { throw fail("IDX header declares 0 dimensions") }
    let headerSize = 4 + 4 * rank
    guard data.count >= headerSize else {
        throw fail("truncated IDX header: \(rank) dimensions need \(headerSize) bytes, file has \(data.count)")
    }
    var shape: [Int] = []
    var total = 1
    for d in 0..<rank {
        let o = 4 + 4 * d
        let n = Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3])
        shape.append(n)
        let (p, overflow) = total.multipliedReportingOverflow(by: n)
        guard !overflow else { throw fail("IDX dimensions \(shape) overflow") }
        total = p
    }
    let available = data.count - headerSize
    if available < total {
        throw fail("truncated IDX data: shape \(shape) needs \(total) bytes after the header, file has \(available)")
    }
    if available > total {
        throw fail("IDX data longer than its shape \(shape): \(available - total) unexpected trailing bytes")
    }
    return IDXArray(shape: shape, bytes: Array(data[headerSize...]), path: path)
}

/// Images from an IDX array of shape [N, H, W] (Fashion-MNIST: [N, 28, 28]) as a tensor
/// [N, 1, H, W] with pixel values scaled to [0, 1]. `limit` keeps only the first images.
public func fashionMNISTImages(_ arr: IDXArray, limit: Int? = nil) throws -> Tensor {
    guard arr.shape.count == 3 else {
        throw IOError(path: arr.path, message: "expected images of shape [N, height, width], IDX shape is \(arr.shape)")
    }
    let n = Swift.min(limit ?? arr.shape[0], arr.shape[0])
    let (h, w) = (arr.shape[1], arr.shape[2])
    try MemoryBudget.check(shape: [n, 1, h, w], "images of \(arr.path) as floats (\(n) of \(h)x\(w))")
    return Tensor(shape: [n, 1, h, w]) { out in
        arr.bytes.withUnsafeBufferPointer { src in
            for i in 0..<out.count { out[i] = Float(src[i]) * (1 / 255) }
        }
    }
}

/// Class labels from an IDX array of shape [N] (Fashion-MNIST: values 0...9).
/// `limit` keeps only the first labels.
public func fashionMNISTLabels(_ arr: IDXArray, limit: Int? = nil, classes: Int = 10) throws -> [Int] {
    guard arr.shape.count == 1 else {
        throw IOError(path: arr.path, message: "expected labels of shape [N], IDX shape is \(arr.shape)")
    }
    let n = Swift.min(limit ?? arr.shape[0], arr.shape[0])
    let labels = arr.bytes[0..<n].map(Int.init)
    if let bad = labels.firstIndex(where: { $0 >= classes }) {
        throw IOError(path: arr.path, message: "label \(labels[bad]) at index \(bad) is outside 0..<\(classes)")
    }
    return labels
}

/// The Fashion-MNIST training or test split: images [N, 1, 28, 28] in [0, 1] and labels.
/// Reads `<directory>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`; `limit` keeps the
/// first images only. Throws `IOError` if the files are missing, corrupt or disagree on N.
public func loadFashionMNIST(train: Bool, directory: String = "/usr/share/datasets/fashion-mnist",
                             limit: Int? = nil) throws -> (images: Tensor, labels: [Int]) {
    let prefix = directory + "/" + (train ? "train" : "t10k")
    let imageFile = try readIDX(path: prefix + "-images-idx3-ubyte.gz")
    let labelFile = try readIDX(path: prefix + "-labels-idx1-ubyte.gz")
    guard imageFile.shape.first == labelFile.shape.first else {
        throw IOError(path: labelFile.path,
                      message: "\(labelFile.shape.first ?? 0) labels for \(imageFile.shape.first ?? 0) images in \(imageFile.path)")
    }
    return (try fashionMNISTImages(imageFile, limit: limit), try fashionMNISTLabels(labelFile, limit: limit))
}
