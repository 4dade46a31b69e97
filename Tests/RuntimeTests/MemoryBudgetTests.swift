import CZlib
import Foundation
import Testing
@testable import Runtime

/// gzip of `bytes` (zlib's deflate with the gzip wrapper).
func gzipped(_ bytes: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    #expect(deflateInit2_(&stream, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    defer { deflateEnd(&stream) }
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
    var input = bytes
    let produced = input.withUnsafeMutableBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst -> Int in
            stream.next_in = src.baseAddress; stream.avail_in = UInt32(src.count)
            stream.next_out = dst.baseAddress; stream.avail_out = UInt32(dst.count)
            #expect(deflate(&stream, Z_FINISH) == Z_STREAM_END)
            return dst.count - Int(stream.avail_out)
        }
    }
    return Array(out[0..<produced])
}

/// Inputs that claim more memory than the budget: each must be refused before allocating,
/// with an error naming the size (issue 21: a 6 MB gzip that expands to 6.4 GB, an 875 KB
/// PNG of 30000x30000, ONNX Pad/Resize/ConvTranspose, model inputs of [1, 1, 100000, 100000]).
/// Budgets are scoped to the test (MemoryBudget.withLimit), small so the inputs stay small.
@Suite("Memory budget")
struct MemoryBudgetTests {
    func expectRefusal(_ what: String, containing text: String, _ body: () throws -> Void) {
        do { try body(); Issue.record("\(what): was not refused") } catch {
            #expect("\(error)".contains(text), "\(what): \(error)")
            #expect("\(error)".contains("over the memory budget"), "\(what): \(error)")
        }
    }

    @Test func sizesParseAndPrint() {
        #expect(MemoryBudget.parse("512M") == 512 << 20)
        #expect(MemoryBudget.parse("8G") == 8 << 30)
        #expect(MemoryBudget.parse("1.5GB") == 3 << 29)
        #expect(MemoryBudget.parse("2048") == 2048)
        #expect(MemoryBudget.parse("50%") == Int(Double(ProcessInfo.processInfo.physicalMemory) * 0.5))
        for bad in ["", "x", "-1G", "0", "1e30G", "150%", "nan"] { #expect(MemoryBudget.parse(bad) == nil, "\(bad)") }
        #expect(MemoryBudget.format(6_400_000_000) == "6.4 GB")
        #expect(MemoryBudget.format(17) == "17 bytes")
        #expect(MemoryBudget.bytes(shape: [1, 1, 100_000, 100_000]) == 40_000_000_000)
        #expect(MemoryBudget.bytes(shape: [Int.max, 2]) == nil)
        #expect(MemoryBudget.bytes(shape: [3, -1]) == nil)
    }

    @Test func theScopedLimitIsThisTasksOnly() {
        MemoryBudget.withLimit(1000) {
            #expect(MemoryBudget.limit == 1000)
            #expect(throws: MemoryBudgetExceeded.self) { try MemoryBudget.check(1001, "x") }
        }
        #expect(MemoryBudget.limit != 1000)
    }

    /// A gzip bomb stops decompressing when it crosses the budget (1 MB of zeros here).
    @Test func gzipStopsAtTheBudget() throws {
        let bomb = gzipped([UInt8](repeating: 0, count: 4 << 20))
        #expect(bomb.count < 8 << 10)
        expectRefusal("gunzip", containing: "decompressing bomb.gz needs more than 1.0 MB") {
            try MemoryBudget.withLimit(1 << 20) { _ = try gunzip(bomb, path: "bomb.gz") }
        }
        #expect(try gunzip(bomb, path: "bomb.gz", limit: 8 << 20).count == 4 << 20)
        // The IDX reader inherits it: a header of 1000 images of 100x100 (10 MB of floats).
        var idx: [UInt8] = [0, 0, 8, 3]
        for d in [1000, 100, 100] { idx += [0, UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
        idx += [UInt8](repeating: 7, count: 1000 * 100 * 100)
        let parsed = try parseIDX(idx, path: "i.idx")
        expectRefusal("IDX images", containing: "images of i.idx as floats (1000 of 100x100) needs 40.0 MB") {
            try MemoryBudget.withLimit(20 << 20) { _ = try fashionMNISTImages(parsed) }
        }
    }

    /// The PNG's header is read before its pixels: the claimed size is checked first.
    @Test func pngDimensionsAreCheckedBeforeDecoding() throws {
        let png = try encodePNG(Tensor.zeros([1, 1000, 1000]))
        #expect(png.count < 8 << 10)
        expectRefusal("PNG", containing: "decoding big.png (1000x1000 pixels, 1 channel(s)) needs 5.0 MB") {
            try MemoryBudget.withLimit(1 << 20) { _ = try decodePNG(png, path: "big.png") }
        }
        #expect(try MemoryBudget.withLimit(8 << 20) { try decodePNG(png, path: "big.png") }.shape == [1, 1000, 1000])
    }

    @Test func npyShapesAreCheckedBeforeDecoding() throws {
        let npy = encodeNPY(Tensor.zeros([512, 512]))
        expectRefusal("NPY", containing: "decoding a.npy (shape [512, 512]) needs 1.0 MB") {
            try MemoryBudget.withLimit(1 << 19) { _ = try decodeNPY(npy, path: "a.npy") }
        }
    }

    /// Files are sized before they are read.
    @Test func filesLargerThanTheBudgetAreNotRead() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("budget-\(getpid()).npy").path
        try writeNPY(Tensor.zeros([300, 300]), path: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        expectRefusal("readNPY", containing: "reading \(path) needs 360.1 KB") {
            try MemoryBudget.withLimit(100_000) { _ = try readNPY(path: path) }
        }
    }

    func oneNode(_ op: String, input shape: [Int], constants: [Tensor] = [], attributes: [String: AttributeValue] = [:]) throws -> Graph {
        let names = constants.indices.map { "c\($0)" }
        return try Graph(name: "one", inputs: [ValueInfo(name: "x", shape: shape)], outputs: ["y"],
                         nodes: [GraphNode(name: "n", opType: op, inputs: ["x"] + names, outputs: ["y"], attributes: attributes)],
                         weights: Dictionary(uniqueKeysWithValues: zip(names, constants)))
    }

    /// Output sizes that come from a model file's attributes and constants.
    @Test func modelOutputsAreCheckedBeforeAllocation() throws {
        try MemoryBudget.withLimit(64 << 20) {
            let pad = try oneNode("Pad", input: [1, 1, 2, 2], constants: [Tensor(shape: [8], data: [0, 0, 100_000, 100_000, 0, 0, 100_000, 100_000])])
            expectRefusal("Pad", containing: "the output [1, 1, 200002, 200002] needs 160.0 GB") { _ = try pad(Tensor.ones([1, 1, 2, 2])) }
            let resize = try oneNode("Resize", input: [1, 1, 4, 4], constants: [Tensor(shape: [0], data: []), Tensor(shape: [4], data: [1, 1, 1e6, 1e6])])
            #expect(throws: GraphError.self) { _ = try resize(Tensor.ones([1, 1, 4, 4])) }
            let resize2 = try oneNode("Resize", input: [1, 1, 4, 4], constants: [Tensor(shape: [0], data: []), Tensor(shape: [4], data: [1, 1, 2000, 2000])])
            expectRefusal("Resize", containing: "the output [1, 1, 8000, 8000] needs 256.0 MB") { _ = try resize2(Tensor.ones([1, 1, 4, 4])) }
            let ct = try oneNode("ConvTranspose", input: [1, 1, 2, 2], constants: [Tensor.ones([1, 1, 3, 3])],
                                 attributes: ["strides": .ints([30_000, 30_000])])
            expectRefusal("ConvTranspose", containing: "the output [1, 1, 30003, 30003] needs 3.6 GB") { _ = try ct(Tensor.ones([1, 1, 2, 2])) }
            let conv = try oneNode("Conv", input: [1, 1, 2, 2], constants: [Tensor.ones([4, 1, 1, 1])],
                                   attributes: ["pads": .ints([5000, 5000, 5000, 5000])])
            expectRefusal("Conv", containing: "the output [1, 4, 10002, 10002] needs 1.6 GB") { _ = try conv(Tensor.ones([1, 1, 2, 2])) }
            let pool = try oneNode("MaxPool", input: [1, 1, 2, 2], attributes: ["kernel_shape": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]),
                                                                                   "strides": .ints([1, 1])])
            _ = try pool(Tensor.ones([1, 1, 2, 2]))
        }
    }

    /// Attributes beyond 2^24 would overflow the shape arithmetic (which traps, or with
    /// -Ounchecked corrupts memory); they are refused by name.
    @Test func absurdAttributesAreRefused() throws {
        let conv = try oneNode("Conv", input: [1, 1, 4, 4], constants: [Tensor.ones([1, 1, 2, 2])],
                               attributes: ["dilations": .ints([1 << 62, 1])])
        #expect(throws: GraphError.self) { _ = try conv(Tensor.ones([1, 1, 4, 4])) }
        let pool = try oneNode("AveragePool", input: [1, 1, 4, 4], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([1, 1 << 40])])
        do { _ = try pool(Tensor.ones([1, 1, 4, 4])) } catch let e as GraphError {
            #expect(e.description.contains("strides [1, 1099511627776] holds a size beyond 16777216"), "\(e)")
        }
        let pad = try oneNode("Pad", input: [2], constants: [Tensor(shape: [2], data: [0, 1e12])])
        #expect(throws: GraphError.self) { _ = try pad(Tensor.ones([2])) }
    }
}
