import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `bytes` to `path` atomically: the data goes to a temporary file in the same
/// directory, is flushed with `fsync`, and is then renamed over `path`. On any failure the
/// temporary file is removed, so `path` is either untouched or complete — never partial.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    let base = url.lastPathComponent
    guard !base.isEmpty else { throw IOError(path: path, message: "not a file path") }
    var template = Array("\(dir.isEmpty ? "." : dir)/.\(base).tmp-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else {
        throw IOError(path: path, message: "cannot create temporary file: \(String(cString: strerror(errno)))")
    }
    let tmpPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    var ok = false
    defer {
        if !ok { unlink(tmpPath) }
    }
    var written = 0
    let total = bytes.count
    let writeError: Int32? = bytes.withUnsafeBytes { raw -> Int32? in
        while written < total {
            let n = write(fd, raw.baseAddress! + written, total - written)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            written += n
        }
        return nil
    }
    if let e = writeError {
        close(fd)
        throw IOError(path: path, message: "write failed: \(String(cString: strerror(e)))")
    }
    // mkstemp creates 0600; give the file ordinary rw-r--r-- permissions. (umask is not
    // consulted: reading it requires setting it, which races with other threads.)
    fchmod(fd, 0o644)
    if fsync(fd) != 0 {
        let e = errno
        close(fd)
        throw IOError(path: path, message: "fsync failed: \(String(cString: strerror(e)))")
    }
    if close(fd) != 0 {
        throw IOError(path: path, message: "close failed: \(String(cString: strerror(errno)))")
    }
    if rename(tmpPath, path) != 0 {
        throw IOError(path: path, message: "rename failed: \(String(cString: strerror(errno)))")
    }
    ok = true
    // Best effort: persist the directory entry too.
    let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
    if dfd >= 0 { _ = fsync(dfd); close(dfd) }
}

/// Reads a whole file into bytes, reporting failures as `IOError`.
func readFileBytes(_ path: String) throws -> [UInt8] {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
        throw IOError(path: path, message: "no such file")
    }
    if isDir.boolValue { throw IOError(path: path, message: "is a directory, expected a file") }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw IOError(path: path, message: "cannot read file")
    }
    return [UInt8](data)
}
