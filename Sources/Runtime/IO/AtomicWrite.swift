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

/// Reads a whole file into bytes, reporting failures as `IOError`. Only regular files (or
/// symlinks to one): reading a FIFO would block forever and a device never ends. The size
/// is checked against the memory budget before reading.
public func readFileBytes(_ path: String) throws -> [UInt8] {
    try checkRegularFile(path)
    guard let data = FileManager.default.contents(atPath: path) else {
        throw IOError(path: path, message: "cannot read file")
    }
    return [UInt8](data)
}

/// Throws unless `path` names a regular file (after following symlinks) whose size fits the
/// memory budget: what every reader checks before opening, so a FIFO, a directory or a
/// device is an error and not a hang.
public func checkRegularFile(_ path: String) throws {
    var st = stat()
    guard stat(path, &st) == 0 else {
        let e = errno
        throw IOError(path: path, message: e == ENOENT ? "no such file" : "cannot read file: \(String(cString: strerror(e)))")
    }
    switch st.st_mode & S_IFMT {
    case S_IFREG: break
    case S_IFDIR: throw IOError(path: path, message: "is a directory, expected a file")
    case S_IFIFO: throw IOError(path: path, message: "is a FIFO (named pipe), expected a regular file")
    case S_IFCHR, S_IFBLK: throw IOError(path: path, message: "is a device, expected a regular file")
    case S_IFSOCK: throw IOError(path: path, message: "is a socket, expected a regular file")
    default: throw IOError(path: path, message: "is not a regular file")
    }
    try MemoryBudget.check(Int(st.st_size), "reading \(path)")
}
