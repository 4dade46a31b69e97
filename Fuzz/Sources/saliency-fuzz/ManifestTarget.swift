import CSaliencyPlugin
import Foundation
@testable import Plugins

/// A compiled plugin's manifest: the `SalExplainer` descriptor (name, capabilities,
/// parameter specs with kinds, defaults and ranges) a library hands to `add_explainer`,
/// built from the fuzz bytes and checked by the host's `Registration` as a load would.
enum ManifestTarget {
    /// Reads the fuzz input front to back; runs out into zeros.
    struct Bytes {
        var rest: ArraySlice<UInt8>
        mutating func u8() -> UInt8 { rest.popFirst() ?? 0 }
        mutating func u32() -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(u8()) << (8 * $1) } }
        mutating func double() -> Double { Double(bitPattern: (0..<8).reduce(UInt64(0)) { $0 | UInt64(u8()) << (8 * $1) }) }
        /// A C string of up to `u8()` bytes (may hold invalid UTF-8), or NULL.
        mutating func string(_ keep: inout [UnsafeMutablePointer<CChar>]) -> UnsafePointer<CChar>? {
            let n = Int(u8())
            if n == 255 { return nil }
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: n + 1)
            for i in 0..<n { p[i] = CChar(bitPattern: u8()) }
            p[n] = 0
            keep.append(p)
            return UnsafePointer(p)
        }
    }

    nonisolated(unsafe) static let explain: @convention(c) (UnsafePointer<SalHostAPI>?, OpaquePointer?, UnsafeMutablePointer<SalExplainCall>?) -> Int32 = { _, _, _ in 0 }

    static func run(_ input: [UInt8]) {
        var b = Bytes(rest: input[...])
        var strings: [UnsafeMutablePointer<CChar>] = []
        defer { strings.forEach { $0.deallocate() } }
        let flags = b.u8()
        var d = SalExplainer()
        // Mostly the right ABI version, so the fuzzer gets past the first check.
        d.abi_version = flags & 1 == 0 ? UInt32(SAL_PLUGIN_ABI_VERSION) : b.u32()
        d.capabilities = b.u32() & (flags & 2 == 0 ? 0xF : 0xFFFF_FFFF)
        d.name = b.string(&strings)
        d.summary = b.string(&strings)
        d.reference = b.string(&strings)
        let count = Int(b.u8() % 72)
        let specs = UnsafeMutablePointer<SalParamSpec>.allocate(capacity: max(count, 1))
        defer { specs.deallocate() }
        for i in 0..<count {
            var s = SalParamSpec()
            s.name = b.string(&strings)
            s.kind = Int32(bitPattern: UInt32(b.u8() % 7))
            s.has_default = Int32(b.u8() & 1)
            s.default_number = b.double()
            s.default_string = b.string(&strings)
            s.has_range = Int32(b.u8() & 1)
            s.min = b.double()
            s.max = b.double()
            s.doc = b.string(&strings)
            specs[i] = s
        }
        d.params = count == 0 && flags & 4 == 0 ? nil : UnsafePointer(specs)
        // A count that disagrees with the array is the plugin's bug, not the host's (a C ABI
        // cannot check it), so only counts the array can back are given.
        d.param_count = Int32(count)
        d.explain = flags & 8 == 0 ? explain : nil
        let registration = Registration(library: "fuzz.so")
        withUnsafePointer(to: d) { _ = registration.add($0) }
    }
}
