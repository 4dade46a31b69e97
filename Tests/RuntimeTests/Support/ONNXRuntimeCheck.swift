import Foundation
@testable import Runtime

/// Runs an ONNX file through onnxruntime (test tooling only, installed by
/// `scripts/bootstrap --python-test-tools`) and returns the first output.
/// Input and output travel as raw little-endian float32 files.
func onnxRuntimeOutput(model: Graph, input: Tensor) throws -> Tensor {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ort-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let modelPath = dir.appendingPathComponent("m.onnx").path
    try model.saveONNX(path: modelPath)
    let inPath = dir.appendingPathComponent("in.f32").path, outPath = dir.appendingPathComponent("out.f32").path
    try input.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: inPath))
    let script = """
    import sys, numpy as np, onnxruntime as ort
    shape = [int(s) for s in sys.argv[3].split(",")]
    x = np.fromfile(sys.argv[2], dtype="<f4").reshape(shape)
    sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.ascontiguousarray(y, dtype="<f4").tofile(sys.argv[4])
    print(",".join(str(d) for d in y.shape))
    """
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", script, modelPath, inPath, input.shape.map(String.init).joined(separator: ","), outPath]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    p.waitUntilExit()
    let shapeText = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    guard p.terminationStatus == 0 else {
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        throw GraphError.badInput("onnxruntime failed (run scripts/bootstrap --python-test-tools):\n\(e)")
    }
    let shape = shapeText.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").map { Int($0)! }
    let data = try Data(contentsOf: URL(fileURLWithPath: outPath))
    let values = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    return Tensor(shape: shape, data: values)
}
