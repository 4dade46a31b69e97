import Foundation
import Testing
@testable import Runtime

/// The ONNX backend node tests from Debian's libonnx-testdata, run for every operator we
/// support. Each test directory holds a one-node model and input/output TensorProtos.
/// Known gaps are listed here with their reasons (and in the README's support table);
/// any other failure fails the suite.
@Suite("ONNX conformance")
struct ONNXConformanceTests {
    static let root = "/usr/share/libonnx-testdata/data/node"

    /// Test directory -> why it cannot pass here.
    static let knownGaps: [String: String] = [
        "test_div_uint8": "integer tensors are computed as float32, so integer division does not truncate",
        "test_identity_opt": "optional-typed values are not supported (tensors only)",
        "test_identity_sequence": "sequence-typed values are not supported (tensors only)",
        "test_averagepool_3d_default": "volumetric (3-D) pooling is not supported: image classifiers are 2-D",
        "test_maxpool_3d_default": "volumetric (3-D) pooling is not supported: image classifiers are 2-D",
        "test_convtranspose_3d": "volumetric (3-D) convolution is not supported: image classifiers are 2-D",
        "test_convtranspose_with_kernel": "the model declares opset 8; supported opsets are 9 to 21",
        "test_globalaveragepool": "the model declares opset 1; supported opsets are 9 to 21",
        "test_globalaveragepool_precomputed": "the model declares opset 1; supported opsets are 9 to 21",
        "test_globalmaxpool": "the model declares opset 1; supported opsets are 9 to 21",
        "test_globalmaxpool_precomputed": "the model declares opset 1; supported opsets are 9 to 21",
        "test_resize_tf_crop_and_resize": "coordinate_transformation_mode tf_crop_and_resize (TensorFlow crops) is not supported",
        "test_training_dropout": "training-mode Dropout draws its own random mask; the reference's RNG stream cannot be matched",
        "test_training_dropout_default": "training-mode Dropout draws its own random mask; the reference's RNG stream cannot be matched",
        "test_training_dropout_default_mask": "training-mode Dropout draws its own random mask; the reference's RNG stream cannot be matched",
        "test_training_dropout_mask": "training-mode Dropout draws its own random mask; the reference's RNG stream cannot be matched",
    ]

    struct Case { let dir: String; let op: String }

    static func cases() -> [Case] {
        guard let dirs = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        return dirs.sorted().compactMap { d in
            let path = "\(root)/\(d)/model.onnx"
            guard let data = FileManager.default.contents(atPath: path),
                  let m = try? Onnx_ModelProto(serializedBytes: data), m.graph.node.count == 1 else { return nil }
            let node = m.graph.node[0]
            guard node.domain.isEmpty || node.domain == "ai.onnx", Kernels.table[node.opType] != nil else { return nil }
            return Case(dir: d, op: node.opType)
        }
    }

    /// Runs one case; nil on success, else the reason.
    static func run(_ c: Case) -> String? {
        let dir = "\(root)/\(c.dir)"
        do {
            let graph = try loadONNX(path: "\(dir)/model.onnx")
            let sets = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("test_data_set") }.sorted()
            for s in sets {
                func load(_ prefix: String) throws -> [(String, Tensor)] {
                    let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(s)").filter { $0.hasPrefix(prefix) }
                        .sorted { Int($0.dropFirst(prefix.count).prefix { $0.isNumber })! < Int($1.dropFirst(prefix.count).prefix { $0.isNumber })! }
                    return try files.map { f in
                        let p = try Onnx_TensorProto(serializedBytes: FileManager.default.contents(atPath: "\(dir)/\(s)/\(f)")!)
                        return (p.name, try ONNXImporter.tensor(from: p, context: f).0)
                    }
                }
                let ins = try load("input_"), outs = try load("output_")
                // Inputs bind by position to the graph's non-weight inputs (optional inputs may be absent).
                let feeds = ins.map(\.1)
                guard feeds.count == graph.inputs.count else { return "takes \(graph.inputs.count) inputs, data set has \(feeds.count)" }
                var g2 = graph
                g2.inputs = graph.inputs.map { ValueInfo(name: $0.name, shape: []) }  // test data fixes shapes
                let result = try Autograd.noGrad { try g2.forward(feeds) }
                for (k, (_, expected)) in outs.enumerated() {
                    guard k < result.outputs.count else { return "missing output \(k)" }
                    let got = result.outputs[k]
                    guard got.count == expected.count, got.shape.reduce(1, *) == expected.shape.reduce(1, *) else {
                        return "output \(k): shape \(got.shape), expected \(expected.shape)"
                    }
                    for i in 0..<got.count {
                        let a = got[flat: i], e = expected[flat: i]
                        if a.isNaN && e.isNaN { continue }
                        if a == e { continue }
                        if Swift.abs(a - e) > 1e-4 + 1e-3 * Swift.abs(e) {
                            return "output \(k) element \(i): \(a), expected \(e)"
                        }
                    }
                }
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func backendNodeTests() throws {
        let all = Self.cases()
        try #require(!all.isEmpty, "no ONNX node tests found under \(Self.root): run scripts/bootstrap (libonnx-testdata)")
        var byOp: [String: (pass: Int, total: Int)] = [:]
        var unexpected: [String] = []
        for c in all {
            let failure = Self.run(c)
            byOp[c.op, default: (0, 0)].total += 1
            if failure == nil { byOp[c.op]!.pass += 1 }
            if let f = failure, Self.knownGaps[c.dir] == nil { unexpected.append("\(c.dir) [\(c.op)]: \(f)") }
            if failure == nil, Self.knownGaps[c.dir] != nil { unexpected.append("\(c.dir) passes now: remove it from knownGaps") }
        }
        let table = byOp.keys.sorted().map { "| \($0) | \(byOp[$0]!.pass) / \(byOp[$0]!.total) |" }
        #expect(unexpected.isEmpty, "\(unexpected.count) unexpected result(s):\n\(unexpected.joined(separator: "\n"))")
        // The README's support table is the promise: every operator we implement has a row
        // with exactly these counts (dropping an operator, or a case that stops being found,
        // changes a row and fails here instead of silently shrinking the suite).
        let readme = try String(contentsOfFile: Self.readmePath, encoding: .utf8)
        let documented = Self.supportTable(in: readme)
        try #require(!documented.isEmpty, "no '| operator | passed / tests |' table in \(Self.readmePath)")
        #expect(documented == table, "README's ONNX table differs from the measured one; the measured table:\n\(table.joined(separator: "\n"))")
        // Every operator with a kernel has test cases in Debian's data, except these (no
        // single-node case in libonnx-testdata's node tests).
        let untested = Set(Kernels.table.keys).subtracting(byOp.keys).subtracting(Self.kernelsWithoutCases)
        #expect(untested.isEmpty, "operators with a kernel but no conformance case: \(untested.sorted())")
    }

    /// Kernels whose op has no one-node test in libonnx-testdata (checked by hand-computed
    /// forward tests in GraphTests and ops tests instead).
    static let kernelsWithoutCases: Set<String> = []

    static var readmePath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md").path
    }

    /// Rows of the README's "| operator | passed / tests |" table, as written.
    static func supportTable(in readme: String) -> [String] {
        guard let start = readme.range(of: "| operator | passed / tests |") else { return [] }
        return readme[start.upperBound...].split(separator: "\n").dropFirst()  // the |---| line
            .prefix { $0.hasPrefix("| ") }.map(String.init)
    }

    /// ReduceMax (added for CBAM's channel max) runs Debian's eight node tests: axes given,
    /// negative or absent, with and without keepdims, on example and random data.
    @Test func reduceMaxPassesItsNodeTests() {
        let cases = Self.cases().filter { $0.op == "ReduceMax" }
        #expect(cases.count == 8, "ReduceMax node tests found: \(cases.map(\.dir))")
        for c in cases { #expect(Self.run(c) == nil, "\(c.dir)") }
    }
}
