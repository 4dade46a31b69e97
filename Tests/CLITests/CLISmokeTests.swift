import Testing
import Foundation

/// Runs the built `saliency-bench` executable end to end.
@Test func benchHelpRuns() throws {
    let bin = productsDirectory.appendingPathComponent("saliency-bench")
    let p = Process()
    p.executableURL = bin
    p.arguments = ["--help"]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    p.waitUntilExit()
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    #expect(p.terminationStatus == 0)
    #expect(out.contains("runtime"))
}

var productsDirectory: URL {
    // The test bundle sits next to the executables in .build/<config>/.
    let bundle = Bundle.main.bundleURL
    return bundle.lastPathComponent.hasSuffix(".xctest") ? bundle.deletingLastPathComponent() : bundle
}
