import CZlib

/// Encodes named tensors as an .npz: numpy's zip of `NAME.npy` members (stored, not
/// deflated, which `np.load` reads like any other). Names keep their order; a name is used
/// as given, so it must be unique and a valid file name inside the archive.
public func encodeNPZ(_ arrays: [(name: String, tensor: Tensor)]) throws -> [UInt8] {
    var out: [UInt8] = [], central: [UInt8] = []
    func u16(_ v: Int, _ into: inout [UInt8]) { into += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    func u32(_ v: Int, _ into: inout [UInt8]) { for s in stride(from: 0, to: 32, by: 8) { into.append(UInt8(v >> s & 0xFF)) } }
    // The zip format without zip64 extensions counts in 32 and 16 bits.
    guard arrays.count < 0xFFFF else { throw IOError(path: "", message: "an .npz holds at most 65534 arrays, got \(arrays.count)") }
    for (name, tensor) in arrays {
        let data = encodeNPY(tensor), file = Array((name + ".npy").utf8)
        guard out.count + data.count < 0xFFFF_FFFF, file.count < 0xFFFF else {
            throw IOError(path: "", message: "array '\(name)' does not fit an .npz without zip64 (4 GB)")
        }
        let crc = data.withUnsafeBufferPointer { Int(crc32(0, $0.baseAddress, uInt($0.count))) }
        let offset = out.count
        // Shared fields of the local and the central header: version 2.0, no flags, stored,
        // 1980-01-01 00:00 (no clock in the archive, so the same maps give the same bytes).
        var common: [UInt8] = []
        u16(20, &common); u16(0, &common); u16(0, &common); u16(0, &common); u16(0x21, &common)
        u32(crc, &common); u32(data.count, &common); u32(data.count, &common); u16(file.count, &common); u16(0, &common)
        u32(0x0403_4B50, &out); out += common; out += file; out += data
        u32(0x0201_4B50, &central); u16(20, &central); central += common
        u16(0, &central); u16(0, &central); u16(0, &central); u32(0, &central); u32(offset, &central); central += file
    }
    let centralOffset = out.count
    out += central
    u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(arrays.count, &out); u16(arrays.count, &out)
    u32(central.count, &out); u32(centralOffset, &out); u16(0, &out)
    return out
}

/// Writes named tensors as an .npz file atomically.
public func writeNPZ(_ arrays: [(name: String, tensor: Tensor)], path: String) throws {
    let bytes: [UInt8]
    do { bytes = try encodeNPZ(arrays) } catch let e as IOError { throw IOError(path: path, message: e.message) }
    try writeFileAtomically(bytes, to: path)
}
