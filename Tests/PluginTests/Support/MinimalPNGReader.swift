import Foundation
import Runtime

/// A reader for 8-bit grayscale, non-interlaced PNGs written from the specification (chunks
/// with CRC-32, IDAT inflated by zlib, the five row filters), independent of libpng: tests use
/// it to see what our libpng-based encoder really wrote.
enum MinimalPNGReader {
    struct Malformed: Error, CustomStringConvertible { let description: String }

    static func grayPixels(_ png: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        guard png.count > 8, Array(png[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { throw Malformed(description: "no PNG signature") }
        var at = 8, idat: [UInt8] = [], sawEnd = false
        func be32(_ i: Int) -> Int { Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3]) }
        while at < png.count {
            guard !sawEnd, at + 12 <= png.count else { throw Malformed(description: "bytes after IEND or a truncated chunk at \(at)") }
            let length = be32(at)
            guard at + 12 + length <= png.count else { throw Malformed(description: "chunk at \(at) runs past the end") }
            let type = String(decoding: png[(at + 4)..<(at + 8)], as: UTF8.self)
            let body = Array(png[(at + 8)..<(at + 8 + length)])
            guard UInt32(be32(at + 8 + length)) == crc32(Array(png[(at + 4)..<(at + 8 + length)])) else {
                throw Malformed(description: "CRC mismatch in \(type)")
            }
            switch type {
            case "IHDR":
                let ihdr = Array(body[8...])
                guard be32(at + 8) == width, be32(at + 12) == height, ihdr == [8, 0, 0, 0, 0] else {
                    throw Malformed(description: "IHDR \(body) is not \(width)x\(height) 8-bit gray, non-interlaced")
                }
            case "IDAT": idat += body
            case "IEND": sawEnd = true
            default: break
            }
            at += 12 + length
        }
        guard sawEnd else { throw Malformed(description: "no IEND") }
        let raw = try gunzip(idat, path: "<IDAT>")
        guard raw.count == height * (width + 1) else { throw Malformed(description: "IDAT holds \(raw.count) bytes, expected \(height * (width + 1))") }
        var out = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            let filter = raw[y * (width + 1)]
            for x in 0..<width {
                let v = Int(raw[y * (width + 1) + 1 + x])
                let a = x > 0 ? Int(out[y * width + x - 1]) : 0
                let b = y > 0 ? Int(out[(y - 1) * width + x]) : 0
                let c = x > 0 && y > 0 ? Int(out[(y - 1) * width + x - 1]) : 0
                let prediction: Int
                switch filter {
                case 0: prediction = 0
                case 1: prediction = a
                case 2: prediction = b
                case 3: prediction = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    prediction = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: throw Malformed(description: "row \(y) has filter \(filter)")
                }
                out[y * width + x] = UInt8((v + prediction) & 0xFF)
            }
        }
        return out
    }

    /// CRC-32 (ISO 3309, reflected polynomial 0xEDB88320), bit by bit: slow and obviously right.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
}
