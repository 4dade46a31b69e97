import CJPEG
import Foundation

/// Reads a JPEG file (libjpeg-turbo) into a [C, H, W] tensor in [0, 1]: C = 1 for gray files,
/// 3 otherwise (libjpeg converts YCbCr to RGB), 8-bit samples / 255 like `readPNG`.
public func readJPEG(path: String) throws -> Tensor {
    var pixels: UnsafeMutablePointer<UInt8>? = nil
    var w: Int32 = 0, h: Int32 = 0, c: Int32 = 0
    var message = [CChar](repeating: 0, count: 256)
    let status = sal_jpeg_decode(path, &pixels, &w, &h, &c, &message, message.count)
    guard status == 0, let pixels else {
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw IOError(path: path, message: "cannot decode JPEG: " + (text.isEmpty ? "unknown libjpeg error" : text))
    }
    defer { free(pixels) }
    let (width, height, channels) = (Int(w), Int(h), Int(c))
    let plane = width * height
    // Interleaved HWC bytes to planar CHW floats.
    return Tensor(shape: [channels, height, width]) { out in
        for p in 0..<plane {
            for k in 0..<channels { out[k * plane + p] = Float(pixels[p * channels + k]) / 255 }
        }
    }
}

/// Reads a .png, .jpg or .jpeg file by its extension.
public func readImage(path: String) throws -> Tensor {
    switch (path as NSString).pathExtension.lowercased() {
    case "jpg", "jpeg": return try readJPEG(path: path)
    default: return try readPNG(path: path)
    }
}

/// File extensions `readImage` reads.
public let imageFileExtensions: Set<String> = ["png", "jpg", "jpeg"]
