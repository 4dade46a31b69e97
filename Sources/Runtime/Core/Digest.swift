/// A content digest for cache keys (fitted explainers, resumable pipeline blocks): SHA-256
/// over length-prefixed fields, so ("ab", "c") and ("a", "bc") differ. Streaming, so a key
/// can cover a model's weights, a dataset sample and parameters without concatenating them;
/// tensors are hashed in place from their buffers.
public struct Digest: Sendable {
    private var sha = SHA256()

    public init() {}

    public mutating func update(bytes: UnsafeRawBufferPointer) {
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { sha.update($0) }
        sha.update(bytes)
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

    /// 64 lowercase hex digits.
    public var hex: String {
        var copy = sha
        return SHA256.hex(copy.finalize())
    }
}

extension Graph {
    /// A digest of everything `forward` reads: opset, declared inputs and outputs, nodes
    /// (names, types, inputs, outputs, attributes bit for bit), every weight's bytes, which
    /// values are integers, labels (they resolve class-name targets) and metadata. The
    /// graph's own name and the file it came from do not count: the same weights under
    /// another file name give the same digest.
    public var contentDigest: String {
        var d = Digest()
        d.update("opset"); d.update(opset)
        for i in inputs { d.update(i.name); d.update(i.shape.map(String.init).joined(separator: ",")) }
        d.update(outputs.joined(separator: "\u{0}"))
        for n in nodes {
            d.update(n.name); d.update(n.opType); d.update(n.domain)
            d.update(n.inputs.joined(separator: "\u{0}")); d.update(n.outputs.joined(separator: "\u{0}"))
            for (k, value) in n.attributes.sorted(by: { $0.key < $1.key }) {
                d.update(k)
                switch value {
                case let .int(v): d.update("int"); d.update(v)
                case let .float(v): d.update("float"); d.update(Int(v.bitPattern))
                case let .string(v): d.update("string"); d.update(v)
                case let .ints(v): d.update("ints"); d.update(v.map(String.init).joined(separator: ","))
                case let .floats(v): d.update("floats"); d.update(v.map { String($0.bitPattern) }.joined(separator: ","))
                case let .strings(v): d.update("strings"); d.update(v.joined(separator: "\u{0}"))
                case let .tensor(t): d.update("tensor"); d.update(t)
                }
            }
        }
        for (name, p) in parameters.sorted(by: { $0.key < $1.key }) { d.update(name); d.update(p.value) }
        d.update(integerValues.sorted().joined(separator: "\u{0}"))
        d.update(labels?.joined(separator: "\u{0}") ?? "\u{1}no labels")
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { d.update(k); d.update(v) }
        return d.hex
    }
}
