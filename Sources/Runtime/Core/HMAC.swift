/// HMAC-SHA256 (RFC 2104 over FIPS 180-4), for signing Jupyter messages with the
/// connection file's key. Incremental like `SHA256`: a message is signed over several
/// frames without concatenating them first.
public struct HMACSHA256: Sendable {
    private var inner = SHA256()
    private var outerKey: [UInt8]

    public init(key: [UInt8]) {
        // Keys longer than the 64-byte block are hashed first; shorter ones are zero-padded.
        var block: [UInt8]
        if key.count > 64 {
            var h = SHA256()
            h.update(key)
            block = h.finalize()
        } else {
            block = key
        }
        block += [UInt8](repeating: 0, count: 64 - block.count)
        outerKey = block.map { $0 ^ 0x5c }
        inner.update(block.map { $0 ^ 0x36 })
    }

    public mutating func update(_ bytes: [UInt8]) { inner.update(bytes) }
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { inner.update(bytes) }

    public mutating func finalize() -> [UInt8] {
        var outer = SHA256()
        outer.update(outerKey)
        outer.update(inner.finalize())
        return outer.finalize()
    }

    /// The MAC of one message in one call.
    public static func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var h = HMACSHA256(key: key)
        h.update(message)
        return h.finalize()
    }

    /// Compares two byte strings in time that depends only on their lengths, so a forger
    /// cannot learn a valid signature byte by byte from how fast it is rejected.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
