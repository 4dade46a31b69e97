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
// A graph's weight file holds every weight (batch-norm running statistics included) under
// its graph name, in name order; the training loop's checkpoints use the same format.

private let checkpointMagic: [UInt8] = Array("SALPARAM".utf8)
private let checkpointVersion: UInt32 = 1

/// Named tensors in the checkpoint format.
public func encodeTensors(_ tensors: [(String, Tensor)]) -> [UInt8] {
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
    return out
}

/// Writes named tensors in the checkpoint format, atomically (`writeFileAtomically`: a
/// crash or a kill never leaves a half-written file under `url`).
public func saveTensors(_ tensors: [(String, Tensor)], to url: URL) throws {
    try writeFileAtomically(encodeTensors(tensors), to: url.path)
}

/// Reads every named tensor of a checkpoint file, in file order. Throws `IOError` naming
/// the file for a missing file, a wrong magic or version, or truncated/inconsistent data.
public func loadTensors(from url: URL) throws -> [(String, Tensor)] {
    try decodeTensors(try readFileBytes(url.path), path: url.path)
}

/// The tensors of a checkpoint file's bytes (`loadTensors`); errors name `path`.
public func decodeTensors(_ bytes: [UInt8], path: String) throws -> [(String, Tensor)] {
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

extension Graph {
    /// Saves every weight (batch-norm running statistics included) in name order, atomically.
    public func saveWeights(to url: URL) throws {
        try saveTensors(parameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value.value) }, to: url)
    }

    /// Loads weights saved by `saveWeights`, in place (trainable weights stay the same
    /// autograd leaves, so existing optimizers keep working). The file must hold exactly
    /// the graph's weight names with the graph's shapes; otherwise an `IOError` naming the
    /// file and every missing, unexpected or mis-shaped tensor is thrown and nothing changes.
    public func loadWeights(from url: URL) throws {
        try assignWeights(try loadTensors(from: url), names: Array(parameters.keys), source: url.path)
    }

    /// Sets the weights `names` from `entries`, all or nothing (`checkWeights` first).
    public func assignWeights(_ entries: [(String, Tensor)], names: [String], source: String) throws {
        try checkWeights(entries, names: names, source: source)
        let given = Dictionary(entries, uniquingKeysWith: { a, _ in a })
        // unreachable from input: checkWeights threw unless every name is a weight of the graph and in `given`
        for name in names { parameters[name]!.assign(given[name]!) }
    }

    /// Throws unless `entries` hold exactly the weights `names` (once each) with the graph's
    /// shapes: an `IOError` about `source` that lists every missing, unexpected, repeated or
    /// mis-shaped tensor.
    public func checkWeights(_ entries: [(String, Tensor)], names: [String], source: String) throws {
        var given: [String: Tensor] = [:]
        var problems: [String] = []
        for (name, t) in entries where given.updateValue(t, forKey: name) != nil { problems.append("tensor '\(name)' appears twice") }
        let wanted = Set(names)
        for name in names.sorted() {
            guard let p = parameters[name] else { problems.append("the graph has no weight '\(name)'"); continue }
            guard let t = given[name] else { problems.append("missing '\(name)' \(p.shape)"); continue }
            if t.shape != p.shape { problems.append("'\(name)' has shape \(t.shape) in the file, \(p.shape) in the model") }
        }
        for (name, t) in entries where !wanted.contains(name) { problems.append("unexpected '\(name)' \(t.shape)") }
        guard problems.isEmpty else {
            throw IOError(path: source, message: "checkpoint does not match the model: " + problems.joined(separator: "; "))
        }
    }
}
