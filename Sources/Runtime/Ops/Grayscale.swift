/// Grayscale of image batches [N, C, H, W]: ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B)
/// for three channels, the channel itself for one, and the channel mean otherwise. The one
/// definition the metrics (SSIM, the thesis' "convert ... into grayscale") and the explainers
/// that output image content (Noise Mask's kept and composite outputs) share.
extension Tensor {
    /// The grayscale plane of image `i` as a flat [H·W] array.
    public func grayscalePlane(_ i: Int) -> [Float] {
        let (c, hw) = (shape[1], shape[2] * shape[3])
        var out = [Float](repeating: 0, count: hw)
        withUnsafeBufferPointer { src in
            let base = i * c * hw
            if c == 3 {
                for p in 0..<hw { out[p] = 0.299 * src[base + p] + 0.587 * src[base + hw + p] + 0.114 * src[base + 2 * hw + p] }
            } else {
                for ch in 0..<c { for p in 0..<hw { out[p] += src[base + ch * hw + p] } }
                if c > 1 { let s = 1 / Float(c); for p in 0..<hw { out[p] *= s } }
            }
        }
        return out
    }

    /// Every image's grayscale plane: [N, 1, H, W].
    public func grayscale() -> Tensor {
        let (n, h, w) = (shape[0], shape[2], shape[3])
        var data: [Float] = []
        data.reserveCapacity(n * h * w)
        for i in 0..<n { data += grayscalePlane(i) }
        return Tensor(shape: [n, 1, h, w], data: data)
    }
}
