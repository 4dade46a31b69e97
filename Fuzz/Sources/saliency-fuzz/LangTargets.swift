import Foundation
@testable import Lang
import Plugins
import Runtime

/// A script: UTF-8 check, lexer, parser and the resolver's name check (nothing runs).
enum SalTarget {
    static let known = Set(Builtins.names)
    static func run(_ bytes: [UInt8]) {
        guard let text = try? SourceFile.decode(bytes, file: "fuzz.sal") else { return }
        guard let program = try? Parser.parse(SourceText(file: "fuzz.sal", text: text)) else { return }
        _ = try? Resolver(known: known).check(program)
    }
}

/// A pipeline file: YAML, validation against the built-in registry, the dry-run plan and the
/// lowering of every step to the language. Pipelines that load plugins are skipped: a fuzzer
/// must not dlopen or run whatever files its paths happen to name.
enum PipelineTarget {
    static func run(_ bytes: [UInt8]) {
        guard let text = try? SourceFile.decode(bytes, file: "fuzz.yaml"),
              let root = try? YAMLValue.parse(text, file: "fuzz.yaml"), root["plugins"] == nil else { return }
        var v = PipelineValidator(registry: .shared)
        guard let p = try? v.validate(root: root, source: text, file: "fuzz.yaml") else { return }
        let runner = PipelineRunner(pipeline: p, outputDirectory: "/nonexistent/fuzz-out")
        _ = runner.plan()
        for step in p.steps { _ = runner.lower(step) }
    }
}

/// A resume block: the first byte picks maps or scores; the rest is the payload, wrapped in
/// a valid header and checksum so the fuzzer explores the decoder rather than the SHA-256.
/// (A damaged checksum is its own test in ResumeCacheTests.)
enum ResumeTarget {
    static func run(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let kind = first & 1 == 0 ? UInt8(ascii: "M") : UInt8(ascii: "S")
        var w = BlockWriter()
        w.raw(Array(blockMagic.utf8))
        w.u8(kind)
        w.string("fuzz")
        w.raw(Array(bytes.dropFirst()))
        var h = SHA256()
        h.update(w.bytes)
        let block = w.bytes + h.finalize()
        guard var r = try? BlockReader(block: block, kind: kind, key: "fuzz") else { return }
        if kind == UInt8(ascii: "M") { _ = try? r.saliency() } else { _ = try? r.metricResult() }
        _ = try? r.finish()
    }
}
