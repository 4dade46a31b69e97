import Foundation
import Runtime

/// Reading a script or pipeline file: a regular file (a FIFO would block the reader
/// forever), within the memory budget, and valid UTF-8. A bad byte is reported where it
/// is, `file:line:col`, with the line shown up to it, instead of "cannot read".
public enum SourceFile {
    /// The text of `path`; throws `ScriptError` (invalid UTF-8, at its position) or `IOError`.
    public static func read(_ path: String) throws -> String {
        try decode(try readFileBytes(path), file: path)
    }

    /// `bytes` as UTF-8 text; `file` names them in the error.
    public static func decode(_ bytes: [UInt8], file: String) throws -> String {
        guard let bad = firstInvalidByte(bytes) else { return String(decoding: bytes, as: UTF8.self) }
        let before = String(decoding: bytes[bad.lineStart..<bad.offset], as: UTF8.self)
        let loc = SourceLocation(file: file, line: bad.line, column: before.count + 1)
        let d = Diagnostic(.parse, loc, String(format: "invalid UTF-8 (byte 0x%02x at offset %d): scripts and pipelines are UTF-8 text", bytes[bad.offset], bad.offset))
        throw ScriptError([d], source: SourceText(file: file, text: String(repeating: "\n", count: bad.line - 1) + before))
    }

    /// Where the first byte that is not part of a valid UTF-8 sequence sits: its offset, its
    /// 1-based line and the offset its line starts at; nil when all of `bytes` is valid.
    /// (0x0A never occurs inside a multi-byte sequence, so lines are counted on raw bytes.)
    static func firstInvalidByte(_ bytes: [UInt8]) -> (offset: Int, line: Int, lineStart: Int)? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0, line = 1, lineStart = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case let .valid(encoded):
                if encoded.count == 1 && encoded.first == 0x0A { line += 1; lineStart = offset + 1 }
                offset += encoded.count
            case .error:
                return (offset, line, lineStart)
            case .emptyInput:
                return nil
            }
        }
    }
}
