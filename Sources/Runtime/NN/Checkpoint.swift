import Foundation

// Parameter checkpoints.
//
// File format (all integers little-endian), version 1:
//
//     magic    8 bytes   "SALPARAM"
//     version  UInt32    1
//     count    UInt32    number of tensors
//     count times:
//         nameLength  UInt32, then the name in UTF-8 (a dotted path such as "0.weight")
//         rank        UInt32, then rank x UInt64 dimensions
//         data        product(dimensions) x Float32 (IEEE 754, little-endian), row-major
//
// A model's checkpoint holds its `namedParameters` followed by its `namedBuffers` (e.g.
// BatchNorm running statistics), under the same dotted names PyTorch's state_dict uses.

private let checkpointMagic: [UInt8] = Array("SALPARAM".utf8)
private let checkpointVersion: UInt32 = 1

/// Writes named tensors in the checkpoint format, atomically: the data goes to a temporary
/// file in the same directory which is then renamed over `url`, so a crash never leaves a
/// half-written checkpoint.
public func saveTensors(_ tensors: [(String, Tensor)], to url: URL) throws {
    var out: [UInt8] = checkpointMagic
    func put32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    func put64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    put32(checkpointVersion)
    put32(UInt32(tensors.count))
    for (name, t) in tensors {
        let utf8 = Array(name.utf8)
        put32(UInt32(utf8.count))
        out.append(contentsOf: utf8)
        put32(UInt32(t.rank))
        for d in t.shape { put64(UInt64(d)) }
        t.withUnsafeBufferPointer { values in
            if 1.littleEndian == 1 {
                out.append(contentsOf: UnsafeRawBufferPointer(values))
            } else {
                for v in values { put32(v.bitPattern) }
            }
        }
    }

    let path = url.path
    let dir = url.deletingLastPathComponent()
    let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    do {
        try Data(out).write(to: tmp)
    } catch {
        throw IOError(path: path, message: "cannot write checkpoint (\(error.localizedDescription))")
    }
    if rename(tmp.path, path) != 0 {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(at: tmp)
        throw IOError(path: path, message: "cannot move checkpoint into place (\(reason))")
    }
}

/// Reads every named tensor of a checkpoint file, in file order. Throws `IOError` naming
/// the file for a missing file, a wrong magic or version, or truncated/inconsistent data.
public func loadTensors(from url: URL) throws -> [(String, Tensor)] {
    let path = url.path
    let bytes: [UInt8]
    do {
        bytes = [UInt8](try Data(contentsOf: url))
    } catch {
        throw IOError(path: path, message: "cannot read checkpoint (\(error.localizedDescription))")
    }
    var pos = 0
    func fail(_ message: String) -> IOError { IOError(path: path, message: message) }
    func take(_ n: Int, _ what: String) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - pos else {
            throw fail("truncated checkpoint: \(what) needs \(n) bytes at offset \(pos), file has \(bytes.count)")
        }
        defer { pos += n }
        return bytes[pos..<(pos + n)]
    }
    func get32(_ what: String) throws -> UInt32 {
        try take(4, what).reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }
    func get64(_ what: String) throws -> UInt64 {
        try take(8, what).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    guard Array(try take(8, "magic")) == checkpointMagic else {
        throw fail("not a parameter checkpoint (magic is not \"SALPARAM\")")
    }
    let version = try get32("version")
    guard version == checkpointVersion else {
        throw fail("unsupported checkpoint version \(version) (this build reads version \(checkpointVersion))")
    }
    let count = Int(try get32("tensor count"))
    var result: [(String, Tensor)] = []
    for index in 0..<count {
        let nameLength = Int(try get32("name length of tensor \(index)"))
        guard let name = String(validating: try take(nameLength, "name of tensor \(index)"), as: UTF8.self) else {
            throw fail("name of tensor \(index) is not valid UTF-8")
        }
        let rank = Int(try get32("rank of '\(name)'"))
        guard rank <= 16 else { throw fail("tensor '\(name)' has implausible rank \(rank)") }
        var shape: [Int] = []
        var n = 1
        for _ in 0..<rank {
            let d = try get64("shape of '\(name)'")
            guard d <= UInt64(Int32.max) else { throw fail("tensor '\(name)' has implausible dimension \(d)") }
            shape.append(Int(d))
            let (p, overflow) = n.multipliedReportingOverflow(by: Int(d))
            guard !overflow, p <= bytes.count else {
                throw fail("tensor '\(name)' shape \(shape) is larger than the file")
            }
            n = p
        }
        let (byteCount, overflow) = n.multipliedReportingOverflow(by: 4)
        guard !overflow else { throw fail("tensor '\(name)' shape \(shape) is larger than the file") }
        let raw = try take(byteCount, "data of '\(name)' \(shape)")
        let t = Tensor(shape: shape) { dst in
            raw.withUnsafeBytes { src in
                for i in 0..<n {
                    dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            }
        }
        result.append((name, t))
    }
    guard pos == bytes.count else {
        throw fail("\(bytes.count - pos) unexpected bytes after the last tensor")
    }
    return result
}

/// Saves every parameter and buffer of `layer` (see the format above), atomically.
public func saveParameters(_ layer: any Layer, to url: URL) throws {
    try saveTensors(layer.namedParameters.map { ($0.0, $0.1.value) } + layer.namedBuffers.map { ($0.0, $0.1.value) },
                    to: url)
}

/// Loads parameters and buffers saved by `saveParameters` into `layer`, in place (trainable
/// parameters stay the same autograd leaves, so existing optimizers keep working).
///
/// The file must hold exactly the layer's names with the layer's shapes; otherwise an
/// `IOError` naming the file and every missing, unexpected or mis-shaped tensor is thrown
/// and nothing is changed.
public func loadParameters(into layer: any Layer, from url: URL) throws {
    let entries = try loadTensors(from: url)
    var fromFile: [String: Tensor] = [:]
    for (name, t) in entries {
        guard fromFile.updateValue(t, forKey: name) == nil else {
            throw IOError(path: url.path, message: "tensor '\(name)' appears twice")
        }
    }
    var targets: [(String, [Int], (Tensor) -> Void)] = []
    for (name, p) in layer.namedParameters { targets.append((name, p.shape, { p.assign($0) })) }
    for (name, b) in layer.namedBuffers { targets.append((name, b.value.shape, { b.value = $0 })) }

    var problems: [String] = []
    let modelNames = Set(targets.map { $0.0 })
    for (name, shape, _) in targets {
        guard let t = fromFile[name] else { problems.append("missing '\(name)' \(shape)"); continue }
        if t.shape != shape { problems.append("'\(name)' has shape \(t.shape) in the file, \(shape) in the model") }
    }
    for (name, t) in entries where !modelNames.contains(name) {
        problems.append("unexpected '\(name)' \(t.shape)")
    }
    guard problems.isEmpty else {
        throw IOError(path: url.path, message: "checkpoint does not match the model: " + problems.joined(separator: "; "))
    }
    // unreachable from input: the loop above added a problem for every target missing from the file
    for (name, _, set) in targets { set(fromFile[name]!) }
}
