import Foundation
@testable import Lang
@testable import Plugins
@testable import Runtime

/// The file readers: each takes the bytes of one file.
enum PNGTarget {
    static func run(_ bytes: [UInt8]) { _ = try? decodePNG(bytes, path: "fuzz.png") }
}

enum NPYTarget {
    static func run(_ bytes: [UInt8]) { _ = try? decodeNPY(bytes, path: "fuzz.npy") }
}

/// IDX, gzip-compressed or plain, then read as Fashion-MNIST images or labels.
enum IDXTarget {
    static func run(_ bytes: [UInt8]) {
        guard let raw = try? (isGzip(bytes) ? gunzip(bytes, path: "fuzz.gz") : bytes),
              let idx = try? parseIDX(raw, path: "fuzz.idx") else { return }
        _ = try? fashionMNISTImages(idx)
        _ = try? fashionMNISTLabels(idx)
    }
}

enum SalfitTarget {
    static func run(_ bytes: [UInt8]) { _ = try? FitState.decode(bytes, path: "fuzz.salfit") }
}

/// ONNX import, then the `layers(model)` builtin: one forward pass of a zero input of the
/// model's declared shape, capturing every node.
enum ONNXTarget {
    nonisolated(unsafe) static let interpreter = Interpreter(output: { _ in })
    static func run(_ bytes: [UInt8]) {
        guard let g = try? decodeONNX(Data(bytes), path: "fuzz.onnx") else { return }
        interpreter.define("m", .model(ModelValue(graph: g, source: "fuzz.onnx")))
        _ = try? interpreter.run("layers(m)", file: "fuzz.sal")
    }
}
