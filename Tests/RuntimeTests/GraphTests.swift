import Foundation
import Testing
@testable import Runtime

/// A two-layer MLP written as ONNX nodes: input [N,4] -> Gemm(8) -> Relu -> Gemm(3).
func tinyMLP(seed: UInt64 = 1) throws -> Graph {
    var rng = RandomGenerator(seed: seed)
    let w: [String: Tensor] = [
        "fc1.weight": Tensor.normal([8, 4], std: 0.5, rng: &rng), "fc1.bias": Tensor.normal([8], std: 0.1, rng: &rng),
        "fc2.weight": Tensor.normal([3, 8], std: 0.5, rng: &rng), "fc2.bias": Tensor.normal([3], std: 0.1, rng: &rng),
    ]
    let nodes = [
        GraphNode(name: "fc1", opType: "Gemm", inputs: ["input", "fc1.weight", "fc1.bias"], outputs: ["h"], attributes: ["transB": .int(1)]),
        GraphNode(name: "relu1", opType: "Relu", inputs: ["h"], outputs: ["a"]),
        GraphNode(name: "fc2", opType: "Gemm", inputs: ["a", "fc2.weight", "fc2.bias"], outputs: ["logits"], attributes: ["transB": .int(1)]),
    ]
    return try Graph(name: "mlp", inputs: [ValueInfo(name: "input", shape: [-1, 4])], outputs: ["logits"],
                     nodes: nodes, weights: w, labels: ["cat", "dog", "bird"])
}

@Suite("Graph: capture, interventions, ONNX round trip")
struct GraphTests {
    let x = randomTensor([2, 4], seed: 5)

    @Test func forwardMatchesTheEquations() throws {
        let g = try tinyMLP()
        let w1 = g.weights["fc1.weight"]!, b1 = g.weights["fc1.bias"]!
        let w2 = g.weights["fc2.weight"]!, b2 = g.weights["fc2.bias"]!
        let expected = (x.matmul(w1.transposed()) + b1).relu().matmul(w2.transposed()) + b2
        expectClose(try g(x), expected, tol: 1e-5)
    }

    @Test func captureStopAndInterventions() throws {
        let g = try tinyMLP()
        let r = try g.forward(x, options: ForwardOptions(capture: ["relu1", "h"]))
        #expect(r.captured["relu1"]!.shape == [2, 8])
        expectClose(r.captured["relu1"]!, r.captured["h"]!.relu())
        // Stop early at a node name: its output is the result.
        let stopped = try g.forward(x, options: ForwardOptions(stopAt: "relu1"))
        expectClose(stopped.output, r.captured["relu1"]!)
        // Zeroing every hidden unit leaves only the output bias.
        let zeroed = try g.forward(x, options: ForwardOptions(interventions: ["a": .zeroChannels(Array(0..<8))]))
        expectClose(zeroed.output, Tensor.stack([g.weights["fc2.bias"]!, g.weights["fc2.bias"]!]))
        // Gates equal to one change nothing; gradients reach differentiable gates.
        let gates = Tensor.ones([8]).requiringGrad()
        let gated = try g.forward(x, options: ForwardOptions(interventions: ["relu1": .scaleChannels(gates)]))
        expectClose(gated.output, try g(x))
        let dg = gradient(of: gated.output.select(axis: 1, 0).sum(), wrt: gates)
        #expect(dg.shape == [8])
        #expect(dg.scalars.contains { $0 != 0 })
    }

    @Test func gradientWithRespectToACapturedLayer() throws {
        let g = try tinyMLP()
        let r = try g.forward(x, options: ForwardOptions(capture: ["a"]))
        let da = gradient(of: r.output.select(axis: 1, 2).sum(), wrt: r.captured["a"]!)
        // d logit_2 / d a = row 2 of fc2.weight, for every sample.
        let row = g.weights["fc2.weight"]!.select(axis: 0, 2)
        expectClose(da, Tensor.concat([row, row], axis: 0))
    }

    @Test func errorsNameTheProblem() throws {
        let g = try tinyMLP()
        #expect(throws: GraphError.unknownLayer("relu", suggestion: "relu1")) { try g.resolveValue("relu") }
        #expect(throws: GraphError.self) { try g(Tensor.zeros([2, 5])) }
        #expect(throws: GraphError.self) {
            try g.forward(x, options: ForwardOptions(interventions: ["a": .zeroChannels([9])]))
        }
        let unknownOp = [GraphNode(name: "n", opType: "FancyOp", inputs: ["input"], outputs: ["y"])]
        let bad = try Graph(name: "bad", inputs: [ValueInfo(name: "input", shape: [-1])], outputs: ["y"], nodes: unknownOp, weights: [:])
        #expect(throws: GraphError.unsupportedOperator(op: "FancyOp", node: "n", opset: 17)) { try bad(Tensor.zeros([1])) }
        let cyclic = [GraphNode(name: "a", opType: "Relu", inputs: ["b"], outputs: ["c"]),
                      GraphNode(name: "b", opType: "Relu", inputs: ["c"], outputs: ["b"])]
        #expect(throws: GraphError.self) {
            try Graph(name: "cyc", inputs: [ValueInfo(name: "input", shape: [-1])], outputs: ["c"], nodes: cyclic, weights: [:])
        }
    }

    @Test func onnxExportImportKeepsEverything() throws {
        let g = try tinyMLP()
        let back = try decodeONNX(try g.onnxData(), path: "memory.onnx")
        #expect(back.labels == ["cat", "dog", "bird"])
        #expect(back.nodes.map(\.name) == ["fc1", "relu1", "fc2"])
        #expect(back.inputs == g.inputs)
        // Export stores float32 weights as raw bytes: the round trip is lossless by
        // construction, so the weights are compared bit for bit ...
        #expect(back.weights.keys.sorted() == g.weights.keys.sorted())
        for (name, w) in g.weights { #expect(back.weight(name)?.scalars.map(\.bitPattern) == w.scalars.map(\.bitPattern), "\(name)") }
        // ... and the outputs, computed by the same kernels on the same weights, within a
        // few float roundings of logits of size ~1.
        expectClose(try back(x), try g(x), tol: 1e-6)
    }

    @Test func onnxRuntimeAgreesWithExport() throws {
        let g = try tinyMLP()
        let ort = try onnxRuntimeOutput(model: g, input: x)
        expectClose(ort, try g(x), tol: 1e-4)
    }

    @Test func corruptONNXIsAnErrorNeverACrash() throws {
        let good = [UInt8](try tinyMLP().onnxData())
        var rng = RandomGenerator(seed: 3)
        var errors = 0, decoded = 0
        for i in 0..<300 {
            var bytes = good
            if i % 2 == 0 {
                bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            } else {
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let pos = Int(rng.next() % UInt64(bytes.count))
                    bytes[pos] ^= UInt8(1 << (rng.next() % 8))
                }
            }
            do {
                let g = try decodeONNX(Data(bytes), path: "corrupt.onnx")
                _ = try? g(x)  // a decodable variant must still fail cleanly or run
                decoded += 1
            } catch let e as IOError {
                #expect(e.description.hasPrefix("corrupt.onnx: "))
                errors += 1
            }
        }
        // Both outcomes occur: a check that only ever decodes (or only ever throws) would not
        // be testing the decoder's error paths.
        #expect(errors > 100)
        #expect(decoded > 0)
    }
}
