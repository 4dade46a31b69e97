import Foundation

/// Runs `python3 -c script args...` and returns its exit status, stdout and stderr (the
/// onnxruntime cross-checks of fitted states' graphs).
func runPython(_ script: String, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", script] + args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read before waiting: a child that fills a pipe buffer would otherwise never exit.
    let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, printed, errors)
}
