import Foundation
import Testing
@testable import Runtime

/// Damaged inputs must either decode to a sane tensor or throw `IOError` — never trap and
/// never throw anything else. Variants are derived from valid files: truncations at many
/// lengths, seeded random bit flips, wrong magic, and format-specific header edits.
@Suite("Corrupt files")
struct CorruptFileTests {
    enum Outcome { case decoded, ioError, otherError(String) }

    /// Truncations, 1-3 bit flips and magic damage of `base`; about `flips` + 60 variants.
    func variants(of base: [UInt8], seed: UInt64, flips: Int) -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = [("empty", [])]
        // Truncations: every length in the first 64 bytes, then ~40 spread over the rest.
        var lengths = Set(0..<Swift.min(64, base.count))
        let step = Swift.max(1, base.count / 40)
        for l in stride(from: 64, to: base.count, by: step) { lengths.insert(l) }
        lengths.insert(base.count - 1)
        for l in lengths.sorted() where l < base.count { out.append(("truncated to \(l)", Array(base.prefix(l)))) }
        var rng = RandomGenerator(seed: seed)
        for k in 0..<flips {
            var b = base
            let n = 1 + Int(rng.next() % 3)
            for _ in 0..<n {
                let i = Int(rng.next() % UInt64(b.count))
                b[i] ^= UInt8(1) << UInt8(rng.next() % 8)
            }
            out.append(("bit flip #\(k)", b))
        }
        // Random byte overwrites of short runs.
        for k in 0..<10 {
            var b = base
            let i = Int(rng.next() % UInt64(b.count))
            for j in i..<Swift.min(b.count, i + 1 + Int(rng.next() % 8)) { b[j] = UInt8(truncatingIfNeeded: rng.next()) }
            out.append(("overwrite #\(k)", b))
        }
        var wrong = base; wrong[0] ^= 0xFF
        out.append(("wrong magic", wrong))
        var swapped = base; if swapped.count > 3 { swapped.swapAt(1, 3) }
        out.append(("scrambled magic", swapped))
        out.append(("garbage", (0..<200).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
        out.append(("doubled", base + base))
        return out
    }

    func classify(_ body: () throws -> Tensor, check: (Tensor) -> Bool) -> Outcome {
        do {
            let t = try body()
            return check(t) ? .decoded : .otherError("insane tensor \(t.shape)")
        } catch is IOError {
            return .ioError
        } catch {
            return .otherError("\(type(of: error)): \(error)")
        }
    }

    func saneImage(_ t: Tensor) -> Bool {
        t.rank == 3 && (t.shape[0] == 1 || t.shape[0] == 3) && t.shape[1] > 0 && t.shape[2] > 0
            && t.scalars.allSatisfy { $0 >= 0 && $0 <= 1 }
    }

    func saneArray(_ t: Tensor) -> Bool { t.count == t.shape.reduce(1, *) && t.count <= 1 << 30 }

    @Test func corruptPNGsNeverTrap() throws {
        var rng = RandomGenerator(seed: 99)
        let rgb = try encodePNG(Tensor.uniform([3, 12, 9], rng: &rng))
        let gray = try encodePNG(Tensor.uniform([1, 5, 17], rng: &rng))
        let bases: [(String, [UInt8])] = [
            ("rgb", rgb), ("gray", gray), ("gray16", ImageIOFixtures.gray16),
            ("palette", ImageIOFixtures.palette), ("rgba", ImageIOFixtures.rgba),
        ]
        var counts = (decoded: 0, ioError: 0, total: 0)
        for (bi, (name, base)) in bases.enumerated() {
            var cases = variants(of: base, seed: UInt64(bi + 1), flips: 40)
            // IHDR edits: absurd dimensions, bad bit depth / colour type (CRC left stale).
            for (offset, value) in [(16, 0xFF), (20, 0xFF), (16, 0x00), (24, 0x03), (25, 0x05), (28, 0x07)]
                where base.count > offset {
                var b = base; b[offset] = UInt8(value); cases.append(("IHDR byte \(offset)=\(value)", b))
            }
            for (label, bytes) in cases {
                counts.total += 1
                switch classify({ try decodePNG(bytes, path: "\(name).png") }, check: saneImage) {
                case .decoded: counts.decoded += 1
                case .ioError: counts.ioError += 1
                case .otherError(let m): Issue.record("\(name) \(label): \(m)")
                }
            }
        }
        #expect(counts.total >= 150 * 2)
        #expect(counts.ioError > counts.total / 2)  // most damage is detected
    }

    @Test func corruptNPYsNeverTrap() throws {
        var rng = RandomGenerator(seed: 7)
        let own = encodeNPY(Tensor.normal([4, 6], rng: &rng))
        let bases: [(String, [UInt8])] = [
            ("own", own), ("f4", ImageIOFixtures.f4), ("f8", ImageIOFixtures.f8),
            ("u1", ImageIOFixtures.u1), ("v2", ImageIOFixtures.v2), ("v3", ImageIOFixtures.v3),
        ]
        var total = 0
        for (bi, (name, base)) in bases.enumerated() {
            var cases = variants(of: base, seed: UInt64(100 + bi), flips: 30)
            // Header edits: the text dict is where structure lives.
            let text = String(decoding: base, as: UTF8.self)
            for (from, to) in [("(2, 3)", "(99999999999, 99999999999)"), ("(2, 3)", "(3, 3)"),
                               ("(2, 3)", "(-2, 3)"), ("(2, 3)", "(2, 3"), ("'<f4'", "'>f4'"),
                               ("'<f4'", "'<f2'"), ("False", "Maybe"), ("'shape'", "'shap'"),
                               ("{", "["), ("}", " "), ("'descr'", "'descr"), ("(2, 3)", "()")] {
                if let r = text.range(of: from) {
                    var edited = Array(text[..<r.lowerBound].utf8) + Array(to.utf8)
                    let suffixStart = text.utf8.distance(from: text.startIndex, to: r.upperBound)
                    edited += base[suffixStart...]
                    cases.append(("header \(from)->\(to)", edited))
                }
            }
            // Header length fields far beyond the file.
            var longHeader = base; longHeader[8] = 0xFF; longHeader[9] = 0xFF
            cases.append(("header length 65535", longHeader))
            var badVersion = base; badVersion[6] = 9
            cases.append(("version 9", badVersion))
            for (label, bytes) in cases {
                total += 1
                if case .otherError(let m) = classify({ try decodeNPY(bytes, path: "\(name).npy") }, check: saneArray) {
                    Issue.record("\(name) \(label): \(m)")
                }
            }
        }
        #expect(total >= 150 * 2)
    }

    @Test func corruptFilesOnDiskReportThePath() throws {
        let dir = try makeTempDirectory("corrupt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let png = dir + "/bad.png", npy = dir + "/bad.npy"
        try writeFileAtomically(Array(ImageIOFixtures.palette.prefix(40)), to: png)
        try writeFileAtomically(Array(ImageIOFixtures.f4.prefix(100)), to: npy)
        for (path, read) in [(png, { try readPNG(path: png) }), (npy, { try readNPY(path: npy) })] {
            do {
                _ = try read()
                Issue.record("\(path) decoded")
            } catch let e as IOError {
                #expect(e.path == path)
                #expect(e.description.hasPrefix(path + ": "))
            }
        }
        #expect(throws: IOError.self) { try readPNG(path: dir) }  // a directory
    }
}
