import CZlib

/// Decompresses gzip (or zlib) data with zlib's inflate, auto-detecting the wrapper
/// (windowBits 15 + 32). Concatenated gzip members are decompressed one after another, as
/// `gunzip` does. Output is produced in fixed-size chunks, so memory is the result plus one
/// chunk.
///
/// Truncated, corrupt (bad header, bad deflate data, CRC-32 or length mismatch) or trailing
/// garbage input throws an `IOError` naming `path`; it never traps. Output beyond `limit`
/// bytes (the memory budget: deflate expands up to 1032:1, so 6 MB can claim 6 GB) stops
/// the decompression with a `MemoryBudgetExceeded` error.
public func gunzip(_ data: [UInt8], path: String, limit: Int = MemoryBudget.limit) throws -> [UInt8] {
    if data.isEmpty { throw IOError(path: path, message: "empty input, expected gzip data") }

    var stream = z_stream()
    let initStatus = inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard initStatus == Z_OK else {
        throw IOError(path: path, message: "cannot initialise zlib (status \(initStatus))")
    }
    defer { inflateEnd(&stream) }

    let chunkSize = 1 << 18
    let chunk = UnsafeMutablePointer<UInt8>.allocate(capacity: chunkSize)
    defer { chunk.deallocate() }

    var out: [UInt8] = []
    // The gzip trailer holds the uncompressed size mod 2^32: a capacity hint only (it may
    // be corrupt, so it is capped by a generous multiple of the input size).
    if data.count >= 18 {
        let n = data.count
        let isize = Int(data[n - 4]) | Int(data[n - 3]) << 8 | Int(data[n - 2]) << 16 | Int(data[n - 1]) << 24
        out.reserveCapacity(Swift.min(isize, data.count * 64, limit))
    }

    func zlibMessage(_ status: Int32) -> String {
        if let m = stream.msg { return String(cString: m) }
        return "zlib status \(status)"
    }

    try data.withUnsafeBufferPointer { input in
        let base = UnsafeMutablePointer(mutating: input.baseAddress!)
        var consumed = 0          // bytes of `input` handed to zlib so far
        let maxFeed = 1 << 30     // avail_in is 32-bit
        stream.next_in = base
        stream.avail_in = 0
        while true {
            if stream.avail_in == 0 && consumed < input.count {
                let n = Swift.min(maxFeed, input.count - consumed)
                stream.next_in = base + consumed
                stream.avail_in = UInt32(n)
                consumed += n
            }
            stream.next_out = chunk
            stream.avail_out = UInt32(chunkSize)
            let status = inflate(&stream, Z_NO_FLUSH)
            let produced = chunkSize - Int(stream.avail_out)
            if out.count + produced > limit {
                throw MemoryBudgetExceeded(what: "decompressing \(path)", bytes: out.count + produced, limit: limit, atLeast: true)
            }
            if produced > 0 { out.append(contentsOf: UnsafeBufferPointer(start: chunk, count: produced)) }

            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                let remaining = Int(stream.avail_in) + (input.count - consumed)
                if remaining == 0 { return }
                // Another gzip member follows (concatenated .gz files): keep going.
                let next = input.count - remaining
                if remaining >= 2 && input[next] == 0x1f && input[next + 1] == 0x8b {
                    guard inflateReset(&stream) == Z_OK else {
                        throw IOError(path: path, message: "cannot reset zlib for the next gzip member")
                    }
                    continue
                }
                throw IOError(path: path, message: "\(remaining) bytes of trailing data after the compressed stream")
            case Z_BUF_ERROR:
                // No progress possible: with output space left, that means input ran out.
                if stream.avail_in == 0 && consumed == input.count {
                    throw IOError(path: path, message: "truncated gzip data (stream ends after \(input.count) bytes, \(out.count) bytes decompressed)")
                }
                continue
            case Z_NEED_DICT:
                throw IOError(path: path, message: "corrupt gzip data: stream asks for a preset dictionary")
            case Z_DATA_ERROR:
                throw IOError(path: path, message: "corrupt gzip data: \(zlibMessage(status))")
            case Z_MEM_ERROR:
                throw IOError(path: path, message: "out of memory while decompressing")
            default:
                throw IOError(path: path, message: "decompression failed: \(zlibMessage(status))")
            }
        }
    }
    return out
}

/// True when `data` starts with the gzip magic bytes 1f 8b.
public func isGzip(_ data: [UInt8]) -> Bool {
    data.count >= 2 && data[0] == 0x1f && data[1] == 0x8b
}
