import CPNG
import Foundation

// PNG reading and writing through libpng's simplified API (png_image). No setjmp: libpng
// reports failures through the return code and `png_image.message`.
//
// Decoding conventions (documented contract):
// - The result is a [C, H, W] float tensor in [0, 1]; C = 1 for gray and gray+alpha files,
//   C = 3 for RGB, RGBA and palette files (palette images are expanded by libpng).
// - Alpha is dropped by compositing on black: value * alpha.
// - Everything is decoded to 8 bits per channel (sRGB-encoded values / 255). 16-bit files
//   are treated as sRGB-encoded (PNG_IMAGE_FLAG_16BIT_sRGB) and reduced to 8-bit precision
//   by libpng, so a 16-bit sample s reads back as round(s / 257) / 255.

private let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

private func pngMessage(_ image: inout png_image) -> String {
    let text = withUnsafeBytes(of: &image.message) { raw -> String in
        let bytes = raw.bindMemory(to: UInt8.self)
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
    return text.isEmpty ? "unknown libpng error" : text
}

/// Reads a PNG file into a [C, H, W] tensor in [0, 1] (see the conventions above).
public func readPNG(path: String) throws -> Tensor {
    try decodePNG(try readFileBytes(path), path: path)
}

/// Decodes PNG bytes; `path` only names the source in errors.
public func decodePNG(_ data: [UInt8], path: String) throws -> Tensor {
    guard data.count >= 8 else {
        throw IOError(path: path, message: "truncated PNG: \(data.count) bytes, shorter than the signature")
    }
    guard Array(data[0..<8]) == pngSignature else {
        throw IOError(path: path, message: "bad PNG signature")
    }
    var image = png_image()
    image.version = png_uint_32(SAL_PNG_IMAGE_VERSION)
    defer { png_image_free(&image) }
    let begun = data.withUnsafeBytes { raw in
        png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count)
    }
    guard begun != 0 else {
        throw IOError(path: path, message: "invalid PNG: \(pngMessage(&image))")
    }
    // Set after begin_read (which re-initialises the struct); finish_read consults it.
    image.flags |= png_uint_32(PNG_IMAGE_FLAG_16BIT_sRGB)
    let width = Int(image.width), height = Int(image.height)
    let color = image.format & SAL_PNG_FORMAT_FLAG_COLOR != 0
    let alpha = image.format & SAL_PNG_FORMAT_FLAG_ALPHA != 0
    let outChannels = color ? 3 : 1
    let readChannels = outChannels + (alpha ? 1 : 0)
    image.format = color ? (alpha ? SAL_PNG_FORMAT_RGBA : SAL_PNG_FORMAT_RGB)
                         : (alpha ? SAL_PNG_FORMAT_GA : SAL_PNG_FORMAT_GRAY)
    guard width > 0, height > 0 else {
        throw IOError(path: path, message: "invalid PNG: empty image \(width)x\(height)")
    }
    let (rowBytes, o1) = width.multipliedReportingOverflow(by: readChannels)
    let (total, o2) = rowBytes.multipliedReportingOverflow(by: height)
    guard !o1, !o2, rowBytes <= Int(Int32.max) else {
        throw IOError(path: path, message: "PNG too large: \(width)x\(height)")
    }
    // Deflate cannot compress better than ~1032:1, and unpacking (1-bit palette -> RGBA) can
    // expand at most 32x more; a claimed size far beyond that is corrupt, and refusing it
    // early avoids allocating a huge buffer for a few bytes of input.
    guard total / 35_000 <= data.count + 64 else {
        throw IOError(path: path, message: "truncated PNG: \(width)x\(height) image in \(data.count) bytes")
    }
    // The 8-bit pixels and the float tensor are alive together, and 875 KB of deflate can
    // claim 30000x30000 pixels (total is bounded by the input size here: no overflow).
    try MemoryBudget.check(total + 4 * outChannels * width * height, "decoding \(path) (\(width)x\(height) pixels, \(outChannels) channel(s))")
    var buffer = [UInt8](repeating: 0, count: total)
    let finished = buffer.withUnsafeMutableBytes { raw in
        png_image_finish_read(&image, nil, raw.baseAddress, png_int_32(rowBytes), nil)
    }
    guard finished != 0 else {
        throw IOError(path: path, message: "corrupt PNG: \(pngMessage(&image))")
    }
    let plane = width * height
    return Tensor(shape: [outChannels, height, width]) { out in
        buffer.withUnsafeBufferPointer { src in
            for p in 0..<plane {
                let base = p * readChannels
                let a: Float = alpha ? Float(src[base + outChannels]) / 255 : 1
                for c in 0..<outChannels {
                    out[c * plane + p] = Float(src[base + c]) / 255 * a
                }
            }
        }
    }
}

/// Canonicalises an image tensor to (channels, height, width) for encoding.
private func imageLayout(_ image: Tensor, what: String) throws -> (c: Int, h: Int, w: Int) {
    var shape = image.shape
    if shape.count == 4 && shape[0] == 1 { shape.removeFirst() }
    if shape.count == 2 { shape.insert(1, at: 0) }
    guard shape.count == 3, shape[0] == 1 || shape[0] == 3, shape[1] > 0, shape[2] > 0 else {
        throw IOError(path: what, message: "cannot encode tensor of shape \(image.shape) as PNG; expected [1,H,W], [3,H,W] or [1,C,H,W]")
    }
    return (shape[0], shape[1], shape[2])
}

/// Encodes a [1,H,W] / [3,H,W] (or [1,C,H,W], or [H,W]) tensor as an 8-bit gray or RGB PNG.
/// Values are clamped to [0, 1] and rounded to the nearest of 256 levels; NaN becomes 0.
public func encodePNG(_ image: Tensor) throws -> [UInt8] {
    let (c, h, w) = try imageLayout(image, what: "<PNG encoder>")
    let plane = h * w
    var pixels = [UInt8](repeating: 0, count: plane * c)
    image.withUnsafeBufferPointer { src in
        for p in 0..<plane {
            for ch in 0..<c {
                let v = src[ch * plane + p]
                let clamped = v.isNaN ? 0 : Swift.min(Swift.max(v, 0), 1)
                pixels[p * c + ch] = UInt8((clamped * 255).rounded())
            }
        }
    }
    var png = png_image()
    png.version = png_uint_32(SAL_PNG_IMAGE_VERSION)
    png.width = png_uint_32(w)
    png.height = png_uint_32(h)
    png.format = c == 3 ? SAL_PNG_FORMAT_RGB : SAL_PNG_FORMAT_GRAY
    defer { png_image_free(&png) }
    let stride = png_int_32(w * c)
    var size: Int = 0
    let sized = pixels.withUnsafeBytes { raw in
        png_image_write_to_memory(&png, nil, &size, 0, raw.baseAddress, stride, nil)
    }
    guard sized != 0, size > 0 else {
        throw IOError(path: "<PNG encoder>", message: "libpng failed to size the image: \(pngMessage(&png))")
    }
    var out = [UInt8](repeating: 0, count: size)
    let ok = out.withUnsafeMutableBytes { dst in
        pixels.withUnsafeBytes { raw in
            png_image_write_to_memory(&png, dst.baseAddress, &size, 0, raw.baseAddress, stride, nil)
        }
    }
    guard ok != 0 else {
        throw IOError(path: "<PNG encoder>", message: "libpng failed to encode: \(pngMessage(&png))")
    }
    return Array(out.prefix(size))
}

/// Encodes `image` (see `encodePNG`) and writes it atomically to `path`.
public func writePNG(_ image: Tensor, path: String) throws {
    let bytes: [UInt8]
    do { bytes = try encodePNG(image) } catch let e as IOError {
        throw IOError(path: path, message: e.message)
    }
    try writeFileAtomically(bytes, to: path)
}

/// Loads a PNG (or a JPEG, by its extension: `readImage`) as a normalised [1, C, H, W] model input.
/// - gray: nil keeps the file's channels (1 for gray, 3 for colour); true converts colour to
///   luma (0.299 R + 0.587 G + 0.114 B); false replicates gray to 3 channels.
/// - mean, std: per-channel normalisation (x - mean) / std, each with 1 entry (applied to
///   all channels) or C entries; std entries must be non-zero.
public func imageTensor(fromPNG path: String, size: [Int]? = nil, gray: Bool? = nil, mean: [Float]? = nil,
                        std: [Float]? = nil) throws -> Tensor {
    var img = try readImage(path: path)
    if let size {
        // Bilinear resize (PyTorch's F.interpolate numerics, align_corners=False) before normalising.
        guard size.count == 2, size.allSatisfy({ $0 > 0 && $0 <= 16_384 }) else {
            throw IOError(path: path, message: "size must be [height, width] with positive entries, got \(size)")
        }
        if [img.shape[1], img.shape[2]] != size {
            img = img.reshaped([1] + img.shape).upsampleBilinear(size: size).reshaped([img.shape[0]] + size)
        }
    }
    var c = img.shape[0]
    let h = img.shape[1], w = img.shape[2], plane = h * w
    var values = img.scalars
    if gray == true && c == 3 {
        var y = [Float](repeating: 0, count: plane)
        for p in 0..<plane { y[p] = 0.299 * values[p] + 0.587 * values[plane + p] + 0.114 * values[2 * plane + p] }
        values = y; c = 1
    } else if gray == false && c == 1 {
        values = values + values + values; c = 3
    }
    func perChannel(_ v: [Float]?, _ name: String, default d: Float) throws -> [Float] {
        guard let v else { return [Float](repeating: d, count: c) }
        if v.count == 1 { return [Float](repeating: v[0], count: c) }
        guard v.count == c else {
            throw IOError(path: path, message: "\(name) has \(v.count) entries but the image has \(c) channel(s)")
        }
        return v
    }
    let m = try perChannel(mean, "mean", default: 0)
    let s = try perChannel(std, "std", default: 1)
    if let bad = s.first(where: { $0 == 0 || !$0.isFinite }) {
        throw IOError(path: path, message: "std entry \(bad) is not a usable divisor")
    }
    for ch in 0..<c {
        let inv = 1 / s[ch]
        for p in 0..<plane { values[ch * plane + p] = (values[ch * plane + p] - m[ch]) * inv }
    }
    return Tensor(shape: [1, c, h, w], data: values)
}
