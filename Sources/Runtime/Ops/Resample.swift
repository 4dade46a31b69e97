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
        precondition(rank >= 2, "gaussianBlur: needs [..., H, W], got \(shape)")
        let kernel = Tensor.gaussianKernel1D(size: kernelSize, sigma: sigma)
        let (planes, h, w) = planeLayout("gaussianBlur", dims: 2)
        let hTaps = Tensor.reflectTaps(n: h, k: kernelSize), wTaps = Tensor.reflectTaps(n: w, k: kernelSize)
        let y = Tensor.blurPlanes(storage, planes: planes, h: h, w: w, kernel: kernel, hTaps: hTaps, wTaps: wTaps, transpose: false)
        let outShape = shape
        return Tensor(shape: outShape, data: y).recording("gaussian_blur", inputs: [self]) { g in
            [Tensor(shape: outShape, data: Tensor.blurPlanes(g.storage, planes: planes, h: h, w: w, kernel: kernel,
                                                             hTaps: hTaps, wTaps: wTaps, transpose: true))]
        }
    }

    /// For each output position i and tap t, the source index reflect(i + t - k/2) into 0..<n.
    private static func reflectTaps(n: Int, k: Int) -> [Int] {
        let r = k / 2
        func reflect(_ i: Int) -> Int {
            if n == 1 { return 0 }
            let period = 2 * (n - 1)
            var m = i % period
            if m < 0 { m += period }
            return m < n ? m : period - m
        }
        var taps = [Int](repeating: 0, count: n * k)
        for i in 0..<n { for t in 0..<k { taps[i * k + t] = reflect(i + t - r) } }
        return taps
    }

    /// Separable filtering of every plane: rows with `wTaps`, then columns with `hTaps`
    /// (gather form); with `transpose`, the adjoint (columns then rows, scatter form).
    private static func blurPlanes(_ input: [Float], planes: Int, h: Int, w: Int, kernel: [Float],
                                   hTaps: [Int], wTaps: [Int], transpose: Bool) -> [Float] {
        let k = kernel.count, hw = h * w
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
                            // Rows: tmp[i, j] = sum_t kernel[t] * src[i, wTaps[j, t]]
                            for i in 0..<h {
                                let row = src + i * w, trow = pt + i * w
                                for j in 0..<w {
                                    var acc: Float = 0
                                    for t in 0..<k { acc += kernel[t] * row[wTaps[j * k + t]] }
                                    trow[j] = acc
                                }
                            }
                            // Columns: dst[i, :] = sum_t kernel[t] * tmp[hTaps[i, t], :]
                            for i in 0..<h {
                                let drow = dst + i * w
                                for t in 0..<k {
                                    let kt = kernel[t], srow = pt + hTaps[i * k + t] * w
                                    for j in 0..<w { drow[j] += kt * srow[j] }
                                }
                            }
                        } else {
                            // Adjoint of the column pass: tmp[hTaps[i, t], :] += kernel[t] * src[i, :]
                            tb.update(repeating: 0)
                            for i in 0..<h {
                                let grow = src + i * w
                                for t in 0..<k {
                                    let kt = kernel[t], trow = pt + hTaps[i * k + t] * w
                                    for j in 0..<w { trow[j] += kt * grow[j] }
                                }
                            }
                            // Adjoint of the row pass: dst[i, wTaps[j, t]] += kernel[t] * tmp[i, j]
                            for i in 0..<h {
                                let trow = pt + i * w, drow = dst + i * w
                                for j in 0..<w {
                                    let v = trow[j]
                                    for t in 0..<k { drow[wTaps[j * k + t]] += kernel[t] * v }
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
