import Foundation
import Testing
@testable import Runtime

/// A model file can hold any attribute and constant: each node below is malformed in a way
/// that used to reach a trap in the tensor ops (a precondition, an index out of range or an
/// Int conversion of NaN). Running it must throw GraphError naming the problem instead.
@Suite("Malformed nodes")
struct MalformedNodeTests {
    /// Runs one node `op` over input x [shape] with the given constant inputs and attributes.
    func run(_ op: String, input shape: [Int], constants: [Tensor] = [], attributes: [String: AttributeValue] = [:],
             outputs: Int = 1) throws -> Tensor {
        let names = constants.indices.map { "c\($0)" }
        let outs = (0..<outputs).map { "y\($0)" }
        let g = try Graph(name: "one", inputs: [ValueInfo(name: "x", shape: shape)], outputs: [outs[0]],
                          nodes: [GraphNode(name: "n", opType: op, inputs: ["x"] + names, outputs: outs, attributes: attributes)],
                          weights: Dictionary(uniqueKeysWithValues: zip(names, constants)))
        return try g(Tensor.ones(shape))
    }

    func expectFailure(_ what: String, containing text: String, _ body: () throws -> Tensor) {
        do {
            let t = try body()
            Issue.record("\(what): ran and gave \(t.shape)")
        } catch let e as GraphError {
            #expect(e.description.contains(text), "\(what): \(e)")
        } catch {
            Issue.record("\(what): threw \(type(of: error)): \(error)")
        }
    }

    @Test func shapeConstantsThatAreNotIntegers() {
        for v: Float in [.nan, .infinity, 1e30, 2.5] {
            expectFailure("Reshape to \(v)", containing: "is not an integer of a usable size") {
                try run("Reshape", input: [2, 3], constants: [Tensor(shape: [2], data: [v, 3])])
            }
        }
        expectFailure("Reshape to a negative size", containing: "negative size") {
            try run("Reshape", input: [2, 3], constants: [Tensor(shape: [2], data: [-2, -3])])
        }
        expectFailure("Reshape whose size overflows", containing: "cannot reshape") {
            try run("Reshape", input: [2, 3], constants: [Tensor(shape: [3], data: [2_000_000_000, 2_000_000_000, 2_000_000_000])])
        }
        expectFailure("Gather at NaN", containing: "is not an integer") {
            try run("Gather", input: [4], constants: [Tensor(shape: [1], data: [.nan])])
        }
    }

    @Test func poolingAttributesThatDoNotFit() {
        expectFailure("MaxPool stride 0", containing: "strides and dilations must be positive") {
            try run("MaxPool", input: [1, 1, 4, 4], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([0, 1])])
        }
        expectFailure("MaxPool dilations 0 (issue 21's case)", containing: "strides and dilations must be positive") {
            try run("MaxPool", input: [1, 1, 4, 4], attributes: ["kernel_shape": .ints([2, 2]), "dilations": .ints([0, 0])])
        }
        expectFailure("MaxPool with one stride for two axes", containing: "strides [2] needs 2 values") {
            try run("MaxPool", input: [1, 1, 4, 4], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2])])
        }
        expectFailure("MaxPool window of padding only", containing: "sees only padding") {
            try run("MaxPool", input: [1, 1, 4, 4], attributes: ["kernel_shape": .ints([2, 2]), "pads": .ints([2, 0, 0, 0])])
        }
        expectFailure("AveragePool stride 0", containing: "strides must be positive") {
            try run("AveragePool", input: [1, 1, 4, 4], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([0, 0])])
        }
        expectFailure("Conv with three kernel sizes", containing: "kernel_shape [1, 1, 1] needs 2 values") {
            try run("Conv", input: [1, 1, 4, 4], constants: [Tensor.ones([1, 1, 1, 1])], attributes: ["kernel_shape": .ints([1, 1, 1])])
        }
    }

    @Test func shapeNodesWithImpossibleArguments() {
        expectFailure("Pad on axis 7", containing: "do not match axes") {
            try run("Pad", input: [2, 2], constants: [Tensor(shape: [2], data: [1, 1]), Tensor(0), Tensor(shape: [1], data: [7])])
        }
        expectFailure("Pad to an enormous output", containing: "the output [1, 1, 200001, 200001] needs 160.0 GB, over the memory budget") {
            try run("Pad", input: [1, 1, 1, 1], attributes: ["pads": .ints([0, 0, 100_000, 100_000, 0, 0, 100_000, 100_000])])
        }
        expectFailure("Unsqueeze with a repeated axis", containing: "repeat an axis") {
            try run("Unsqueeze", input: [3], attributes: ["axes": .ints([1, 1])])
        }
        expectFailure("MatMul of [2, 3] and [2, 3]", containing: "inner dimensions differ") {
            try run("MatMul", input: [2, 3], constants: [Tensor.ones([2, 3])])
        }
        expectFailure("Resize by an infinite scale", containing: "too large") {
            try run("Resize", input: [1, 1, 2, 2], constants: [Tensor(shape: [0], data: []), Tensor(shape: [4], data: [1, 1, .infinity, 2])])
        }
    }

    @Test func convTransposeAndBatchNormArguments() {
        let w = Tensor.ones([1, 1, 2, 2])
        expectFailure("ConvTranspose with an empty output_shape", containing: "output_shape [] needs 2 spatial sizes") {
            try run("ConvTranspose", input: [1, 1, 3, 3], constants: [w], attributes: ["output_shape": .ints([])])
        }
        expectFailure("ConvTranspose output_padding as large as the stride", containing: "output_padding") {
            try run("ConvTranspose", input: [1, 1, 3, 3], constants: [w], attributes: ["strides": .ints([1, 1]), "output_padding": .ints([1, 1])])
        }
        expectFailure("ConvTranspose with a bias of the wrong size", containing: "bias [3] should be [1]") {
            try run("ConvTranspose", input: [1, 1, 3, 3], constants: [w, Tensor.ones([3])])
        }
        let c = Tensor.ones([2])
        expectFailure("BatchNormalization in training mode over one value per channel", containing: "more than one value per channel") {
            try run("BatchNormalization", input: [1, 2, 1, 1], constants: [c, c, c, c], attributes: ["training_mode": .int(1)])
        }
    }
}
