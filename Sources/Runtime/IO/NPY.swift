import Foundation

// NumPy .npy reading and writing (format versions 1.0, 2.0 and 3.0).
// Read: dtypes '<f4', '<f8', '|u1' (also spelled '<u1'), C order only; values become Float.
// Write: '<f4', version 1.0, header padded so the data starts on a 64-byte boundary.

private let npyMagic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
/// Refuse arrays claiming more elements than this (a corrupt shape must not allocate GBs).
private let maxNPYElements = 1 << 30

/// Reads a .npy file into a Float tensor of the stored shape.
public func readNPY(path: String) throws -> Tensor {
    try decodeNPY(try readFileBytes(path), path: path)
}

/// Decodes .npy bytes; `path` only names the source in errors.
public func decodeNPY(_ bytes: [UInt8], path: String) throws -> Tensor {
    func fail(_ m: String) -> IOError { IOError(path: path, message: m) }
    guard bytes.count >= 10 else { throw fail("truncated NPY: \(bytes.count) bytes, shorter than the preamble") }
    guard Array(bytes[0..<6]) == npyMagic else { throw fail("bad NPY magic (expected \\x93NUMPY)") }
    let major = bytes[6], minor = bytes[7]
    let headerLen: Int, headerStart: Int
    switch major {
    case 1:
        headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
        headerStart = 10
    case 2, 3:
        guard bytes.count >= 12 else { throw fail("truncated NPY: preamble of version \(major).\(minor)") }
        headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        headerStart = 12
    default:
        throw fail("unsupported NPY version \(major).\(minor)")
    }
    guard headerStart + headerLen <= bytes.count else {
        throw fail("truncated NPY: header of \(headerLen) bytes does not fit in \(bytes.count) bytes")
    }
    let headerBytes = bytes[headerStart..<(headerStart + headerLen)]
    // Versions 1 and 2 use latin-1 headers, 3 uses UTF-8; the fields we need are ASCII.
    let header = major == 3 ? String(decoding: headerBytes, as: UTF8.self)
                            : String(headerBytes.map { Character(Unicode.Scalar($0)) })
    let dict = try parseNPYHeader(header, fail: fail)
    guard let descr = dict.descr else { throw fail("NPY header has no 'descr'") }
    guard let fortran = dict.fortranOrder else { throw fail("NPY header has no 'fortran_order'") }
    guard let shape = dict.shape else { throw fail("NPY header has no 'shape'") }
    if fortran { throw fail("fortran_order True is not supported; save the array in C order (np.ascontiguousarray)") }

    let itemSize: Int
    switch descr {
    case "<f4": itemSize = 4
    case "<f8": itemSize = 8
    case "|u1", "<u1", ">u1", "u1": itemSize = 1
    default: throw fail("unsupported NPY dtype '\(descr)' (supported: <f4, <f8, |u1)")
    }
    var count = 1
    for d in shape {
        let (m, o) = count.multipliedReportingOverflow(by: d)
        guard !o, m <= maxNPYElements else { throw fail("NPY shape \(shape) is too large") }
        count = m
    }
    try MemoryBudget.check(shape: shape, "decoding \(path) (shape \(shape))")
    let dataStart = headerStart + headerLen
    let available = bytes.count - dataStart
    guard available >= count * itemSize else {
        throw fail("truncated NPY: shape \(shape) of \(descr) needs \(count * itemSize) data bytes, file has \(available)")
    }
    guard available == count * itemSize else {
        throw fail("NPY header/shape mismatch: shape \(shape) of \(descr) needs \(count * itemSize) data bytes, file has \(available)")
    }
    return bytes.withUnsafeBytes { raw in
        Tensor(shape: shape) { out in
            switch itemSize {
            case 4:
                for i in 0..<count {
                    let bits = raw.loadUnaligned(fromByteOffset: dataStart + 4 * i, as: UInt32.self)
                    out[i] = Float(bitPattern: UInt32(littleEndian: bits))
                }
            case 8:
                for i in 0..<count {
                    let bits = raw.loadUnaligned(fromByteOffset: dataStart + 8 * i, as: UInt64.self)
                    out[i] = Float(Double(bitPattern: UInt64(littleEndian: bits)))
                }
            default:
                for i in 0..<count { out[i] = Float(raw[dataStart + i]) }
            }
        }
    }
}

private struct NPYHeader {
    var descr: String?
    var fortranOrder: Bool?
    var shape: [Int]?
}

/// Parses the Python dict literal of an .npy header, e.g.
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
/// Only the three standard keys and their literal forms are understood.
private func parseNPYHeader(_ text: String, fail: (String) -> IOError) throws -> NPYHeader {
    var s = Substring(text)
    func skipSpace() { while let c = s.first, c == " " || c == "\n" || c == "\t" || c == "\r" { s.removeFirst() } }
    func expect(_ c: Character) throws {
        skipSpace()
        guard s.first == c else { throw fail("malformed NPY header: expected '\(c)' in \(text.debugDescription)") }
        s.removeFirst()
    }
    func parseString() throws -> String {
        skipSpace()
        guard let q = s.first, q == "'" || q == "\"" else { throw fail("malformed NPY header: expected a string") }
        s.removeFirst()
        guard let end = s.firstIndex(of: q) else { throw fail("malformed NPY header: unterminated string") }
        let v = String(s[..<end]); s = s[s.index(after: end)...]
        return v
    }
    var out = NPYHeader()
    try expect("{")
    while true {
        skipSpace()
        if s.first == "}" { s.removeFirst(); break }
        let key = try parseString()
        try expect(":")
        skipSpace()
        switch key {
        case "descr":
            out.descr = try parseString()
        case "fortran_order":
            if s.hasPrefix("True") { out.fortranOrder = true; s.removeFirst(4) }
            else if s.hasPrefix("False") { out.fortranOrder = false; s.removeFirst(5) }
            else { throw fail("malformed NPY header: fortran_order must be True or False") }
        case "shape":
            try expect("(")
            var dims: [Int] = []
            while true {
                skipSpace()
                if s.first == ")" { s.removeFirst(); break }
                var digits = ""
                while let c = s.first, c.isASCII, c.isNumber { digits.append(c); s.removeFirst() }
                if s.first == "L" { s.removeFirst() }  // Python 2 longs
                guard !digits.isEmpty, digits.count <= 12, let d = Int(digits) else {
                    throw fail("malformed NPY header: bad shape entry in \(text.debugDescription)")
                }
                dims.append(d)
                skipSpace()
                if s.first == "," { s.removeFirst() } else if s.first != ")" {
                    throw fail("malformed NPY header: bad shape tuple")
                }
            }
            out.shape = dims
        default:
            throw fail("malformed NPY header: unknown key '\(key)'")
        }
        skipSpace()
        if s.first == "," { s.removeFirst(); continue }
        skipSpace()
        if s.first == "}" { s.removeFirst(); break }
        throw fail("malformed NPY header: expected ',' or '}'")
    }
    return out
}

/// Encodes a tensor as a little-endian float32 .npy (version 1.0, C order). The header is
/// space-padded and newline-terminated so that the data starts at a multiple of 64 bytes.
public func encodeNPY(_ t: Tensor) -> [UInt8] {
    let shapeText: String
    switch t.shape.count {
    case 0: shapeText = "()"
    case 1: shapeText = "(\(t.shape[0]),)"
    default: shapeText = "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
    }
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    let headerLen = header.utf8.count
    var out = npyMagic + [1, 0, UInt8(headerLen & 0xFF), UInt8(headerLen >> 8)]
    out += Array(header.utf8)
    out.reserveCapacity(out.count + 4 * t.count)
    t.withUnsafeBufferPointer { src in
        for v in src {
            let b = v.bitPattern.littleEndian
            out.append(UInt8(truncatingIfNeeded: b))
            out.append(UInt8(truncatingIfNeeded: b >> 8))
            out.append(UInt8(truncatingIfNeeded: b >> 16))
            out.append(UInt8(truncatingIfNeeded: b >> 24))
        }
    }
    return out
}

/// Writes `t` as a float32 .npy file atomically.
public func writeNPY(_ t: Tensor, path: String) throws {
    try writeFileAtomically(encodeNPY(t), to: path)
}
