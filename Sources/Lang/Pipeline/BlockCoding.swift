import Plugins
import Runtime

/// The resume cache's two byte formats: block files (results stored losslessly) and block
/// keys (a SHA-256 over everything a result depends on).
///
/// Block files are binary, not JSON: maps are float32 and must come back bit for bit, and
/// scalars/curves/seconds are doubles that may be NaN or infinite (JSON has neither), so
/// every number is stored as its bit pattern. Layout:
///
///     "SALBLOCK1\n" | kind (1 byte, "M" maps / "S" scores) | key | payload | SHA-256 of all before
///
/// Integers are little-endian; floats are the host's IEEE-754 bytes (every platform Swift
/// runs this package on is little-endian). The trailing checksum makes a damaged or truncated
/// file detectable, so it is recomputed instead of trusted; the key inside guards against a
/// file renamed or copied to another block's name.
struct BlockWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func raw(_ v: [UInt8]) { bytes += v }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func int(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }
    mutating func double(_ v: Double) { u64(v.bitPattern) }
    mutating func string(_ s: String) { let u = Array(s.utf8); int(u.count); bytes += u }
    mutating func doubles(_ v: [Double]) { int(v.count); for d in v { double(d) } }
    mutating func tensor(_ t: Tensor) {
        int(t.shape.count)
        for d in t.shape { int(d) }
        t.withUnsafeBufferPointer { bytes.append(contentsOf: UnsafeRawBufferPointer($0)) }
    }

    mutating func param(_ p: ParamValue) {
        switch p {
        case let .int(v): u8(0); int(v)
        case let .float(v): u8(1); double(v)
        case let .string(v): u8(2); string(v)
        case let .bool(v): u8(3); u8(v ? 1 : 0)
        case let .list(v): u8(4); int(v.count); for x in v { param(x) }
        case let .tensor(t): u8(5); tensor(t)
        }
    }

    mutating func params(_ p: Params) {
        int(p.values.count)
        for (k, v) in p.values.sorted(by: { $0.key < $1.key }) { string(k); param(v) }
    }

    /// Magic, kind and key, then `payload`, then the checksum.
    static func block(kind: UInt8, key: String, payload: (inout BlockWriter) -> Void) -> [UInt8] {
        var w = BlockWriter()
        w.raw(Array(blockMagic.utf8))
        w.u8(kind)
        w.string(key)
        payload(&w)
        var h = SHA256()
        h.update(w.bytes)
        w.raw(h.finalize())
        return w.bytes
    }

    mutating func saliency(_ s: SaliencyMap) {
        tensor(s.map)
        if let a = s.attribution { u8(1); tensor(a) } else { u8(0) }
        string(s.method)
        params(s.params)
        int(s.targets.count)
        for t in s.targets { int(t) }
        if let names = s.targetNames { u8(1); int(names.count); for n in names { string(n) } } else { u8(0) }
        double(s.seconds)
        int(s.scalars.count)
        for (k, v) in s.scalars.sorted(by: { $0.key < $1.key }) { string(k); doubles(v) }
        int(s.curves.count)
        for (k, v) in s.curves.sorted(by: { $0.key < $1.key }) { string(k); int(v.count); for c in v { doubles(c) } }
    }

    mutating func metricResult(_ r: MetricResult) {
        doubles(r.values)
        if let curves = r.curves {
            u8(1)
            int(curves.count)
            for c in curves { int(c.count); for p in c { double(p.x); double(p.y) } }
        } else { u8(0) }
        int(r.extras.count)
        for (k, v) in r.extras.sorted(by: { $0.key < $1.key }) { string(k); doubles(v) }
    }
}

let blockMagic = "SALBLOCK1\n"

/// Why a stored block cannot be used (reported as a warning; the block is recomputed).
struct BlockError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Reads what `BlockWriter` wrote, checking every length against the bytes left, so a
/// damaged file fails with a message instead of trapping.
struct BlockReader {
    let bytes: [UInt8]
    var offset = 0
    /// Where the payload ends (the checksum follows).
    let end: Int

    /// Checks magic, checksum, kind and key; leaves the reader at the payload.
    init(block bytes: [UInt8], kind: UInt8, key: String) throws {
        let magic = Array(blockMagic.utf8)
        guard bytes.count >= magic.count + 1 + 8 + 32 else { throw BlockError(message: "truncated (\(bytes.count) bytes)") }
        guard Array(bytes[0..<magic.count]) == magic else { throw BlockError(message: "not a resume block (bad magic)") }
        self.bytes = bytes
        end = bytes.count - 32
        var h = SHA256()
        bytes.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[0..<end])) }
        guard h.finalize() == Array(bytes[end...]) else { throw BlockError(message: "checksum mismatch (damaged or truncated)") }
        offset = magic.count
        guard try u8() == kind else { throw BlockError(message: "holds another kind of block") }
        guard try string() == key else { throw BlockError(message: "holds another block's key") }
    }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= end - offset else { throw BlockError(message: "truncated payload") }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }
    mutating func u8() throws -> UInt8 {
        guard let b = try take(1).first else { throw BlockError(message: "truncated payload") }
        return b
    }
    mutating func u64() throws -> UInt64 {
        let s = try take(8)
        var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << (UInt64(i) * 8) }
        return v
    }
    mutating func int() throws -> Int { Int(Int64(bitPattern: try u64())) }
    /// A count, bounded by the bytes left (each counted item takes at least `minBytes`).
    mutating func count(minBytes: Int = 1) throws -> Int {
        let n = try int()
        guard n >= 0, n <= (end - offset) / max(minBytes, 1) else { throw BlockError(message: "implausible count \(n)") }
        return n
    }
    mutating func double() throws -> Double { Double(bitPattern: try u64()) }
    mutating func string() throws -> String { String(decoding: try take(try count()), as: UTF8.self) }
    mutating func doubles() throws -> [Double] { try (0..<count(minBytes: 8)).map { _ in try double() } }
    mutating func tensor() throws -> Tensor {
        let rank = try count(minBytes: 8)
        let shape = try (0..<rank).map { _ in try int() }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw BlockError(message: "negative dimension in \(shape)") }
        let (n, overflow) = shape.reduce((1, false)) { acc, d in
            let (m, o) = acc.0.multipliedReportingOverflow(by: d)
            return (m, acc.1 || o)
        }
        guard !overflow, n <= (end - offset) / 4 else { throw BlockError(message: "tensor \(shape) is larger than the block") }
        let raw = try take(n * 4)
        return Tensor(shape: shape) { out in
            raw.withUnsafeBytes { src in UnsafeMutableRawBufferPointer(out).copyMemory(from: src) }
        }
    }
    mutating func param() throws -> ParamValue {
        switch try u8() {
        case 0: return .int(try int())
        case 1: return .float(try double())
        case 2: return .string(try string())
        case 3: return .bool(try u8() != 0)
        case 4: return .list(try (0..<count()).map { _ in try param() })
        case 5: return .tensor(try tensor())
        case let t: throw BlockError(message: "unknown parameter tag \(t)")
        }
    }
    mutating func params() throws -> Params {
        var v: [String: ParamValue] = [:]
        for _ in 0..<(try count()) { let k = try string(); v[k] = try param() }
        return Params(v)
    }

    mutating func saliency() throws -> SaliencyMap {
        let map = try tensor()
        let attribution = try u8() == 1 ? try tensor() : nil
        let method = try string()
        let params = try params()
        let targets = try (0..<count(minBytes: 8)).map { _ in try int() }
        let names = try u8() == 1 ? try (0..<count()).map { _ in try string() } : nil
        let seconds = try double()
        var scalars: [String: [Double]] = [:], curves: [String: [[Double]]] = [:]
        for _ in 0..<(try count()) { let k = try string(); scalars[k] = try doubles() }
        for _ in 0..<(try count()) { let k = try string(); curves[k] = try (0..<count(minBytes: 8)).map { _ in try doubles() } }
        return SaliencyMap(map: map, attribution: attribution, method: method, params: params, targets: targets, targetNames: names,
                           seconds: seconds, scalars: scalars, curves: curves)
    }

    mutating func metricResult() throws -> MetricResult {
        let values = try doubles()
        var curves: [[(x: Double, y: Double)]]? = nil
        if try u8() == 1 {
            curves = try (0..<count(minBytes: 8)).map { _ in try (0..<count(minBytes: 16)).map { _ in (x: try double(), y: try double()) } }
        }
        var extras: [String: [Double]] = [:]
        for _ in 0..<(try count()) { let k = try string(); extras[k] = try doubles() }
        return MetricResult(values: values, curves: curves, extras: extras)
    }

    /// A block must be read to its last payload byte; leftovers mean a format mismatch.
    func finish() throws { guard offset == end else { throw BlockError(message: "\(end - offset) unexpected trailing bytes") } }
}

/// Builds a block key: every field is tagged and length-prefixed before it is hashed, so
/// different field sequences cannot produce the same byte stream.
struct KeyHasher {
    private var w = BlockWriter()
    private var sha = SHA256()

    init(_ kind: String) { field("kind", kind); field("version", saliencyVersion) }

    private mutating func flush() { sha.update(w.bytes); w = BlockWriter() }

    mutating func field(_ name: String, _ value: String) { w.string(name); w.string(value); flush() }
    mutating func field(_ name: String, _ value: Int) { w.string(name); w.int(value); flush() }
    mutating func field(_ name: String, _ value: UInt64) { w.string(name); w.u64(value); flush() }
    mutating func field(_ name: String, digest: [UInt8]) { w.string(name); w.int(digest.count); w.raw(digest); flush() }
    mutating func field(_ name: String, _ params: Params) { w.string(name); w.params(params); flush() }
    mutating func field(_ name: String, floats t: Tensor) {
        w.string(name); w.int(t.shape.count); for d in t.shape { w.int(d) }
        flush()
        t.withUnsafeBufferPointer { sha.update(UnsafeRawBufferPointer($0)) }
    }

    mutating func finalize() -> [UInt8] { flush(); return sha.finalize() }
}
