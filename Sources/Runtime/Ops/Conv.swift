// conv2d and convTranspose2d (NCHW, PyTorch weight layouts), differentiable in input, weight
// and bias. The kernels live in Im2col.swift: im2col + one sgemm per batch chunk and group,
// a direct GEMM for 1x1 convolutions, direct loops for depthwise ones.

extension Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch). Input [N, C, H, W], weight
    /// [O, C/groups, kH, kW], bias [O]. `padding` is (h, w) or (top, left, bottom, right).
    public func conv2d(_ weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1, 1], padding: [Int] = [0, 0],
                       dilation: [Int] = [1, 1], groups: Int = 1) -> Tensor {
        let op = "conv2d"
        precondition(rank == 4, "\(op): input must be [N, C, H, W], got \(shape)")
        precondition(weight.rank == 4, "\(op): weight must be [O, C/groups, kH, kW], got \(weight.shape)")
        var geo = Tensor.convGeometry(op: op, input: shape, weight: weight.shape, outChannels: weight.shape[0],
                                      weightInChannels: weight.shape[1], stride: stride, padding: padding,
                                      dilation: dilation, groups: groups)
        geo.cacheWeightTransforms = !weight.requiresGrad
        if let bias {
            precondition(bias.shape == [geo.o], "\(op): bias must be [\(geo.o)] for weight \(weight.shape), got \(bias.shape)")
        }
        let x = self.detached(), w = weight.detached(), b = bias?.detached()
        let y = Tensor.convForwardRaw(geo, x: x, weight: w, bias: b, outShape: [geo.n, geo.o, geo.ho, geo.wo])
        let xNeeds = requiresGrad, wNeeds = weight.requiresGrad, bNeeds = bias?.requiresGrad ?? false
        var inputs = [self, weight]
        if let bias { inputs.append(bias) }
        // The input is kept alive only when the weight gradient needs it.
        let xKept: Tensor? = wNeeds ? x : nil, xShape = x.shape
        return y.recording(op, inputs: inputs) { g in
            var grads: [Tensor?] = [
                xNeeds ? Tensor.convBackwardDataRaw(geo, gy: g, weight: w, outShape: xShape) : nil,
                // unreachable from input: xKept is set whenever wNeeds is true
                wNeeds ? Tensor.convBackwardWeightRaw(geo, gy: g, x: xKept!, outShape: w.shape) : nil,
            ]
            if b != nil { grads.append(bNeeds ? Tensor.channelSumsRaw(g) : nil) }
            return grads
        }
    }

    /// 2-D transposed convolution (the adjoint of conv2d w.r.t. its input, plus bias), as
    /// PyTorch: input [N, C_in, H, W], weight [C_in, O/groups, kH, kW], bias [O]; output
    /// H_out = (H - 1) * stride - padTop - padBottom + dilation * (kH - 1) + outputPadding + 1.
    public func convTranspose2d(_ weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1, 1], padding: [Int] = [0, 0],
                                outputPadding: [Int] = [0, 0], dilation: [Int] = [1, 1], groups: Int = 1) -> Tensor {
        let op = "convTranspose2d"
        precondition(rank == 4, "\(op): input must be [N, C_in, H, W], got \(shape)")
        precondition(weight.rank == 4, "\(op): weight must be [C_in, O/groups, kH, kW], got \(weight.shape)")
        precondition(groups >= 1, "\(op): groups must be positive, got \(groups)")
        let (n, cin, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (kh, kw) = (weight.shape[2], weight.shape[3])
        precondition(weight.shape[0] == cin,
                     "\(op): weight \(weight.shape) expects \(weight.shape[0]) input channels, input is \(shape)")
        precondition(cin % groups == 0, "\(op): groups \(groups) does not divide the \(cin) input channels of \(shape)")
        let o = weight.shape[1] * groups
        let (sh, sw) = spatialPair(stride, "stride", op: op)
        let (dh, dw) = spatialPair(dilation, "dilation", op: op)
        let (oph, opw) = spatialPair(outputPadding, "outputPadding", op: op)
        let p = paddingQuad(padding, op: op)
        precondition(sh > 0 && sw > 0 && dh > 0 && dw > 0, "\(op): stride \(stride) and dilation \(dilation) must be positive")
        precondition(oph >= 0 && opw >= 0 && (oph < sh || oph < dh) && (opw < sw || opw < dw),
                     "\(op): outputPadding \(outputPadding) must be smaller than stride \(stride) or dilation \(dilation)")
        let hOut = (h - 1) * sh - p.top - p.bottom + dh * (kh - 1) + oph + 1
        let wOut = (w - 1) * sw - p.left - p.right + dw * (kw - 1) + opw + 1
        precondition(hOut > 0 && wOut > 0,
                     "\(op): input \(shape) with weight \(weight.shape), stride \(stride), padding \(padding) gives an empty output [\(hOut), \(wOut)]")
        if let bias {
            precondition(bias.shape == [o], "\(op): bias must be [\(o)] for weight \(weight.shape) and groups \(groups), got \(bias.shape)")
        }
        // The conv that this op is the adjoint of: input [n, o, hOut, wOut] -> output [n, cin, h, w].
        var geo = ConvGeometry(n: n, c: o, h: hOut, w: wOut, o: cin, kh: kh, kw: kw, sh: sh, sw: sw,
                               pt: p.top, pl: p.left, pb: p.bottom, pr: p.right, dh: dh, dw: dw, groups: groups,
                               ho: h, wo: w)
        geo.cacheWeightTransforms = !weight.requiresGrad
        precondition(ConvGeometry.outSize(hOut, kernel: kh, stride: sh, padBegin: p.top, padEnd: p.bottom, dilation: dh) >= h
                     && ConvGeometry.outSize(wOut, kernel: kw, stride: sw, padBegin: p.left, padEnd: p.right, dilation: dw) >= w,
                     "\(op): inconsistent geometry for input \(shape), weight \(weight.shape)")
        let x = self.detached(), wt = weight.detached(), b = bias?.detached()
        var y = Tensor.convBackwardDataRaw(geo, gy: x, weight: wt, outShape: [n, o, hOut, wOut])
        if let b {
            y.withUnsafeMutableBufferPointer { yp in b.withUnsafeBufferPointer { bp in
                addBias(bp.baseAddress!, to: yp.baseAddress!, planes: n * o, channels: o, plane: hOut * wOut)
            } }
        }
        let xNeeds = requiresGrad, wNeeds = weight.requiresGrad, bNeeds = bias?.requiresGrad ?? false
        var inputs = [self, weight]
        if let bias { inputs.append(bias) }
        let xKept: Tensor? = wNeeds ? x : nil, xShape = x.shape
        return y.recording(op, inputs: inputs) { g in
            var grads: [Tensor?] = [
                xNeeds ? Tensor.convForwardRaw(geo, x: g, weight: wt, bias: nil, outShape: xShape) : nil,
                // unreachable from input: xKept is set whenever wNeeds is true
                wNeeds ? Tensor.convBackwardWeightRaw(geo, gy: xKept!, x: g, outShape: wt.shape) : nil,
            ]
            if b != nil { grads.append(bNeeds ? Tensor.channelSumsRaw(g) : nil) }
            return grads
        }
    }

    // MARK: helpers

    static func convGeometry(op: String, input: [Int], weight: [Int], outChannels o: Int, weightInChannels: Int,
                             stride: [Int], padding: [Int], dilation: [Int], groups: Int) -> ConvGeometry {
        let (n, c, h, w) = (input[0], input[1], input[2], input[3])
        let (kh, kw) = (weight[2], weight[3])
        precondition(groups >= 1, "\(op): groups must be positive, got \(groups)")
        precondition(c % groups == 0, "\(op): groups \(groups) does not divide the \(c) channels of input \(input)")
        precondition(o % groups == 0, "\(op): groups \(groups) does not divide the \(o) output channels of weight \(weight)")
        precondition(weightInChannels * groups == c,
                     "\(op): input \(input) has \(c) channels but weight \(weight) with groups \(groups) expects \(weightInChannels * groups)")
        precondition(kh > 0 && kw > 0, "\(op): empty kernel in weight \(weight)")
        let (sh, sw) = spatialPair(stride, "stride", op: op)
        let (dh, dw) = spatialPair(dilation, "dilation", op: op)
        precondition(sh > 0 && sw > 0 && dh > 0 && dw > 0, "\(op): stride \(stride) and dilation \(dilation) must be positive")
        let p = paddingQuad(padding, op: op)
        let effH = dh * (kh - 1) + 1, effW = dw * (kw - 1) + 1
        precondition(h + p.top + p.bottom >= effH && w + p.left + p.right >= effW,
                     "\(op): kernel \(weight) with dilation \(dilation) (extent \(effH)x\(effW)) is larger than the padded input \(input) with padding \(padding)")
        let ho = ConvGeometry.outSize(h, kernel: kh, stride: sh, padBegin: p.top, padEnd: p.bottom, dilation: dh)
        let wo = ConvGeometry.outSize(w, kernel: kw, stride: sw, padBegin: p.left, padEnd: p.right, dilation: dw)
        return ConvGeometry(n: n, c: c, h: h, w: w, o: o, kh: kh, kw: kw, sh: sh, sw: sw,
                            pt: p.top, pl: p.left, pb: p.bottom, pr: p.right, dh: dh, dw: dw, groups: groups, ho: ho, wo: wo)
    }

    static func convForwardRaw(_ geo: ConvGeometry, x: Tensor, weight: Tensor, bias: Tensor?, outShape: [Int]) -> Tensor {
        let u = geo.cachedKernelTransform(weight, flipped: false)
        return Tensor(shape: outShape) { y in
            guard y.count > 0 else { return }
            x.withUnsafeBufferPointer { xp in weight.withUnsafeBufferPointer { wp in withOptionalPointer(u) { up in
                if let bias {
                    bias.withUnsafeBufferPointer { bp in
                        geo.forward(x: xp.baseAddress!, weight: wp.baseAddress!, bias: bp.baseAddress!, y: y.baseAddress!, winogradU: up)
                    }
                } else {
                    geo.forward(x: xp.baseAddress!, weight: wp.baseAddress!, bias: nil, y: y.baseAddress!, winogradU: up)
                }
            } } }
        }
    }

    static func convBackwardDataRaw(_ geo: ConvGeometry, gy: Tensor, weight: Tensor, outShape: [Int]) -> Tensor {
        let u = geo.cachedKernelTransform(weight, flipped: true)
        return Tensor(shape: outShape) { dx in
            guard dx.count > 0, gy.count > 0 else { return }
            gy.withUnsafeBufferPointer { gp in weight.withUnsafeBufferPointer { wp in withOptionalPointer(u) { up in
                geo.backwardData(gy: gp.baseAddress!, weight: wp.baseAddress!, dx: dx.baseAddress!, winogradU: up)
            } } }
        }
    }

    static func convBackwardWeightRaw(_ geo: ConvGeometry, gy: Tensor, x: Tensor, outShape: [Int]) -> Tensor {
        Tensor(shape: outShape) { dw in
            guard dw.count > 0, gy.count > 0, x.count > 0 else { return }
            gy.withUnsafeBufferPointer { gp in x.withUnsafeBufferPointer { xp in
                geo.backwardWeight(gy: gp.baseAddress!, x: xp.baseAddress!, dw: dw.baseAddress!)
            } }
        }
    }

    /// [N, C, H, W] -> [C]: sums over everything but the channel axis.
    static func channelSumsRaw(_ g: Tensor) -> Tensor {
        let (n, c) = (g.shape[0], g.shape[1]), plane = g.shape[2] * g.shape[3]
        return Tensor(shape: [c]) { out in
            guard c > 0 else { return }
            g.withUnsafeBufferPointer { gp in
                guard let base = gp.baseAddress else { return }
                channelSums(base, n: n, channels: c, plane: plane, into: out.baseAddress!)
            }
        }
    }
}

/// How a convolution is lowered: `automatic` picks per geometry (see `ConvGeometry.usesWinograd`);
/// the others force a lowering where it applies (benchmarks and tests compare them).
public enum ConvAlgorithm: String, Sendable, CaseIterable {
    case automatic, im2col, winograd, winograd4
}

public enum ConvTuning {
    /// The lowering every convolution uses from now on (`saliency-bench conv` sets it; the
    /// default, `automatic`, is the only one the tools use).
    nonisolated(unsafe) public static var algorithm: ConvAlgorithm = .automatic
    /// The kernels of the Winograd tile transforms and im2col's stride-2 copy from now on (`saliency-bench conv --simd`
    /// compares them); AVX-512 is refused where the CPU lacks it.
    nonisolated(unsafe) public static var simd: SIMDKernels = .detected {
        didSet { if !simd.runsAVX512 { simd = .generic } }
    }
}

/// `body(nil)` for nil, else `body` with the array's base address.
private func withOptionalPointer<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let a else { return body(nil) }
    return a.withUnsafeBufferPointer { body($0.baseAddress) }
}
