import Foundation
import Testing
@testable import Runtime

private let fashionDirectory = "/usr/share/datasets/fashion-mnist"

/// A hand-built IDX file: magic 00 00 08 03, dims [2, 2, 3], values 0...11.
private let smallIDX: [UInt8] = [0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3] + (0..<12).map(UInt8.init)

/// `smallIDX` compressed by Python's gzip.compress(data, mtime=0).
private let smallIDXGzip: [UInt8] = [
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x63, 0x60, 0xe0, 0x60, 0x66, 0x60,
    0x60, 0x60, 0x82, 0x62, 0x66, 0x06, 0x46, 0x26, 0x66, 0x16, 0x56, 0x36, 0x76, 0x0e, 0x4e, 0x2e,
    0x6e, 0x00, 0x78, 0x1e, 0x23, 0x84, 0x1c, 0x00, 0x00, 0x00,
]

private func writeTemporary(_ bytes: [UInt8], _ name: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("idxtests-\(UUID().uuidString)-\(name)")
    try Data(bytes).write(to: url)
    return url.path
}

@Suite("IDX and gzip")
struct IDXTests {
    @Test func parsesHandBuiltHeader() throws {
        let arr = try parseIDX(smallIDX, path: "mem.idx")
        #expect(arr.shape == [2, 2, 3])
        #expect(arr.bytes == (0..<12).map(UInt8.init))

        let labels: [UInt8] = [0, 0, 0x08, 1, 0, 0, 0, 4, 9, 0, 3, 7]
        let l = try parseIDX(labels, path: "labels.idx")
        #expect(l.shape == [4])
        #expect(try fashionMNISTLabels(l) == [9, 0, 3, 7])
        #expect(try fashionMNISTLabels(l, limit: 2) == [9, 0])
        #expect(throws: IOError.self) { try fashionMNISTLabels(l, classes: 8) }
        #expect(throws: IOError.self) { try fashionMNISTImages(l) }

        let images = try fashionMNISTImages(arr)
        #expect(images.shape == [2, 1, 2, 3])
        #expect(Swift.abs(images.scalars[11] - Float(11) / 255) < 1e-7)
        #expect(throws: IOError.self) { try fashionMNISTLabels(arr) }
    }

    @Test func malformedIDXThrows() {
        let cases: [([UInt8], String)] = [
            ([], "too short"),
            ([0, 0, 8], "too short"),
            ([1, 0, 8, 1, 0, 0, 0, 0], "not an IDX file"),
            ([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], "unsupported IDX element type 0x0d"),
            ([0, 0, 8, 0], "0 dimensions"),
            ([0, 0, 8, 3, 0, 0, 0, 2, 0, 0], "truncated IDX header"),
            (Array(smallIDX.dropLast()), "truncated IDX data: shape [2, 2, 3] needs 12 bytes after the header, file has 11"),
            (smallIDX + [0, 0], "2 unexpected trailing bytes"),
            ([0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "overflow"),
            ([0, 0, 8, 2, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 1, 2, 3], "truncated IDX data: shape [65535, 65535]"),
        ]
        for (bytes, expected) in cases {
            let error = #expect(throws: IOError.self) { try parseIDX(bytes, path: "bad.idx") }
            #expect(error?.path == "bad.idx")
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "no error") lacks '\(expected)'")
        }
    }

    @Test func readsPlainAndGzipFiles() throws {
        let plain = try writeTemporary(smallIDX, "small.idx")
        let gz = try writeTemporary(smallIDXGzip, "small.idx.gz")
        let twoMembers = try writeTemporary(smallIDXGzip + smallIDXGzip, "double.gz")
        defer { for p in [plain, gz, twoMembers] { try? FileManager.default.removeItem(atPath: p) } }
        let a = try readIDX(path: plain), b = try readIDX(path: gz)
        #expect(a.shape == [2, 2, 3] && b.shape == [2, 2, 3] && a.bytes == b.bytes)
        #expect(b.path == gz)
        #expect(try gunzip(smallIDXGzip, path: "x") == smallIDX)
        #expect(try gunzip(smallIDXGzip + smallIDXGzip, path: "x") == smallIDX + smallIDX)
        // Two IDX files back to back are one IDX file with trailing data.
        let e = #expect(throws: IOError.self) { try readIDX(path: twoMembers) }
        #expect(e?.message.contains("trailing") == true)

        let missing = #expect(throws: IOError.self) { try readIDX(path: "/nonexistent/file.idx") }
        #expect(missing?.description.hasPrefix("/nonexistent/file.idx: ") == true)
    }

    @Test func corruptGzipAlwaysThrows() throws {
        // A real compressed file and the small fixture, damaged in many ways: every one must
        // end in a thrown IOError (never a trap, never silently wrong data).
        let real = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fashionDirectory + "/t10k-labels-idx1-ubyte.gz")))
        var rng = RandomGenerator(seed: 7)
        var damaged: [[UInt8]] = []
        for source in [real, smallIDXGzip] {
            // Truncations, including inside the header and the 8-byte trailer.
            for n in [1, 2, 5, 10, 11, 15, source.count / 2, source.count - 8, source.count - 4, source.count - 1] {
                damaged.append(Array(source.prefix(n)))
            }
            for _ in 0..<10 { damaged.append(Array(source.prefix(Int(rng.next() % UInt64(source.count))))) }
            // Bit flips in the magic/method bytes, the deflate data and the CRC/length trailer
            // (MTIME, XFL, OS and the FTEXT flag are not checked by the format, so not flipped).
            var positions = [0, 1, 2, 10, source.count - 8, source.count - 5, source.count - 4, source.count - 1]
            for _ in 0..<20 { positions.append(10 + Int(rng.next() % UInt64(source.count - 10))) }
            for pos in positions {
                var bytes = source
                bytes[pos] ^= UInt8(1) << UInt8(rng.next() % 8)
                damaged.append(bytes)
            }
        }
        #expect(damaged.count > 70)
        for (i, bytes) in damaged.enumerated() {
            let error = #expect(throws: IOError.self, "corruption \(i)") { _ = try gunzip(bytes, path: "damaged.gz") }
            #expect(error?.path == "damaged.gz")
        }
        #expect(throws: IOError.self) { _ = try gunzip([], path: "empty.gz") }
        #expect(throws: IOError.self) { _ = try gunzip(Array(repeating: 0x1f, count: 100), path: "junk.gz") }

        // Through readIDX too: the error names the file.
        var bad = real
        bad[bad.count / 2] ^= 0x10
        let path = try writeTemporary(bad, "bad.gz")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let e = #expect(throws: IOError.self) { try readIDX(path: path) }
        #expect(e?.path == path)
    }

    @Test func realFashionMNISTShapes() throws {
        let trainImages = try readIDX(path: fashionDirectory + "/train-images-idx3-ubyte.gz")
        #expect(trainImages.shape == [60000, 28, 28])
        let x = try fashionMNISTImages(trainImages)
        #expect(x.shape == [60000, 1, 28, 28])
        let (lo, hi) = x.withUnsafeBufferPointer { ($0.min()!, $0.max()!) }
        #expect(lo == 0 && hi == 1)

        let trainLabels = try fashionMNISTLabels(readIDX(path: fashionDirectory + "/train-labels-idx1-ubyte.gz"))
        #expect(trainLabels.count == 60000 && Set(trainLabels) == Set(0..<10))

        let (testX, testY) = try loadFashionMNIST(train: false)
        #expect(testX.shape == [10000, 1, 28, 28])
        #expect(testY.count == 10000)
        #expect(testY.prefix(5) == [9, 2, 1, 1, 6])   // first test labels: ankle boot, pullover, trouser, trouser, shirt
    }
}
