import Foundation
import Runtime

/// The libFuzzer entry points. `SAL_FUZZ_TARGET` names the target (see `FuzzTargets.all`);
/// every target feeds the bytes to one parser and ignores the error it throws: a finding is
/// a crash, a sanitizer report, a timeout or a leak of memory beyond libFuzzer's RSS limit.
enum FuzzTargets {
    nonisolated(unsafe) static let all: [String: ([UInt8]) -> Void] = [
        "sal": SalTarget.run,
        "pipeline": PipelineTarget.run,
        "onnx": ONNXTarget.run,
        "png": PNGTarget.run,
        "npy": NPYTarget.run,
        "idx": IDXTarget.run,
        "salfit": SalfitTarget.run,
        "resume": ResumeTarget.run,
        "manifest": ManifestTarget.run,
        "jupyter": JupyterTarget.run,
        "checkpoint": CheckpointTarget.run,
    ]
    nonisolated(unsafe) static var current: ([UInt8]) -> Void = { _ in }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["SAL_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.all[name] else {
        let names = FuzzTargets.all.keys.sorted().joined(separator: ", ")
        FileHandle.standardError.write(Data("set SAL_FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    FuzzTargets.current = target
    // A small budget: the point is that oversized claims are refused, not that they fit, and
    // libFuzzer's own RSS limit (2 GB) must stay above anything the budget lets through.
    MemoryBudget.limit = 64 << 20
    Threads.set(1)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzTargets.current(bytes)
    return 0
}
