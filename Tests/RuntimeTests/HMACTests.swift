import Testing
@testable import Runtime

/// HMAC-SHA256 against the test vectors of RFC 4231 section 4 (cases 1-7).
struct HMACTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    static let cases: [(key: [UInt8], data: [UInt8], mac: String)] = [
        ([UInt8](repeating: 0x0b, count: 20), bytes("Hi There"),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (bytes("Jefe"), bytes("what do ya want for nothing?"),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        ([UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        (Array(1...25), [UInt8](repeating: 0xcd, count: 50),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        // Case 5 publishes only the first 128 bits (truncated output).
        ([UInt8](repeating: 0x0c, count: 20), bytes("Test With Truncation"),
         "a3b6167473100ee06e0c796c2955552b"),
        // Cases 6 and 7: a key longer than the 64-byte block is hashed first.
        ([UInt8](repeating: 0xaa, count: 131), bytes("Test Using Larger Than Block-Size Key - Hash Key First"),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        ([UInt8](repeating: 0xaa, count: 131),
         bytes("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ]

    @Test(arguments: 0..<7) func rfc4231(_ i: Int) {
        let c = Self.cases[i]
        let hex = SHA256.hex(HMACSHA256.mac(key: c.key, message: c.data))
        #expect(hex.hasPrefix(c.mac))
        #expect(hex.count == 64)
    }

    @Test func incrementalEqualsOneShot() {
        // Jupyter signs four frames one after another: the same MAC as their concatenation.
        let frames = [Self.bytes("{\"msg_id\":\"1\"}"), Self.bytes("{}"), Self.bytes("{}"), Self.bytes("{\"code\":\"1 + 2\"}")]
        var mac = HMACSHA256(key: Self.bytes("secret"))
        for f in frames { mac.update(f) }
        #expect(mac.finalize() == HMACSHA256.mac(key: Self.bytes("secret"), message: frames.flatMap { $0 }))
    }

    @Test func constantTimeComparison() {
        #expect(HMACSHA256.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!HMACSHA256.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!HMACSHA256.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(HMACSHA256.constantTimeEqual([], []))
    }
}
