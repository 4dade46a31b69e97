import Foundation

// Resampling of the trailing spatial axes (nearest, bilinear) and separable Gaussian blur.
// Every op views the tensor as planes of [H, W] (or [L] for 1-D sizes): all leading axes
// (N, C, ...) are independent planes, which is also what the loops parallelise over.

/// Source taps of one output coordinate for linear interpolation along one axis.
private struct LinearTaps {
    var i0: [Int], i1: [Int], w0: [Float], w1: [Float]

    /// PyTorch's CPU upsample_linear index/weight computation, in Float like PyTorch's
    /// float kernels: scale = in/out (align_corners=False) or (in-1)/(out-1) (True, 0 for
    /// out == 1); source = max(scale * (dst + 0.5) - 0.5, 0) or scale * dst.
    init(input n: Int, output m: Int, alignCorners: Bool) {
        let scale: Float = alignCorners ? (m > 1 ? Float(n - 1) / Float(m - 1) : 0) : Float(n) / Float(m)
        i0 = [Int](repeating: 0, count: m); i1 = i0
        w0 = [Float](repeating: 0, count: m); w1 = w0
        for d in 0..<m {
            let src: Float = alignCorners ? scale * Float(d) : Swift.max(scale * (Float(d) + 0.5) - 0.5, 0)
            let lo = Swift.min(Int(src), n - 1)
            let l1 = Swift.min(Swift.max(src - Float(lo), 0), 1)
            i0[d] = lo
            i1[d] = lo + (lo < n - 1 ? 1 : 0)
            w1[d] = l1
            w0[d] = 1 - l1
        }
    }
}

/// What a blur reads beyond the border.
public enum BlurPadding: String, Sendable, CaseIterable {
    /// Zeros, so the borders darken: RISE's `conv2d(x, gkern(11, 5), padding=5)`.
    case zero
    /// The mirror image without repeating the edge pixel (torchvision's GaussianBlur); padding
    /// wider than the image keeps reflecting back and forth.
    case reflect
}

/// For each output position i and tap t of a 1-D filter along one axis: the source index and
/// its weight. Zero padding is a weight of 0 (on index 0, any valid index), so the loops stay
/// branch-free.
private struct BlurTaps {
    var index: [Int], weight: [Float]

    init(n: Int, kernel: [Float], padding: BlurPadding) {
        let k = kernel.count, r = k / 2
        index = [Int](repeating: 0, count: n * k)
        weight = [Float](repeating: 0, count: n * k)
        for i in 0..<n {
            for t in 0..<k {
                let src = i + t - r
                switch padding {
                case .zero:
                    if src >= 0 && src < n { index[i * k + t] = src; weight[i * k + t] = kernel[t] }
                case .reflect:
                    var m = 0
                    if n > 1 {
                        let period = 2 * (n - 1)
                        m = src % period
                        if m < 0 { m += period }
                        if m >= n { m = period - m }
                    }
                    index[i * k + t] = m; weight[i * k + t] = kernel[t]
                }
            }
        }
    }
}

extension Tensor {
    /// Splits the shape for a spatial op on the trailing `dims` axes (1 or 2):
    /// (number of planes, input H, input W) with H = 1 for 1-D.
    fileprivate func planeLayout(_ op: String, dims: Int) -> (planes: Int, h: Int, w: Int) {
        precondition(dims == 1 || dims == 2, "\(op): size must give 1 or 2 spatial sizes")
        precondition(rank >= dims, "\(op): tensor of shape \(shape) has fewer than \(dims) spatial axes")
        let h = dims == 2 ? shape[rank - 2] : 1, w = shape[rank - 1]
        return (shape[..<(rank - dims)].reduce(1, *), h, w)
    }

    /// Nearest-neighbour resize of the trailing axes to `size` ([outH, outW], or [outL]),
    /// PyTorch's legacy `mode='nearest'`: src = min(floor(dst * in / out), in - 1), in Float.
    /// The gradient sums each output's gradient into its source.
    public func upsampleNearest(size: [Int]) -> Tensor {
        let (planes, h, w) = planeLayout("upsampleNearest", dims: size.count)
        let oh = size.count == 2 ? size[0] : 1, ow = size[size.count - 1]
        precondition(oh > 0 && ow > 0 && h > 0 && w > 0, "upsampleNearest: empty size \(size) or input \(shape)")
        func indices(_ n: Int, _ m: Int) -> [Int] {
            let scale = Float(n) / Float(m)
            return (0..<m).map { Swift.min(Int(Float($0) * scale), n - 1) }
        }
        let hi = indices(h, oh), wi = indices(w, ow)
        let outShape = Array(shape[..<(rank - size.count)]) + size
        let y = Tensor(shape: outShape) { o in
            storage.withUnsafeBufferPointer { x in
                let (px, po) = (x.baseAddress!, o.baseAddress!)
                Threads.parallelFor(planes, minPerThread: Swift.max(1, (1 << 15) / (oh * ow))) { r in
                    for p in r {
                        for i in 0..<oh {
                            let src = px + p * h * w + hi[i] * w, dst = po + (p * oh + i) * ow
                            for j in 0..<ow { dst[j] = src[wi[j]] }
                        }
                    }
                }
            }
        }
        let inShape = shape
        return y.recording("upsample_nearest", inputs: [self]) { g in
            [Tensor(shape: inShape) { d in
                g.storage.withUnsafeBufferPointer { gp in
                    let (pg, pd) = (gp.baseAddress!, d.baseAddress!)
                    Threads.parallelFor(planes, minPerThread: Swift.max(1, (1 << 15) / (oh * ow))) { r in
                        for p in r {
                            for i in 0..<oh {
                                let src = pg + (p * oh + i) * ow, dst = pd + p * h * w + hi[i] * w
                                for j in 0..<ow { dst[wi[j]] += src[j] }
                            }
                        }
                    }
                }
            }]
        }
    }

    /// Bilinear resize of the trailing two axes to `size` = [outH, outW] (linear for a
    /// one-element size), matching PyTorch `F.interpolate(mode='bilinear', antialias=False)`
    /// for both `align_corners` settings, downsampling included. Differentiable.
    public func upsampleBilinear(size: [Int], alignCorners: Bool = false) -> Tensor {
        let (planes, h, w) = planeLayout("upsampleBilinear", dims: size.count)
        let oh = size.count == 2 ? size[0] : 1, ow = size[size.count - 1]
        precondition(oh > 0 && ow > 0 && h > 0 && w > 0, "upsampleBilinear: empty size \(size) or input \(shape)")
        let th = LinearTaps(input: h, output: oh, alignCorners: alignCorners)
        let tw = LinearTaps(input: w, output: ow, alignCorners: alignCorners)
        let outShape = Array(shape[..<(rank - size.count)]) + size
        let y = Tensor(shape: outShape) { o in
            storage.withUnsafeBufferPointer { x in
                let (px, po) = (x.baseAddress!, o.baseAddress!)
                Threads.parallelFor(planes, minPerThread: Swift.max(1, (1 << 14) / (oh * ow))) { r in
                    for p in r {
                        let plane = px + p * h * w
                        for i in 0..<oh {
                            let r0 = plane + th.i0[i] * w, r1 = plane + th.i1[i] * w
                            let (a0, a1) = (th.w0[i], th.w1[i])
                            let dst = po + (p * oh + i) * ow
                            for j in 0..<ow {
                                let (j0, j1, b0, b1) = (tw.i0[j], tw.i1[j], tw.w0[j], tw.w1[j])
                                dst[j] = a0 * (b0 * r0[j0] + b1 * r0[j1]) + a1 * (b0 * r1[j0] + b1 * r1[j1])
                            }
                        }
                    }
                }
            }
        }
        let inShape = shape
        return y.recording("upsample_bilinear", inputs: [self]) { g in
            [Tensor(shape: inShape) { d in
                g.storage.withUnsafeBufferPointer { gp in
                    let (pg, pd) = (gp.baseAddress!, d.baseAddress!)
                    Threads.parallelFor(planes, minPerThread: Swift.max(1, (1 << 14) / (oh * ow))) { r in
                        for p in r {
                            let plane = pd + p * h * w
                            for i in 0..<oh {
                                let r0 = plane + th.i0[i] * w, r1 = plane + th.i1[i] * w
                                let (a0, a1) = (th.w0[i], th.w1[i])
                                let src = pg + (p * oh + i) * ow
                                for j in 0..<ow {
                                    let (j0, j1, b0, b1) = (tw.i0[j], tw.i1[j], tw.w0[j], tw.w1[j])
                                    let gv = src[j]
                                    r0[j0] += a0 * b0 * gv; r0[j1] += a0 * b1 * gv
                                    r1[j0] += a1 * b0 * gv; r1[j1] += a1 * b1 * gv
                                }
                            }
                        }
                    }
                }
            }]
        }
    }

    /// The normalised 1-D Gaussian kernel torchvision uses: taps at
    /// linspace(-(k-1)/2, (k-1)/2, k), weights exp(-x²/(2σ²)) divided by their sum.
    public static func gaussianKernel1D(size k: Int, sigma: Float) -> [Float] {
        precondition(k > 0 && k % 2 == 1, "gaussian kernel size must be odd and positive, got \(k)")
        precondition(sigma > 0, "gaussian sigma must be positive, got \(sigma)")
        let half = Float(k - 1) * 0.5
        let pdf = (0..<k).map { i -> Float in
            let x = (-half + Float(i)) / sigma
            return Foundation.exp(-0.5 * x * x)
        }
        let s = pdf.reduce(0, +)
        return pdf.map { $0 / s }
    }

    /// Gaussian blur of the trailing two axes (each [H, W] plane separately), as torchvision's
    /// `GaussianBlur(kernelSize, sigma)`: odd kernel, reflect padding of kernelSize / 2 (edge
    /// not repeated; padding wider than the image keeps reflecting back and forth), applied
    /// separably (rows, then columns). Linear, so the gradient is the transposed filter.
    public func gaussianBlur(kernelSize: Int, sigma: Float) -> Tensor {
        separableBlur(kernel: Tensor.gaussianKernel1D(size: kernelSize, sigma: sigma), padding: .reflect)
    }

    /// Filters the trailing two axes with the odd 1-D `kernel` along rows, then columns (the
    /// 2-D kernel is its outer product; cross-correlation, which for a symmetric kernel is
    /// also convolution), padding kernel.count / 2 pixels as `padding` says. Linear, so the
    /// gradient is the transposed filter.
    public func separableBlur(kernel: [Float], padding: BlurPadding) -> Tensor {
        precondition(rank >= 2, "separableBlur: needs [..., H, W], got \(shape)")
        precondition(kernel.count % 2 == 1, "separableBlur: the kernel needs an odd length, got \(kernel.count)")
        let (planes, h, w) = planeLayout("separableBlur", dims: 2)
        let hTaps = BlurTaps(n: h, kernel: kernel, padding: padding), wTaps = BlurTaps(n: w, kernel: kernel, padding: padding)
        let y = Tensor.blurPlanes(storage, planes: planes, h: h, w: w, k: kernel.count, hTaps: hTaps, wTaps: wTaps, transpose: false)
        let outShape = shape
        return Tensor(shape: outShape, data: y).recording("gaussian_blur", inputs: [self]) { g in
            [Tensor(shape: outShape, data: Tensor.blurPlanes(g.storage, planes: planes, h: h, w: w, k: kernel.count,
                                                             hTaps: hTaps, wTaps: wTaps, transpose: true))]
        }
    }

    /// The 1-D factor of RISE's `gkern(klen, nsig)` (its evaluation code's insertion blur):
    /// scipy.ndimage.gaussian_filter of a centred delta of length `size` — a Gaussian sampled
    /// at integer offsets up to int(4σ + 0.5) (scipy's truncate = 4), normalised over them,
    /// then folded back into the `size` taps by scipy's default 'reflect' boundary (half-sample
    /// symmetric: d c b a | a b c d | d c b a). gkern's 2-D kernel is the outer product of this
    /// with itself exactly (gaussian_filter is separable). For size 11, σ 5 the Gaussian reaches
    /// 20 taps out and the folding makes the kernel nearly flat — 0.0880 at the ends, 0.0940 in
    /// the middle — so RISE's blur is close to an 11 x 11 box filter, not the truncated Gaussian
    /// of `gaussianKernel1D` (whose ends are 0.61 of its middle).
    public static func riseGaussianKernel1D(size k: Int, sigma: Float) -> [Float] {
        precondition(k > 0 && k % 2 == 1, "gaussian kernel size must be odd and positive, got \(k)")
        precondition(sigma > 0, "gaussian sigma must be positive, got \(sigma)")
        let s = Double(sigma), radius = Int(4 * s + 0.5)
        let weights = (-radius...radius).map { Foundation.exp(-0.5 * (Double($0) / s) * (Double($0) / s)) }
        let total = weights.reduce(0, +)
        var out = [Double](repeating: 0, count: k)
        for i in 0..<k {
            for (t, wt) in weights.enumerated() {
                // scipy's 'reflect': period 2k, the second half mirrored with the edge repeated.
                var m = (i + t - radius) % (2 * k)
                if m < 0 { m += 2 * k }
                if (m < k ? m : 2 * k - 1 - m) == k / 2 { out[i] += wt / total }
            }
        }
        return out.map { Float($0) }
    }

    /// Separable filtering of every plane: rows with `wTaps`, then columns with `hTaps`
    /// (gather form); with `transpose`, the adjoint (columns then rows, scatter form).
    private static func blurPlanes(_ input: [Float], planes: Int, h: Int, w: Int, k: Int,
                                   hTaps: BlurTaps, wTaps: BlurTaps, transpose: Bool) -> [Float] {
        let hw = h * w
        var out = [Float](repeating: 0, count: input.count)
        guard hw > 0 else { return out }
        input.withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in
            let (px, po) = (xb.baseAddress!, ob.baseAddress!)
            Threads.parallelFor(planes, minPerThread: Swift.max(1, (1 << 13) / hw)) { range in
                var tmp = [Float](repeating: 0, count: hw)
                tmp.withUnsafeMutableBufferPointer { tb in
                    let pt = tb.baseAddress!
                    for p in range {
                        let src = px + p * hw, dst = po + p * hw
                        if !transpose {
                            // Rows: tmp[i, j] = sum_t weight[j, t] * src[i, index[j, t]]
                            for i in 0..<h {
                                let row = src + i * w, trow = pt + i * w
                                for j in 0..<w {
                                    var acc: Float = 0
                                    for t in 0..<k { acc += wTaps.weight[j * k + t] * row[wTaps.index[j * k + t]] }
                                    trow[j] = acc
                                }
                            }
                            // Columns: dst[i, :] = sum_t weight[i, t] * tmp[index[i, t], :]
                            for i in 0..<h {
                                let drow = dst + i * w
                                for t in 0..<k {
                                    let kt = hTaps.weight[i * k + t], srow = pt + hTaps.index[i * k + t] * w
                                    for j in 0..<w { drow[j] += kt * srow[j] }
                                }
                            }
                        } else {
                            // Adjoint of the column pass: tmp[index[i, t], :] += weight[i, t] * src[i, :]
                            tb.update(repeating: 0)
                            for i in 0..<h {
                                let grow = src + i * w
                                for t in 0..<k {
                                    let kt = hTaps.weight[i * k + t], trow = pt + hTaps.index[i * k + t] * w
                                    for j in 0..<w { trow[j] += kt * grow[j] }
                                }
                            }
                            // Adjoint of the row pass: dst[i, index[j, t]] += weight[j, t] * tmp[i, j]
                            for i in 0..<h {
                                let trow = pt + i * w, drow = dst + i * w
                                for j in 0..<w {
                                    let v = trow[j]
                                    for t in 0..<k { drow[wTaps.index[j * k + t]] += wTaps.weight[j * k + t] * v }
                                }
                            }
                        }
                    }
                }
            }
        } }
        return out
    }
}
