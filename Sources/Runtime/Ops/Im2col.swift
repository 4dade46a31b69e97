// Geometry and low-level kernels shared by conv2d and convTranspose2d: im2col / col2im,
// the depthwise direct loops, and the three raw passes of a convolution (forward,
// backward-to-data, backward-to-weight). Everything here works on raw pointers, NCHW,
// with no autograd; Conv.swift wraps it into differentiable ops.

/// Spatial arguments: one value for both axes or two (h, w).
func spatialPair(_ v: [Int], _ name: String, op: String) -> (Int, Int) {
    precondition(v.count == 1 || v.count == 2, "\(op): \(name) needs 1 or 2 values, got \(v)")
    return v.count == 1 ? (v[0], v[0]) : (v[0], v[1])
}

/// Padding: 2 values (symmetric h, w) or 4 in ONNX order (top, left, bottom, right).
func paddingQuad(_ p: [Int], op: String) -> (top: Int, left: Int, bottom: Int, right: Int) {
    precondition(p.count == 2 || p.count == 4 || p.count == 1,
                 "\(op): padding needs 2 values (h, w) or 4 (top, left, bottom, right), got \(p)")
    precondition(p.allSatisfy { $0 >= 0 }, "\(op): negative padding \(p)")
    switch p.count {
    case 1: return (p[0], p[0], p[0], p[0])
    case 2: return (p[0], p[1], p[0], p[1])
    default: return (p[0], p[1], p[2], p[3])
    }
}

/// Output positions `o` in `0..<outSize` whose input coordinate `o * stride + offset` lies in
/// `0..<inSize`; always a contiguous range (possibly empty).
@inline(__always)
func validRange(offset: Int, stride: Int, inSize: Int, outSize: Int) -> Range<Int> {
    let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    let hi = inSize - offset <= 0 ? 0 : Swift.min(outSize, (inSize - offset - 1) / stride + 1)
    return lo..<Swift.max(lo, hi)
}

/// A 2-D convolution in the forward ("conv") direction: input [n, c, h, w], weight
/// [o, c/groups, kh, kw], output [n, o, ho, wo]. convTranspose2d uses the same geometry
/// with input and output swapped.
struct ConvGeometry {
    let n, c, h, w: Int
    let o, kh, kw: Int
    let sh, sw: Int
    let pt, pl, pb, pr: Int
    let dh, dw: Int
    let groups: Int
    let ho, wo: Int
    /// Upper bound on the column matrix, in floats (16 M = 64 MB); tests lower it to
    /// exercise batch chunking.
    var chunkBudget = 16 << 20
    /// Which lowering to use; tests and `saliency-bench conv` force one to compare them.
    var algorithm: ConvAlgorithm = ConvTuning.algorithm
    /// The kernels of the Winograd tile transforms and of im2col's stride-2 copy; tests set it
    /// to compare the two.
    var simd: SIMDKernels = ConvTuning.simd
    /// The weight does not require gradients: its Winograd transform may come from
    /// `WeightTransformCache` (set by the ops; off for trainable weights).
    var cacheWeightTransforms = false

    var cg: Int { c / groups }
    var og: Int { o / groups }
    /// Rows of the column matrix per group: cg * kh * kw.
    var k: Int { cg * kh * kw }
    var outPlane: Int { ho * wo }
    var inPlane: Int { h * w }
    var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && pb == 0 && pr == 0 }
    var isDepthwise: Bool { cg == 1 && groups > 1 }

    static func outSize(_ input: Int, kernel: Int, stride: Int, padBegin: Int, padEnd: Int, dilation: Int) -> Int {
        let span = input + padBegin + padEnd - dilation * (kernel - 1) - 1
        return span < 0 ? 0 : span / stride + 1
    }

    /// Samples per im2col chunk: enough that one GEMM has about 2048 columns (batching small
    /// planes such as ResNet's 7x7 layer4 into one product), no more (a larger column matrix
    /// only leaves the caches: at batch 16, chunks of 8 whole 112x112 samples made conv1 30 %
    /// slower per image than batch 1), and the column matrix under `chunkBudget`.
    var chunk: Int {
        let perSample = Swift.max(1, k * outPlane)
        let wanted = (2048 + outPlane - 1) / Swift.max(outPlane, 1)
        return Swift.max(1, Swift.min(n, wanted, chunkBudget / perSample))
    }

    func kernelOffsets(_ r: Int) -> (c: Int, ki: Int, kj: Int) {
        (r / (kh * kw), (r / kw) % kh, r % kw)
    }

    // MARK: im2col / col2im

    /// Columns [k, nb * ho * wo] of group `group` for samples `x[0..<nb]` (x points at the
    /// first sample of the chunk). Parallel over rows (channel x kernel offset).
    func im2col(_ x: UnsafePointer<Float>, nb: Int, group: Int, cols: UnsafeMutablePointer<Float>) {
        let P = outPlane, ncols = nb * P, c0 = group * cg
        let (h, w, ho, wo, sh, sw, pt, pl, dh, dw, c) = (self.h, self.w, self.ho, self.wo, self.sh, self.sw, self.pt, self.pl, self.dh, self.dw, self.c)
        #if arch(x86_64)
        let avx512 = sw == 2 && simd.runsAVX512
        #endif
        Threads.parallelFor(k, minPerThread: Swift.max(1, 32_768 / Swift.max(ncols, 1))) { rows in
            for r in rows {
                let (ch, ki, kj) = kernelOffsets(r)
                let offW = kj * dw - pl, offH = ki * dh - pt
                let ows = validRange(offset: offW, stride: sw, inSize: w, outSize: wo)
                let ohs = validRange(offset: offH, stride: sh, inSize: h, outSize: ho)
                let dstRow = cols + r * ncols
                for s in 0..<nb {
                    let src = x + (s * c + c0 + ch) * h * w
                    let dst = dstRow + s * P
                    if ohs.lowerBound > 0 { dst.update(repeating: 0, count: ohs.lowerBound * wo) }
                    if ohs.upperBound < ho { (dst + ohs.upperBound * wo).update(repeating: 0, count: (ho - ohs.upperBound) * wo) }
                    #if arch(x86_64)
                    if avx512 {
                        // The rows below in C, 16 outputs per step (the same copies).
                        let first = ows.isEmpty ? src : src + (ohs.lowerBound * sh + offH) * w + offW + 2 * ows.lowerBound
                        Self.im2colStride2AVX512(first, pitch: sh * w, rows: ohs.count, dst + ohs.lowerBound * wo, wo: wo, columns: ows)
                        continue
                    }
                    #endif
                    for oh in ohs {
                        let d = dst + oh * wo
                        let srow = src + (oh * sh + offH) * w + offW
                        if ows.lowerBound > 0 { d.update(repeating: 0, count: ows.lowerBound) }
                        if ows.upperBound < wo { (d + ows.upperBound).update(repeating: 0, count: wo - ows.upperBound) }
                        if sw == 1 {
                            (d + ows.lowerBound).update(from: srow + ows.lowerBound, count: ows.count)
                        } else if sw == 2 {
                            // Eight outputs per step: the even lanes of a 16-wide load (ResNet's
                            // stride-2 convolutions); only loads that end inside the input row.
                            var ow = ows.lowerBound
                            while ow + 8 <= ows.upperBound && 2 * ow + offW + 16 <= w {
                                let v = UnsafeRawPointer(srow + 2 * ow).loadUnaligned(as: SIMD16<Float>.self)
                                UnsafeMutableRawPointer(d + ow).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                                ow += 8
                            }
                            while ow < ows.upperBound { d[ow] = srow[2 * ow]; ow += 1 }
                        } else {
                            for ow in ows { d[ow] = srow[ow * sw] }
                        }
                    }
                }
            }
        }
    }

    /// Adds columns [k, nb * ho * wo] of group `group` back into dx (chunk start), the
    /// adjoint of `im2col`. Parallel over bands of rows of the (sample, channel) planes, which
    /// never collide. A plane is cut into bands only when there are too few planes to keep
    /// every thread busy (an RGB stem at batch 1 has 3); each dx value sums its terms in the
    /// same order either way.
    func col2im(_ cols: UnsafePointer<Float>, nb: Int, group: Int, dx: UnsafeMutablePointer<Float>) {
        let P = outPlane, ncols = nb * P, c0 = group * cg, cg = self.cg
        let (h, w, ho, wo, sh, sw, pt, pl, dh, dw, c, kh, kw) = (self.h, self.w, self.ho, self.wo, self.sh, self.sw, self.pt, self.pl, self.dh, self.dw, self.c, self.kh, self.kw)
        let planes = nb * cg, wanted = 4 * Threads.count
        let bands = planes >= wanted ? 1 : Swift.min(h, (wanted + planes - 1) / planes), bandRows = (h + bands - 1) / bands
        Threads.parallelFor(planes * bands, minPerThread: Swift.max(1, 32_768 * bands / Swift.max(P * kh * kw, 1))) { units in
            for unit in units {
                let pi = unit / bands, y0 = (unit % bands) * bandRows, y1 = Swift.min(h, y0 + bandRows)
                let s = pi / cg, ch = pi % cg
                let dst = dx + (s * c + c0 + ch) * h * w
                for ki in 0..<kh {
                    let offH = ki * dh - pt
                    // The output rows whose input row lies in this band.
                    let ohs = validRange(offset: offH - y0, stride: sh, inSize: y1 - y0, outSize: ho)
                    for kj in 0..<kw {
                        let offW = kj * dw - pl
                        let ows = validRange(offset: offW, stride: sw, inSize: w, outSize: wo)
                        let src = cols + ((ch * kh + ki) * kw + kj) * ncols + s * P
                        for oh in ohs {
                            let srow = src + oh * wo
                            let drow = dst + (oh * sh + offH) * w + offW
                            if sw == 1 {
                                for ow in ows { drow[ow] += srow[ow] }
                            } else {
                                for ow in ows { drow[ow * sw] += srow[ow] }
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: raw passes

    /// y [n, o, ho, wo] = conv(x, weight) (+ bias). `y` must be zero-filled.
    func forward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                 y: UnsafeMutablePointer<Float>, winogradU: UnsafePointer<Float>? = nil) {
        let P = outPlane, HW = inPlane
        if isDepthwise {
            depthwiseForward(x: x, weight: weight, y: y)
        } else if usesWinograd {
            winogradForward(x: x, weight: weight, u: winogradU, y: y)
        } else if isPointwise {
            for s in 0..<n { for g in 0..<groups {
                sgemm(m: og, n: HW, k: cg, a: weight + g * og * cg, lda: cg,
                      b: x + (s * c + g * cg) * HW, ldb: HW, c: y + (s * o + g * og) * P, ldc: P)
            } }
        } else {
            let nbMax = chunk
            let cols = UnsafeMutablePointer<Float>.allocate(capacity: k * nbMax * P)
            let tmp = nbMax > 1 ? UnsafeMutablePointer<Float>.allocate(capacity: og * nbMax * P) : nil
            defer { cols.deallocate(); tmp?.deallocate() }
            var s0 = 0
            while s0 < n {
                let nb = Swift.min(nbMax, n - s0)
                for g in 0..<groups {
                    im2col(x + s0 * c * HW, nb: nb, group: g, cols: cols)
                    if nb == 1 {
                        sgemm(m: og, n: P, k: k, a: weight + g * og * k, lda: k, b: cols, ldb: P,
                              c: y + (s0 * o + g * og) * P, ldc: P)
                    } else {
                        sgemm(m: og, n: nb * P, k: k, a: weight + g * og * k, lda: k, b: cols, ldb: nb * P,
                              // unreachable from input: tmp is allocated whenever nbMax > 1, and nb > 1 here
                              c: tmp!, ldc: nb * P)
                        scatterBatch(tmp!, nb: nb, rows: og, plane: P, dst: y + (s0 * o + g * og) * P, dstStride: o * P)  // unreachable from input: as above
                    }
                }
                s0 += nb
            }
        }
        if let bias { addBias(bias, to: y, planes: n * o, channels: o, plane: P) }
    }

    /// dx [n, c, h, w] = adjoint of `forward` (without bias) applied to gy [n, o, ho, wo].
    /// `dx` must be zero-filled.
    func backwardData(gy: UnsafePointer<Float>, weight: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                      winogradU: UnsafePointer<Float>? = nil) {
        let P = outPlane, HW = inPlane
        if isDepthwise {
            depthwiseBackwardData(gy: gy, weight: weight, dx: dx)
        } else if usesWinograd {
            winogradBackwardData(gy: gy, weight: weight, u: winogradU, dx: dx)
        } else if isPointwise {
            for s in 0..<n { for g in 0..<groups {
                sgemm(transA: true, m: cg, n: HW, k: og, a: weight + g * og * cg, lda: cg,
                      b: gy + (s * o + g * og) * P, ldb: P, c: dx + (s * c + g * cg) * HW, ldc: HW)
            } }
        } else {
            let nbMax = chunk
            let dcols = UnsafeMutablePointer<Float>.allocate(capacity: k * nbMax * P)
            let tmp = nbMax > 1 ? UnsafeMutablePointer<Float>.allocate(capacity: og * nbMax * P) : nil
            defer { dcols.deallocate(); tmp?.deallocate() }
            var s0 = 0
            while s0 < n {
                let nb = Swift.min(nbMax, n - s0)
                for g in 0..<groups {
                    let src = gy + (s0 * o + g * og) * P
                    let b: UnsafePointer<Float>
                    if nb == 1 { b = src } else {
                        // unreachable from input: tmp is allocated whenever nbMax > 1, and nb > 1 here
                        gatherBatch(src, srcStride: o * P, nb: nb, rows: og, plane: P, dst: tmp!)
                        b = UnsafePointer(tmp!)  // unreachable from input: as above
                    }
                    sgemm(transA: true, m: k, n: nb * P, k: og, a: weight + g * og * k, lda: k,
                          b: b, ldb: nb * P, c: dcols, ldc: nb * P)
                    col2im(dcols, nb: nb, group: g, dx: dx + s0 * c * HW)
                }
                s0 += nb
            }
        }
    }

    /// dWeight [o, c/groups, kh, kw] of sum(gy * conv(x, weight)). `dw` must be zero-filled.
    func backwardWeight(gy: UnsafePointer<Float>, x: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>) {
        let P = outPlane, HW = inPlane
        if isDepthwise {
            depthwiseBackwardWeight(gy: gy, x: x, dw: dw)
        } else if isPointwise {
            for s in 0..<n { for g in 0..<groups {
                sgemm(transB: true, m: og, n: cg, k: HW, a: gy + (s * o + g * og) * P, lda: P,
                      b: x + (s * c + g * cg) * HW, ldb: HW, beta: 1, c: dw + g * og * cg, ldc: cg)
            } }
        } else {
            let nbMax = chunk
            let cols = UnsafeMutablePointer<Float>.allocate(capacity: k * nbMax * P)
            let tmp = nbMax > 1 ? UnsafeMutablePointer<Float>.allocate(capacity: og * nbMax * P) : nil
            defer { cols.deallocate(); tmp?.deallocate() }
            var s0 = 0
            while s0 < n {
                let nb = Swift.min(nbMax, n - s0)
                for g in 0..<groups {
                    im2col(x + s0 * c * HW, nb: nb, group: g, cols: cols)
                    let src = gy + (s0 * o + g * og) * P
                    let a: UnsafePointer<Float>
                    if nb == 1 { a = src } else {
                        // unreachable from input: tmp is allocated whenever nbMax > 1, and nb > 1 here
                        gatherBatch(src, srcStride: o * P, nb: nb, rows: og, plane: P, dst: tmp!)
                        a = UnsafePointer(tmp!)  // unreachable from input: as above
                    }
                    sgemm(transB: true, m: og, n: k, k: nb * P, a: a, lda: nb * P,
                          b: cols, ldb: nb * P, beta: 1, c: dw + g * og * k, ldc: k)
                }
                s0 += nb
            }
        }
    }

    // MARK: depthwise (groups == c, one input channel per group): direct loops

    private func depthwiseForward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let (c, h, w, o, og, kh, kw, sh, sw, pt, pl, dh, dw, ho, wo) = (self.c, self.h, self.w, self.o, self.og, self.kh, self.kw, self.sh, self.sw, self.pt, self.pl, self.dh, self.dw, self.ho, self.wo)
        Threads.parallelFor(n * c, minPerThread: Swift.max(1, 16_384 / Swift.max(1, og * ho * wo * kh * kw))) { planes in
            for pi in planes {
                let s = pi / c, ch = pi % c
                let src = x + pi * h * w
                for m in 0..<og {
                    let oc = ch * og + m
                    let dst = y + (s * o + oc) * ho * wo
                    for ki in 0..<kh {
                        let offH = ki * dh - pt
                        let ohs = validRange(offset: offH, stride: sh, inSize: h, outSize: ho)
                        for kj in 0..<kw {
                            let offW = kj * dw - pl
                            let ows = validRange(offset: offW, stride: sw, inSize: w, outSize: wo)
                            let wv = weight[(oc * kh + ki) * kw + kj]
                            for oh in ohs {
                                let srow = src + (oh * sh + offH) * w + offW, drow = dst + oh * wo
                                for ow in ows { drow[ow] += wv * srow[ow * sw] }
                            }
                        }
                    }
                }
            }
        }
    }

    private func depthwiseBackwardData(gy: UnsafePointer<Float>, weight: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        let (c, h, w, o, og, kh, kw, sh, sw, pt, pl, dh, dw, ho, wo) = (self.c, self.h, self.w, self.o, self.og, self.kh, self.kw, self.sh, self.sw, self.pt, self.pl, self.dh, self.dw, self.ho, self.wo)
        Threads.parallelFor(n * c, minPerThread: Swift.max(1, 16_384 / Swift.max(1, og * ho * wo * kh * kw))) { planes in
            for pi in planes {
                let s = pi / c, ch = pi % c
                let dst = dx + pi * h * w
                for m in 0..<og {
                    let oc = ch * og + m
                    let src = gy + (s * o + oc) * ho * wo
                    for ki in 0..<kh {
                        let offH = ki * dh - pt
                        let ohs = validRange(offset: offH, stride: sh, inSize: h, outSize: ho)
                        for kj in 0..<kw {
                            let offW = kj * dw - pl
                            let ows = validRange(offset: offW, stride: sw, inSize: w, outSize: wo)
                            let wv = weight[(oc * kh + ki) * kw + kj]
                            for oh in ohs {
                                let drow = dst + (oh * sh + offH) * w + offW, srow = src + oh * wo
                                for ow in ows { drow[ow * sw] += wv * srow[ow] }
                            }
                        }
                    }
                }
            }
        }
    }

    private func depthwiseBackwardWeight(gy: UnsafePointer<Float>, x: UnsafePointer<Float>, dw dW: UnsafeMutablePointer<Float>) {
        let (n, c, h, w, o, og, kh, kw, sh, sw, pt, pl, dh, dw, ho, wo) = (self.n, self.c, self.h, self.w, self.o, self.og, self.kh, self.kw, self.sh, self.sw, self.pt, self.pl, self.dh, self.dw, self.ho, self.wo)
        Threads.parallelFor(o, minPerThread: Swift.max(1, 16_384 / Swift.max(1, n * ho * wo * kh * kw))) { ocs in
            for oc in ocs {
                let ch = oc / og
                for ki in 0..<kh {
                    let offH = ki * dh - pt
                    let ohs = validRange(offset: offH, stride: sh, inSize: h, outSize: ho)
                    for kj in 0..<kw {
                        let offW = kj * dw - pl
                        let ows = validRange(offset: offW, stride: sw, inSize: w, outSize: wo)
                        var acc: Float = 0
                        for s in 0..<n {
                            let src = x + (s * c + ch) * h * w, g = gy + (s * o + oc) * ho * wo
                            for oh in ohs {
                                let srow = src + (oh * sh + offH) * w + offW, grow = g + oh * wo
                                for ow in ows { acc += grow[ow] * srow[ow * sw] }
                            }
                        }
                        dW[(oc * kh + ki) * kw + kj] += acc
                    }
                }
            }
        }
    }
}

// MARK: batch layout helpers

/// [rows, nb * plane] (GEMM layout) -> nb blocks of [rows, plane] spaced `dstStride` apart.
func scatterBatch(_ src: UnsafePointer<Float>, nb: Int, rows: Int, plane: Int,
                  dst: UnsafeMutablePointer<Float>, dstStride: Int) {
    Threads.parallelFor(nb * rows, minPerThread: Swift.max(1, 65_536 / Swift.max(plane, 1))) { range in
        for i in range {
            let s = i / rows, r = i % rows
            (dst + s * dstStride + r * plane).update(from: src + (r * nb + s) * plane, count: plane)
        }
    }
}

/// nb blocks of [rows, plane] spaced `srcStride` apart -> [rows, nb * plane].
func gatherBatch(_ src: UnsafePointer<Float>, srcStride: Int, nb: Int, rows: Int, plane: Int,
                 dst: UnsafeMutablePointer<Float>) {
    Threads.parallelFor(nb * rows, minPerThread: Swift.max(1, 65_536 / Swift.max(plane, 1))) { range in
        for i in range {
            let s = i / rows, r = i % rows
            (dst + (r * nb + s) * plane).update(from: src + s * srcStride + r * plane, count: plane)
        }
    }
}

/// y[p, :] += bias[p % channels] for each of `planes` planes of `plane` values.
func addBias(_ bias: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, planes: Int, channels: Int, plane: Int) {
    Threads.parallelFor(planes, minPerThread: Swift.max(1, 65_536 / Swift.max(plane, 1))) { range in
        for p in range {
            let b = bias[p % channels], row = y + p * plane
            for i in 0..<plane { row[i] += b }
        }
    }
}

/// Per-channel sums of g [n, channels, plane] (the gradient of a broadcast bias).
func channelSums(_ g: UnsafePointer<Float>, n: Int, channels: Int, plane: Int, into out: UnsafeMutablePointer<Float>) {
    Threads.parallelFor(channels, minPerThread: Swift.max(1, 65_536 / Swift.max(n * plane, 1))) { range in
        for ch in range {
            var acc: Float = 0
            for s in 0..<n {
                let row = g + (s * channels + ch) * plane
                for i in 0..<plane { acc += row[i] }
            }
            out[ch] = acc
        }
    }
}
