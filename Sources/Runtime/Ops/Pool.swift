// Pooling (NCHW): max (with switches and unpooling for the deconvnet), average, global and
// adaptive average. Direct loops, parallel over the N*C planes.

/// Where each output of a max pooling took its value from: for output element i (row-major
/// over [N, C, Ho, Wo]), the flat index within its [H, W] input plane, as PyTorch's
/// `return_indices`. `inputShape` is the pooled tensor's [N, C, H, W].
public struct PoolSwitches: Sendable {
    public let inputShape: [Int]
    public let indices: [Int32]

    public init(inputShape: [Int], indices: [Int32]) {
        self.inputShape = inputShape
        self.indices = indices
    }
}

/// Sliding-window geometry of a 2-D pooling.
struct PoolGeometry {
    let n, c, h, w: Int
    let kh, kw, sh, sw: Int
    let pt, pl, pb, pr: Int
    let dh, dw: Int
    let ho, wo: Int

    var planes: Int { n * c }
    var inPlane: Int { h * w }
    var outPlane: Int { ho * wo }

    /// Output length along one axis, as PyTorch / ONNX: in ceil mode the last window must
    /// start inside the input or the leading padding.
    static func outSize(_ input: Int, kernel: Int, stride: Int, padBegin: Int, padEnd: Int, dilation: Int, ceilMode: Bool) -> Int {
        let span = input + padBegin + padEnd - dilation * (kernel - 1) - 1
        var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
        if ceilMode && (out - 1) * stride >= input + padBegin { out -= 1 }
        return out
    }

    init(op: String, input: [Int], kernel: [Int], stride: [Int]?, padding: [Int], dilation: [Int], ceilMode: Bool) {
        precondition(input.count == 4, "\(op): input must be [N, C, H, W], got \(input)")
        (n, c, h, w) = (input[0], input[1], input[2], input[3])
        (kh, kw) = spatialPair(kernel, "kernel", op: op)
        (sh, sw) = spatialPair(stride ?? kernel, "stride", op: op)
        (dh, dw) = spatialPair(dilation, "dilation", op: op)
        precondition(kh > 0 && kw > 0 && sh > 0 && sw > 0 && dh > 0 && dw > 0,
                     "\(op): kernel \(kernel), stride \(stride ?? kernel) and dilation \(dilation) must be positive")
        let p = paddingQuad(padding, op: op)
        (pt, pl, pb, pr) = (p.top, p.left, p.bottom, p.right)
        let effH = dh * (kh - 1) + 1, effW = dw * (kw - 1) + 1
        precondition(h + pt + pb >= effH && w + pl + pr >= effW,
                     "\(op): kernel \(kernel) with dilation \(dilation) (extent \(effH)x\(effW)) is larger than the padded input \(input) with padding \(padding)")
        ho = PoolGeometry.outSize(h, kernel: kh, stride: sh, padBegin: pt, padEnd: pb, dilation: dh, ceilMode: ceilMode)
        wo = PoolGeometry.outSize(w, kernel: kw, stride: sw, padBegin: pl, padEnd: pr, dilation: dw, ceilMode: ceilMode)
    }

    /// Precondition: every window covers at least one input cell (padding alone never forms
    /// a window; PyTorch enforces this through padding <= kernel / 2).
    func requireNonEmptyWindows(op: String, input: [Int], kernel: [Int], padding: [Int]) {
        for oh in 0..<ho {
            precondition(!validRange(offset: oh * sh - pt, stride: dh, inSize: h, outSize: kh).isEmpty,
                         "\(op): output row \(oh) of input \(input) with kernel \(kernel), padding \(padding) sees only padding")
        }
        for ow in 0..<wo {
            precondition(!validRange(offset: ow * sw - pl, stride: dw, inSize: w, outSize: kw).isEmpty,
                         "\(op): output column \(ow) of input \(input) with kernel \(kernel), padding \(padding) sees only padding")
        }
    }

    /// Planes per parallel chunk for a loop costing about `work` per plane.
    func minPlanes(work: Int) -> Int { Swift.max(1, 32_768 / Swift.max(work, 1)) }
}

extension Tensor {
    // MARK: max pooling

    /// Max pooling; padded cells never win. `stride` defaults to `kernel`; `padding` is
    /// (h, w) or (top, left, bottom, right). The switches are found only when a gradient can
    /// flow (inference needs the values alone).
    public func maxPool2d(kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0], dilation: [Int] = [1, 1],
                          ceilMode: Bool = false) -> Tensor {
        if Autograd.isRecording && requiresGrad {
            return maxPool2dWithSwitches(kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode).output
        }
        let geo = PoolGeometry(op: "maxPool2d", input: shape, kernel: kernel, stride: stride, padding: padding,
                               dilation: dilation, ceilMode: ceilMode)
        geo.requireNonEmptyWindows(op: "maxPool2d", input: shape, kernel: kernel, padding: padding)
        return MaxPoolPass(geo).run(self, switches: false).output
    }

    /// Max pooling that also returns the switches (argmax positions) for `maxUnpool2d`.
    public func maxPool2dWithSwitches(kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0],
                                      dilation: [Int] = [1, 1], ceilMode: Bool = false) -> (output: Tensor, switches: PoolSwitches) {
        let op = "maxPool2d"
        let geo = PoolGeometry(op: op, input: shape, kernel: kernel, stride: stride, padding: padding,
                               dilation: dilation, ceilMode: ceilMode)
        geo.requireNonEmptyWindows(op: op, input: shape, kernel: kernel, padding: padding)
        let (out, indices) = MaxPoolPass(geo).run(self, switches: true)
        let switches = PoolSwitches(inputShape: shape, indices: indices)
        let recorded = out.recording(op, inputs: [self]) { g in [Tensor.unpoolRaw(g, switches)] }
        return (recorded, switches)
    }

    /// Places each value of `self` ([N, C, Ho, Wo], one per switch) at its switch position in
    /// a zero tensor of `switches.inputShape`. Where overlapping windows share a switch the
    /// values add up, which makes this exactly the adjoint of max pooling's selection (the
    /// gradient of max pooling is `maxUnpool2d` of the output gradient). Differentiable.
    public func maxUnpool2d(_ switches: PoolSwitches) -> Tensor {
        let s = switches.inputShape
        precondition(rank == 4 && s.count == 4 && shape[0] == s[0] && shape[1] == s[1] && count == switches.indices.count,
                     "maxUnpool2d: values \(shape) do not match switches of \(switches.indices.count) positions for input \(s)")
        let vshape = shape
        return Tensor.unpoolRaw(self.detached(), switches).recording("maxUnpool2d", inputs: [self]) { g in
            [Tensor.gatherSwitchesRaw(g, switches, outShape: vshape)]
        }
    }

    /// Zero tensor of `switches.inputShape` with `values` added at the switch positions.
    static func unpoolRaw(_ values: Tensor, _ switches: PoolSwitches) -> Tensor {
        let s = switches.inputShape
        let planes = s[0] * s[1], inPlane = s[2] * s[3]
        let outPlane = planes == 0 ? 0 : switches.indices.count / planes
        return Tensor(shape: s) { d in
            guard d.count > 0, outPlane > 0 else { return }
            values.withUnsafeBufferPointer { vb in switches.indices.withUnsafeBufferPointer { ib in
                let v = vb.baseAddress!, idx = ib.baseAddress!, dp = d.baseAddress!
                Threads.parallelFor(planes, minPerThread: Swift.max(1, 32_768 / outPlane)) { range in
                    for pi in range {
                        let dst = dp + pi * inPlane, src = v + pi * outPlane, sw = idx + pi * outPlane
                        for j in 0..<outPlane where sw[j] >= 0 { dst[Int(sw[j])] += src[j] }
                    }
                }
            } }
        }
    }

    /// For each switch, the value of `g` (shaped like the pooled input) at its position.
    static func gatherSwitchesRaw(_ g: Tensor, _ switches: PoolSwitches, outShape: [Int]) -> Tensor {
        let s = switches.inputShape
        let planes = s[0] * s[1], inPlane = s[2] * s[3]
        let outPlane = planes == 0 ? 0 : switches.indices.count / planes
        return Tensor(shape: outShape) { d in
            guard d.count > 0 else { return }
            g.withUnsafeBufferPointer { gb in switches.indices.withUnsafeBufferPointer { ib in
                let gp = gb.baseAddress!, idx = ib.baseAddress!, dp = d.baseAddress!
                Threads.parallelFor(planes, minPerThread: Swift.max(1, 32_768 / outPlane)) { range in
                    for pi in range {
                        let src = gp + pi * inPlane, dst = dp + pi * outPlane, sw = idx + pi * outPlane
                        for j in 0..<outPlane where sw[j] >= 0 { dst[j] = src[Int(sw[j])] }
                    }
                }
            } }
        }
    }

    // MARK: average pooling

    /// Average pooling. With `countIncludePad` the divisor counts padded cells (but not the
    /// overhang that ceil mode adds past the padding), as PyTorch.
    public func avgPool2d(kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0], ceilMode: Bool = false,
                          countIncludePad: Bool = true) -> Tensor {
        let op = "avgPool2d"
        let geo = PoolGeometry(op: op, input: shape, kernel: kernel, stride: stride, padding: padding,
                               dilation: [1, 1], ceilMode: ceilMode)
        if !countIncludePad { geo.requireNonEmptyWindows(op: op, input: shape, kernel: kernel, padding: padding) }
        let out = Tensor.avgPoolPass(geo, countIncludePad: countIncludePad, input: self, backward: false)
        let x = self.detached()
        return out.recording(op, inputs: [self]) { g in
            [Tensor.avgPoolPass(geo, countIncludePad: countIncludePad, input: g, backward: true, outShape: x.shape)]
        }
    }

    /// Forward (input -> pooled) or backward (output gradient -> input gradient) of avgPool2d.
    static func avgPoolPass(_ geo: PoolGeometry, countIncludePad: Bool, input: Tensor, backward: Bool,
                            outShape: [Int]? = nil) -> Tensor {
        Tensor(shape: outShape ?? [geo.n, geo.c, geo.ho, geo.wo]) { d in
            guard d.count > 0, input.count > 0 else { return }
            input.withUnsafeBufferPointer { ib in
                let src = ib.baseAddress!, dst = d.baseAddress!
                Threads.parallelFor(geo.planes, minPerThread: geo.minPlanes(work: geo.outPlane * geo.kh * geo.kw)) { planes in
                    for pi in planes {
                        let xin = backward ? dst + pi * geo.inPlane : UnsafeMutablePointer(mutating: src + pi * geo.inPlane)
                        let yout = backward ? UnsafeMutablePointer(mutating: src + pi * geo.outPlane) : dst + pi * geo.outPlane
                        for oh in 0..<geo.ho {
                            let hs = oh * geo.sh - geo.pt, he = Swift.min(hs + geo.kh, geo.h + geo.pb)
                            let h0 = Swift.max(hs, 0), h1 = Swift.min(he, geo.h)
                            for ow in 0..<geo.wo {
                                let ws = ow * geo.sw - geo.pl, we = Swift.min(ws + geo.kw, geo.w + geo.pr)
                                let w0 = Swift.max(ws, 0), w1 = Swift.min(we, geo.w)
                                let count = countIncludePad ? (he - hs) * (we - ws) : (h1 - h0) * (w1 - w0)
                                let scale = 1 / Float(Swift.max(count, 1))
                                if backward {
                                    let gv = yout[oh * geo.wo + ow] * scale
                                    for ih in h0..<Swift.max(h0, h1) {
                                        let row = xin + ih * geo.w
                                        for iw in w0..<Swift.max(w0, w1) { row[iw] += gv }
                                    }
                                } else {
                                    var acc: Float = 0
                                    for ih in h0..<Swift.max(h0, h1) {
                                        let row = xin + ih * geo.w
                                        for iw in w0..<Swift.max(w0, w1) { acc += row[iw] }
                                    }
                                    yout[oh * geo.wo + ow] = acc * scale
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: global and adaptive average pooling

    /// [N, C, H, W] -> [N, C, 1, 1], the mean of each plane.
    public func globalAvgPool2d() -> Tensor {
        precondition(rank == 4, "globalAvgPool2d: input must be [N, C, H, W], got \(shape)")
        return adaptiveAvgPool2d([1, 1])
    }

    /// Adaptive average pooling to `size` (1 or 2 values): output cell i along an axis of
    /// length L averages input positions floor(i * L / out) ..< ceil((i + 1) * L / out).
    public func adaptiveAvgPool2d(_ size: [Int]) -> Tensor {
        let op = "adaptiveAvgPool2d"
        precondition(rank == 4, "\(op): input must be [N, C, H, W], got \(shape)")
        let (ho, wo) = spatialPair(size, "size", op: op)
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        precondition(ho > 0 && wo > 0, "\(op): output size \(size) must be positive")
        precondition(h > 0 && w > 0, "\(op): input \(shape) has an empty plane")
        let hBins = (0..<ho).map { i in (i * h / ho, ((i + 1) * h + ho - 1) / ho) }
        let wBins = (0..<wo).map { j in (j * w / wo, ((j + 1) * w + wo - 1) / wo) }
        let out = Tensor.adaptivePass(input: self, planes: n * c, h: h, w: w, hBins: hBins, wBins: wBins,
                                      backward: false, outShape: [n, c, ho, wo])
        let inShape = shape
        return out.recording(op, inputs: [self]) { g in
            [Tensor.adaptivePass(input: g, planes: n * c, h: h, w: w, hBins: hBins, wBins: wBins,
                                 backward: true, outShape: inShape)]
        }
    }

    static func adaptivePass(input: Tensor, planes: Int, h: Int, w: Int, hBins: [(Int, Int)], wBins: [(Int, Int)],
                             backward: Bool, outShape: [Int]) -> Tensor {
        let ho = hBins.count, wo = wBins.count
        return Tensor(shape: outShape) { d in
            guard d.count > 0, input.count > 0 else { return }
            input.withUnsafeBufferPointer { ib in hBins.withUnsafeBufferPointer { hb in wBins.withUnsafeBufferPointer { wb in
                let src = ib.baseAddress!, dst = d.baseAddress!
                Threads.parallelFor(planes, minPerThread: Swift.max(1, 32_768 / Swift.max(h * w, 1))) { range in
                    for pi in range {
                        let xin = backward ? dst + pi * h * w : UnsafeMutablePointer(mutating: src + pi * h * w)
                        let yout = backward ? UnsafeMutablePointer(mutating: src + pi * ho * wo) : dst + pi * ho * wo
                        for i in 0..<ho {
                            let (h0, h1) = hb[i]
                            for j in 0..<wo {
                                let (w0, w1) = wb[j]
                                let scale = 1 / Float((h1 - h0) * (w1 - w0))
                                if backward {
                                    let gv = yout[i * wo + j] * scale
                                    for ih in h0..<h1 { for iw in w0..<w1 { xin[ih * w + iw] += gv } }
                                } else {
                                    var acc: Float = 0
                                    for ih in h0..<h1 { for iw in w0..<w1 { acc += xin[ih * w + iw] } }
                                    yout[i * wo + j] = acc * scale
                                }
                            }
                        }
                    }
                }
            } } }
        }
    }

    // MARK: block-mean fill

    /// Each b x b block of every plane replaced by its mean, at full resolution: NICE's
    /// low-resolution background x_b (Eq. 12) put back on the input grid. Blocks start at
    /// (0, 0); an edge block that the plane's size cuts short (ceil mode: 28 px in blocks of
    /// 8 gives 4 x 4 blocks, the last ones 4 px wide) averages only the pixels it has, so no
    /// padding enters the mean. b = 1 returns the input's values; b >= H, W fills each plane
    /// with its mean.
    ///
    /// The op is a linear projection whose matrix is symmetric (each output pixel weighs
    /// every pixel of its block by 1/|block|), so its backward is the same fill applied to
    /// the output gradient.
    public func blockMeanFilled(block b: Int) -> Tensor {
        precondition(rank == 4, "blockMeanFilled: input must be [N, C, H, W], got \(shape)")
        precondition(b >= 1, "blockMeanFilled: the block must be at least 1, got \(b)")
        let out = Tensor.blockMeanPass(self, block: b)
        return out.recording("blockMeanFilled", inputs: [self]) { g in [Tensor.blockMeanPass(g, block: b)] }
    }

    static func blockMeanPass(_ x: Tensor, block b: Int) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        let planes = x.shape[0] * x.shape[1]
        return Tensor.overwriting(shape: x.shape) { d in
            guard d.count > 0 else { return }
            x.withUnsafeBufferPointer { xb in
                let src = xb.baseAddress!, dst = d.baseAddress!
                Threads.parallelFor(planes, minPerThread: Swift.max(1, 32_768 / Swift.max(h * w, 1))) { range in
                    for pi in range {
                        let xin = src + pi * h * w, yout = dst + pi * h * w
                        for h0 in stride(from: 0, to: h, by: b) {
                            let h1 = Swift.min(h0 + b, h)
                            for w0 in stride(from: 0, to: w, by: b) {
                                let w1 = Swift.min(w0 + b, w)
                                var acc: Float = 0
                                for ih in h0..<h1 { for iw in w0..<w1 { acc += xin[ih * w + iw] } }
                                let mean = acc / Float((h1 - h0) * (w1 - w0))
                                for ih in h0..<h1 { for iw in w0..<w1 { yout[ih * w + iw] = mean } }
                            }
                        }
                    }
                }
            }
        }
    }
}
