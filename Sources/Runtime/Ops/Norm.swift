import Foundation

// Batch normalisation (inference and training) and dropout.
//
// Batch norm works on [N, C, ...] (also [N, C]) viewed as [N, C, inner]: every (n, c) pair is a
// contiguous plane of `inner` values, and channel statistics run over N planes.

extension Tensor {
    fileprivate func channelLayout(_ op: String) -> (n: Int, c: Int, inner: Int) {
        precondition(rank >= 2, "\(op): needs [N, C, ...], got \(shape)")
        return (shape[0], shape[1], shape[2...].reduce(1, *))
    }

    /// Batch norm's per-channel affine map y = x * a + b (and 1 / sqrt(variance + eps)).
    fileprivate static func batchNormAffine(mean: Tensor, variance: Tensor, scale: Tensor?, bias: Tensor?,
                                            eps: Float) -> (invStd: [Float], a: [Float], b: [Float]) {
        let nc = mean.count
        let invStd = (0..<nc).map { 1 / (variance.storage[$0] + eps).squareRoot() }
        let a = (0..<nc).map { (scale?.storage[$0] ?? 1) * invStd[$0] }
        let b = (0..<nc).map { (bias?.storage[$0] ?? 0) - mean.storage[$0] * a[$0] }
        return (invStd, a, b)
    }

    /// out = x * a[c] + b[c] over `planes` contiguous planes of `inner` values (channel
    /// c = plane % channels), then max(., 0) with `relu`; `out` may be `x`.
    fileprivate static func batchNormLoop(_ px: UnsafePointer<Float>, into po: UnsafeMutablePointer<Float>, planes: Int, channels nc: Int,
                                          inner: Int, a: [Float], b: [Float], relu: Bool) {
        Threads.parallelFor(planes, minPerThread: Swift.max(1, (1 << 15) / Swift.max(inner, 1))) { range in
            for p in range {
                let (ac, bc) = (a[p % nc], b[p % nc])
                let src = px + p * inner, dst = po + p * inner
                if relu {
                    for i in 0..<inner { let v = src[i] * ac + bc; dst[i] = v > 0 ? v : 0 }
                } else {
                    for i in 0..<inner { dst[i] = src[i] * ac + bc }
                }
            }
        }
    }

    /// Inference batch norm in place, optionally followed by ReLU in the same pass: the same
    /// values as `batchNorm` (then `relu`) with no new buffer and one pass over memory instead
    /// of two. No autograd (the graph uses it only when nothing records). Storage shared with
    /// another tensor is copied first (copy-on-write). Statistics are [C] for [N, C, ...].
    mutating func formBatchNormInference(mean: Tensor, variance: Tensor, scale: Tensor?, bias: Tensor?, eps: Float, relu: Bool) {
        let (nb, nc, inner) = channelLayout("batchNorm")
        let (_, a, b) = Tensor.batchNormAffine(mean: mean, variance: variance, scale: scale, bias: bias, eps: eps)
        guard count > 0 else { return }
        storage.withUnsafeMutableBufferPointer { o in
            Tensor.batchNormLoop(o.baseAddress!, into: o.baseAddress!, planes: nb * nc, channels: nc, inner: inner, a: a, b: b, relu: relu)
        }
    }

    /// Inference-mode batch norm over axis 1 with given statistics:
    /// `(x - mean) / sqrt(variance + eps) * scale + bias`, all per-channel tensors of shape [C].
    ///
    /// Differentiable with respect to the input, `scale` and `bias` (and, for completeness, to
    /// `mean` and `variance` if they happen to require gradients).
    public func batchNorm(mean: Tensor, variance: Tensor, scale: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        let (nb, nc, inner) = channelLayout("batchNorm")
        for (name, t) in [("mean", mean), ("variance", variance), ("scale", scale), ("bias", bias)] {
            if let t { precondition(t.shape == [nc], "batchNorm: \(name) \(t.shape) should be [\(nc)]") }
        }
        let (invStd, a, b) = Tensor.batchNormAffine(mean: mean, variance: variance, scale: scale, bias: bias, eps: eps)
        let y = Tensor.overwriting(shape: shape) { o in
            guard o.count > 0 else { return }
            storage.withUnsafeBufferPointer { x in
                Tensor.batchNormLoop(x.baseAddress!, into: o.baseAddress!, planes: nb * nc, channels: nc, inner: inner, a: a, b: b, relu: false)
            }
        }

        var inputs = [self, mean, variance]
        if let scale { inputs.append(scale) }
        if let bias { inputs.append(bias) }
        let needX = requiresGrad, needMean = mean.requiresGrad, needVar = variance.requiresGrad
        let needScale = scale?.requiresGrad ?? false, needBias = bias?.requiresGrad ?? false
        // The input enters only the parameters' gradients: with frozen statistics and affine
        // weights (attribution) the backward does not keep it alive.
        let xd: Tensor? = needMean || needVar || needScale || needBias ? detached() : nil
        let meanD = mean.detached()
        let scaleVals = scale?.storage
        let inShape = shape
        return y.recording("batch_norm", inputs: inputs) { g in
            // Per-channel sums of g and of g * xhat, where xhat = (x - mean) * invStd.
            let (sumG, sumGXhat) = xd.map { channelGradientSums(g, $0, nb: nb, nc: nc, inner: inner, mean: meanD.storage, invStd: invStd) }
                ?? ([Double](repeating: 0, count: nc), [Double](repeating: 0, count: nc))
            var grads: [Tensor?] = []
            grads.append(needX ? Tensor.overwriting(shape: inShape) { d in
                guard d.count > 0 else { return }
                g.storage.withUnsafeBufferPointer { gp in
                    let (pg, pd) = (gp.baseAddress!, d.baseAddress!)
                    Threads.parallelFor(nb * nc, minPerThread: Swift.max(1, (1 << 15) / Swift.max(inner, 1))) { planes in
                        for p in planes {
                            let ac = a[p % nc]
                            for i in 0..<inner { pd[p * inner + i] = pg[p * inner + i] * ac }
                        }
                    }
                }
            } : nil)
            // d/dmean = -sum(g) * a;  d/dvar = -0.5 * scale * invStd^2 * sum(g * xhat).
            grads.append(needMean ? Tensor(shape: [nc]) { d in
                for c in 0..<nc { d[c] = -Float(sumG[c]) * a[c] }
            } : nil)
            grads.append(needVar ? Tensor(shape: [nc]) { d in
                for c in 0..<nc { d[c] = -0.5 * (scaleVals?[c] ?? 1) * invStd[c] * invStd[c] * Float(sumGXhat[c]) }
            } : nil)
            if scale != nil { grads.append(needScale ? Tensor(shape: [nc], data: sumGXhat.map { Float($0) }) : nil) }
            if bias != nil { grads.append(needBias ? Tensor(shape: [nc], data: sumG.map { Float($0) }) : nil) }
            return grads
        }
    }

    /// Training-mode batch norm: normalises with the batch statistics of each channel (axis 1),
    /// computed over every other axis, then applies `scale` and `bias` ([C] each, optional).
    ///
    /// Returns the output, the batch `mean` [C] and the **unbiased** batch `variance` [C]
    /// (sum of squared deviations / (M - 1), M = values per channel), which is what a layer
    /// feeds into its running estimate the way PyTorch does:
    /// `running = (1 - momentum) * running + momentum * variance`.
    /// Normalisation itself uses the biased variance (divide by M), as PyTorch does.
    /// The returned statistics carry no gradient; the output's backward runs through them.
    public func batchNormTraining(scale: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> (output: Tensor, mean: Tensor, variance: Tensor) {
        let (nb, nc, inner) = channelLayout("batchNormTraining")
        for (name, t) in [("scale", scale), ("bias", bias)] {
            if let t { precondition(t.shape == [nc], "batchNormTraining: \(name) \(t.shape) should be [\(nc)]") }
        }
        let m = nb * inner
        precondition(m > 1, "batchNormTraining: expected more than 1 value per channel, got shape \(shape)")
        var meanS = [Float](repeating: 0, count: nc), varBiased = meanS, varUnbiasedS = meanS, invStdS = meanS
        storage.withUnsafeBufferPointer { x in
            let px = x.baseAddress!
            meanS.withUnsafeMutableBufferPointer { mp in varBiased.withUnsafeMutableBufferPointer { vb in
                varUnbiasedS.withUnsafeMutableBufferPointer { vu in invStdS.withUnsafeMutableBufferPointer { ip in
                    let (mp, vb, vu, ip) = (mp.baseAddress!, vb.baseAddress!, vu.baseAddress!, ip.baseAddress!)
                    Threads.parallelFor(nc, minPerThread: Swift.max(1, (1 << 15) / m)) { channels in
                        for c in channels {
                            // Two passes: mean, then squared deviations (per-plane SIMD partial
                            // sums in Float, combined across planes in Double).
                            var s = 0.0
                            for n in 0..<nb { s += Double(planeSum(px + (n * nc + c) * inner, inner)) }
                            let mu = s / Double(m)
                            var ss = 0.0
                            for n in 0..<nb { ss += Double(planeSquaredDeviation(px + (n * nc + c) * inner, inner, Float(mu))) }
                            mp[c] = Float(mu)
                            vb[c] = Float(ss / Double(m))
                            vu[c] = Float(ss / Double(m - 1))
                            ip[c] = Float(1 / (ss / Double(m) + Double(eps)).squareRoot())
                        }
                    }
                } }
            } }
        }
        let meanV = meanS, varUnbiased = varUnbiasedS, invStd = invStdS
        let sVals = scale?.storage, bVals = bias?.storage
        let y = Tensor(shape: shape) { o in
            guard o.count > 0 else { return }
            storage.withUnsafeBufferPointer { x in
                let (px, po) = (x.baseAddress!, o.baseAddress!)
                Threads.parallelFor(nb * nc, minPerThread: Swift.max(1, (1 << 15) / Swift.max(inner, 1))) { planes in
                    for p in planes {
                        let c = p % nc
                        let ac = (sVals?[c] ?? 1) * invStd[c], bc = (bVals?[c] ?? 0) - meanV[c] * ac
                        let src = px + p * inner, dst = po + p * inner
                        for i in 0..<inner { dst[i] = src[i] * ac + bc }
                    }
                }
            }
        }

        var inputs = [self]
        if let scale { inputs.append(scale) }
        if let bias { inputs.append(bias) }
        let xd = detached()
        let needX = requiresGrad, needScale = scale?.requiresGrad ?? false, needBias = bias?.requiresGrad ?? false
        let inShape = shape
        let out = y.recording("batch_norm_train", inputs: inputs) { g in
            // With xhat = (x - mean) * invStd and dxhat = g * scale:
            //   dx = invStd / M * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
            //   dscale = sum(g * xhat), dbias = sum(g)   (sums over everything but axis 1)
            let (sumG, sumGXhat) = channelGradientSums(g, xd, nb: nb, nc: nc, inner: inner, mean: meanV, invStd: invStd)
            var grads: [Tensor?] = []
            grads.append(needX ? Tensor(shape: inShape) { d in
                guard d.count > 0 else { return }
                g.storage.withUnsafeBufferPointer { gp in xd.storage.withUnsafeBufferPointer { xp in
                    let (pg, px, pd) = (gp.baseAddress!, xp.baseAddress!, d.baseAddress!)
                    Threads.parallelFor(nb * nc, minPerThread: Swift.max(1, (1 << 15) / Swift.max(inner, 1))) { planes in
                        for p in planes {
                            let c = p % nc, mu = meanV[c], istd = invStd[c], s = sVals?[c] ?? 1
                            let k = s * istd
                            let meanG = Float(sumG[c] / Double(m)), meanGX = Float(sumGXhat[c] / Double(m))
                            for i in 0..<inner {
                                let xhat = (px[p * inner + i] - mu) * istd
                                pd[p * inner + i] = k * (pg[p * inner + i] - meanG - xhat * meanGX)
                            }
                        }
                    }
                } }
            } : nil)
            if scale != nil { grads.append(needScale ? Tensor(shape: [nc], data: sumGXhat.map { Float($0) }) : nil) }
            if bias != nil { grads.append(needBias ? Tensor(shape: [nc], data: sumG.map { Float($0) }) : nil) }
            return grads
        }
        return (out, Tensor(shape: [nc], data: meanV), Tensor(shape: [nc], data: varUnbiased))
    }

    /// Inverted dropout: in training, zeroes each value with probability `p` and scales the
    /// survivors by 1 / (1 - p), so the expected value is unchanged; the identity otherwise.
    /// The mask is drawn from `rng` in row-major order (one uniform per element).
    public func dropout(p: Float, training: Bool, rng: inout RandomGenerator) -> Tensor {
        precondition(p >= 0 && p <= 1, "dropout: p must be in [0, 1], got \(p)")
        guard training, p > 0 else { return self }
        let keepScale: Float = p < 1 ? 1 / (1 - p) : 0
        var maskValues = [Float](repeating: 0, count: count)
        var local = rng  // a local copy keeps the generator state in registers
        let y = Tensor(shape: shape) { o in
            storage.withUnsafeBufferPointer { x in maskValues.withUnsafeMutableBufferPointer { mb in
                for i in 0..<o.count {
                    let k = local.nextUniform() < p ? 0 : keepScale
                    mb[i] = k
                    o[i] = x[i] * k
                }
            } }
        }
        rng = local
        let mask = Tensor(shape: shape, data: maskValues)
        return y.recording("dropout", inputs: [self]) { g in [g.zipRaw(mask, *)] }
    }
}

// MARK: Channel reductions (SIMD partial sums within a plane, Double across planes)

private typealias F8 = SIMD8<Float>

/// Sum of `n` contiguous values.
private func planeSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = F8(), i = 0
    while i + 8 <= n { acc += UnsafeRawPointer(p + i).loadUnaligned(as: F8.self); i += 8 }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// Sum of (x - mu)² over `n` contiguous values.
private func planeSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, _ mu: Float) -> Float {
    var acc = F8(), i = 0
    let m = F8(repeating: mu)
    while i + 8 <= n { let d = UnsafeRawPointer(p + i).loadUnaligned(as: F8.self) - m; acc += d * d; i += 8 }
    var s = acc.sum()
    while i < n { let d = p[i] - mu; s += d * d; i += 1 }
    return s
}

/// Per channel: sum(g) and sum(g * (x - mean) * invStd) over every plane of that channel.
private func channelGradientSums(_ g: Tensor, _ x: Tensor, nb: Int, nc: Int, inner: Int,
                                 mean: [Float], invStd: [Float]) -> ([Double], [Double]) {
    var sumG = [Double](repeating: 0, count: nc), sumGXhat = sumG
    g.storage.withUnsafeBufferPointer { gb in x.storage.withUnsafeBufferPointer { xb in
        sumG.withUnsafeMutableBufferPointer { sgb in sumGXhat.withUnsafeMutableBufferPointer { sxb in
            guard let pg = gb.baseAddress, let px = xb.baseAddress else { return }
            let (psg, psx) = (sgb.baseAddress!, sxb.baseAddress!)
            Threads.parallelFor(nc, minPerThread: Swift.max(1, (1 << 15) / Swift.max(nb * inner, 1))) { channels in
                for c in channels {
                    let mu = F8(repeating: mean[c])
                    var sg = 0.0, sgd = 0.0
                    for n in 0..<nb {
                        let off = (n * nc + c) * inner
                        let gp = pg + off, xp = px + off
                        var ag = F8(), ad = F8(), i = 0
                        while i + 8 <= inner {
                            let gv = UnsafeRawPointer(gp + i).loadUnaligned(as: F8.self)
                            ag += gv
                            ad += gv * (UnsafeRawPointer(xp + i).loadUnaligned(as: F8.self) - mu)
                            i += 8
                        }
                        var (tg, td) = (ag.sum(), ad.sum())
                        while i < inner { tg += gp[i]; td += gp[i] * (xp[i] - mean[c]); i += 1 }
                        sg += Double(tg); sgd += Double(td)
                    }
                    psg[c] = sg; psx[c] = sgd * Double(invStd[c])
                }
            }
        } }
    } }
    return (sumG, sumGXhat)
}
