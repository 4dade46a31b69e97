/// A 128-bit content digest for cache keys (fitted explainers, resumable runs): two
/// independent 64-bit lanes, each a multiply-xorshift mix of 8-byte words. Not
/// cryptographic: it guards against stale caches, not against an adversary. Streaming, so a
/// key can cover a model's weights, a dataset sample and a parameter string without
/// concatenating them; word-at-a-time over raw bytes, so hashing ResNet-18's 45 MB of
/// weights takes tens of milliseconds.
public struct Digest: Sendable {
    private var a: UInt64 = 0x243F_6A88_85A3_08D3
    private var b: UInt64 = 0x1319_8A2E_0370_7344
    private var length: UInt64 = 0

    public init() {}

    @inline(__always) private static func mix(_ h: UInt64, _ w: UInt64, _ k: UInt64) -> UInt64 {
        var x = (h ^ w) &* k
        x ^= x >> 29
        x = x &* 0xBF58_476D_1CE4_E5B9
        return x ^ (x >> 32)
    }

    public mutating func update(bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        var i = 0
        while i + 8 <= n {
            let w = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            a = Self.mix(a, w, 0x9E37_79B9_7F4A_7C15)
            b = Self.mix(b, w &+ 0x632B_E59B_D9B4_E019, 0xD6E8_FEB8_6659_FD93)
            i += 8
        }
        if i < n {
            var w: UInt64 = 0
            for j in i..<n { w |= UInt64(bytes[j]) << (8 * UInt64(j - i)) }
            a = Self.mix(a, w, 0x9E37_79B9_7F4A_7C15)
            b = Self.mix(b, w &+ 0x632B_E59B_D9B4_E019, 0xD6E8_FEB8_6659_FD93)
        }
        length &+= UInt64(n)
        // Separates consecutive updates, so ("ab", "c") and ("a", "bc") differ.
        a = Self.mix(a, UInt64(n), 0xFF51_AFD7_ED55_8CCD)
        b = Self.mix(b, UInt64(n), 0xC4CE_B9FE_1A85_EC53)
    }

    public mutating func update(_ s: String) {
        var s = s
        s.withUTF8 { update(bytes: UnsafeRawBufferPointer($0)) }
    }

    public mutating func update(_ t: Tensor) {
        update(t.shape.map(String.init).joined(separator: "x"))
        t.withUnsafeBufferPointer { update(bytes: UnsafeRawBufferPointer($0)) }
    }

    public mutating func update(_ v: Int) {
        withUnsafeBytes(of: Int64(v).littleEndian) { update(bytes: $0) }
    }

    /// 32 lowercase hex digits.
    public var hex: String {
        let fa = Self.mix(a, length, 0x94D0_49BB_1331_11EB), fb = Self.mix(b, length, 0x2545_F491_4F6C_DD1D)
        func h(_ x: UInt64) -> String { let s = String(x, radix: 16); return String(repeating: "0", count: 16 - s.count) + s }
        return h(fa) + h(fb)
    }
}

extension Graph {
    /// A digest of everything that determines the model's function: nodes (type, inputs,
    /// outputs, attributes), declared inputs and outputs, and every weight's bytes. Two
    /// models with equal digests compute the same outputs; names of the file or graph do not
    /// count.
    public var contentDigest: String {
        var d = Digest()
        for i in inputs { d.update(i.name); d.update(i.shape.map(String.init).joined(separator: ",")) }
        for o in outputs { d.update(o) }
        for n in nodes {
            d.update(n.opType); d.update(n.domain)
            d.update(n.inputs.joined(separator: ",")); d.update(n.outputs.joined(separator: ","))
            for k in n.attributes.keys.sorted() {
                d.update(k)
                switch n.attributes[k]! {
                case let .tensor(t): d.update(t)
                case let other: d.update(String(describing: other))
                }
            }
        }
        for name in parameters.keys.sorted() { d.update(name); d.update(parameters[name]!.value) }
        return d.hex
    }
}
