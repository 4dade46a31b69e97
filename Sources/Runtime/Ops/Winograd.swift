// Winograd F(2x2, 3x3) (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural
// Networks"): a 3x3 stride-1 convolution as 16 independent GEMMs over 4x4 input tiles that
// each yield a 2x2 output block, 16 multiplies per block instead of 36 (2.25x fewer). The
// transforms only add and halve, so the result differs from the direct sum by float rounding
// (checked against the im2col path in ConvPoolTests). Its adjoint (the gradient with respect
// to the input) is again a 3x3 stride-1 convolution, with the kernel turned by 180 degrees,
// input and output channels swapped and the padding mirrored, so both passes share one kernel.
//
//   V = B^T d B   (input tile d, 4x4)       B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   U = G g G^T   (kernel g, 3x3)           G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   Y = A^T (U .* V) A, summed over input channels; A^T = [1 1 1 0; 0 1 -1 -1]

extension ConvGeometry {
    /// Whether forward and backward-to-input run as Winograd F(2x2, 3x3): a 3x3 kernel, stride
    /// and dilation 1, no groups, padding at most 2 (so the adjoint's is not negative), and
    /// enough channels that the 16 GEMMs are not dominated by the transforms.
    var usesWinograd: Bool {
        guard winogradApplies else { return false }
        switch algorithm {
        case .winograd, .winograd4: return true
        case .im2col: return false
        // Without a cached kernel transform (weights that train) U costs 16 x o x c values per
        // call, more than the multiplies saved on few tiles (ResNet's 7x7 layer4: 9 vs 4 ms).
        case .automatic: return c >= 16 && o >= 16 && (cacheWeightTransforms || n * ((ho + 1) / 2) * ((wo + 1) / 2) >= 100)
        }
    }

    /// The output block of each tile: 4 (F(4x4, 3x3)) or 2. Automatic takes F(4x4, 3x3) for a
    /// cached kernel transform and at least 32 of its tiles per call. Measured per ResNet-18
    /// convolution on one core (ms, F2 -> F4): batch 1 layer1 2.41 -> 1.96, layer2 1.83 ->
    /// 1.52; batch 16 layer1 39 -> 33, layer3 28 -> 24 (layer4 34 -> 26, see below). With fewer tiles
    /// (batch 1 layer3: 16, a tie; layer4: 4, 2.8 -> 4.0 ms) reading its 36 kernel planes costs
    /// more than the multiplies saved. Nor for more than 256 x 256 channels: its cached U is
    /// 36 x o x c floats (38 MB for each of layer4's 512 x 512 convolutions, twice with the
    /// backward pass's), which would crowd the other layers out of `WeightTransformCache` for
    /// ~3 % of a batch-16 forward. Its error is ~6x F(2x2, 3x3)'s (ConvPoolTests).
    var winogradTile: Int {
        switch algorithm {
        case .winograd4: return 4
        case .automatic:
            return cacheWeightTransforms && o * c <= 256 * 256 && n * ((ho + 3) / 4) * ((wo + 3) / 4) >= 32 ? 4 : 2
        default: return 2
        }
    }

    /// The geometries Winograd's F(2x2, 3x3) and F(4x4, 3x3) can compute.
    var winogradApplies: Bool {
        kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && groups == 1 && Swift.max(pt, pl, pb, pr) <= 2
    }

    /// y [n, o, ho, wo] = conv(x, weight), overwriting y. `u`: the kernel transform
    /// (`winogradTransform(flipped: false)`), or nil to compute it here.
    func winogradForward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, u cached: UnsafePointer<Float>?,
                         y: UnsafeMutablePointer<Float>) {
        withKernelTransform(weight, flipped: false, cached: cached) { u in
            Self.winogradConvolve(x, n: n, c: c, h: h, w: w, pads: (pt, pl), u: u, o: o, ho: ho, wo: wo, y: y,
                                  budget: chunkBudget, tile: winogradTile, simd: simd)
        }
    }

    /// dx [n, c, h, w] = adjoint of the forward pass applied to gy [n, o, ho, wo], overwriting dx.
    func winogradBackwardData(gy: UnsafePointer<Float>, weight: UnsafePointer<Float>, u cached: UnsafePointer<Float>?,
                              dx: UnsafeMutablePointer<Float>) {
        withKernelTransform(weight, flipped: true, cached: cached) { u in
            Self.winogradConvolve(gy, n: n, c: o, h: ho, w: wo, pads: (2 - pt, 2 - pl), u: u, o: c, ho: h, wo: w, y: dx,
                                  budget: chunkBudget, tile: winogradTile, simd: simd)
        }
    }

    private func withKernelTransform(_ weight: UnsafePointer<Float>, flipped: Bool, cached: UnsafePointer<Float>?,
                                     _ body: (UnsafePointer<Float>) -> Void) {
        if let cached { body(cached); return }
        let u = UnsafeMutablePointer<Float>.allocate(capacity: kernelTransformSize)
        defer { u.deallocate() }
        kernelTransform(weight, flipped: flipped, into: u)
        body(u)
    }

    /// Floats in U: (tile + 2)^2 planes of o x c.
    private var kernelTransformSize: Int { (winogradTile + 2) * (winogradTile + 2) * Self.paddedPlane(o * c) }

    private func kernelTransform(_ weight: UnsafePointer<Float>, flipped: Bool, into u: UnsafeMutablePointer<Float>) {
        if winogradTile == 4 {
            Self.winograd4Kernel(weight, outChannels: o, inChannels: c, flipped: flipped, into: u)
        } else {
            Self.winogradKernel(weight, outChannels: o, inChannels: c, flipped: flipped, into: u)
        }
    }

    /// The kernel transform of a weight that does not require gradients, from the shared cache
    /// (computed on first use): what `winogradForward` / `winogradBackwardData` take as `u`;
    /// nil when this convolution does not run as Winograd or its weight is not cacheable.
    func cachedKernelTransform(_ weight: Tensor, flipped: Bool) -> [Float]? {
        guard usesWinograd && cacheWeightTransforms else { return nil }
        return WeightTransformCache.shared.transform(of: weight, kind: (flipped ? 1 : 0) + (winogradTile == 4 ? 2 : 0),
                                              size: kernelTransformSize) { w, u in
            kernelTransform(w, flipped: flipped, into: u)
        }
    }

    /// U [16, rows, cols] from weight [o, c, 3, 3]: rows = o, cols = c; or, `flipped`, the
    /// kernel of the adjoint (rows = c, cols = o, each 3x3 turned by 180 degrees). The 16
    /// planes lie `paddedPlane(o * c)` floats apart.
    static func winogradKernel(_ weight: UnsafePointer<Float>, outChannels o: Int, inChannels c: Int, flipped: Bool,
                               into u: UnsafeMutablePointer<Float>) {
        let cols = flipped ? o : c, plane = paddedPlane(o * c)
        Threads.parallelFor(o, minPerThread: Swift.max(1, 4096 / Swift.max(c, 1))) { range in
            var g = [Float](repeating: 0, count: 9), t = [Float](repeating: 0, count: 12)
            for oc in range {
                for ic in 0..<c {
                    let src = weight + (oc * c + ic) * 9
                    for i in 0..<9 { g[i] = flipped ? src[8 - i] : src[i] }
                    // t = G g (4x3)
                    for j in 0..<3 {
                        let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j])
                        t[j] = g0
                        t[3 + j] = 0.5 * (g0 + g1 + g2)
                        t[6 + j] = 0.5 * (g0 - g1 + g2)
                        t[9 + j] = g2
                    }
                    // U = t G^T (4x4), element xi = 4 * i + j of the 16 planes
                    let at = (flipped ? ic * cols + oc : oc * cols + ic)
                    for i in 0..<4 {
                        let (t0, t1, t2) = (t[3 * i], t[3 * i + 1], t[3 * i + 2])
                        u[(4 * i) * plane + at] = t0
                        u[(4 * i + 1) * plane + at] = 0.5 * (t0 + t1 + t2)
                        u[(4 * i + 2) * plane + at] = 0.5 * (t0 - t1 + t2)
                        u[(4 * i + 3) * plane + at] = t2
                    }
                }
            }
        }
    }

    /// y [n, o, ho, wo] = the 3x3 stride-1 convolution of x [n, c, h, w] (padding top/left
    /// `pads`; bottom/right implied by ho, wo) with the transformed kernel u [16, o, c] (planes
    /// `paddedPlane(o * c)` apart).
    /// Samples are processed in chunks so the tile buffers stay within `budget` floats.
    static func winogradConvolve(_ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, pads: (Int, Int),
                                 u: UnsafePointer<Float>, o: Int, ho: Int, wo: Int, y: UnsafeMutablePointer<Float>,
                                 budget: Int, tile: Int, simd: SIMDKernels) {
        let th = (ho + tile - 1) / tile, tw = (wo + tile - 1) / tile, tilesPerSample = th * tw, planes = (tile + 2) * (tile + 2)
        // Samples per chunk: about 256 tiles per GEMM (ResNet's 7x7 planes have 16 per sample),
        // no more: the tile buffers (16 x channels x tiles) of whole batches leave the caches.
        let perSample = planes * Swift.max(c, o) * tilesPerSample
        let wanted = ((tile == 4 ? 128 : 256) + tilesPerSample - 1) / tilesPerSample
        let nbMax = Swift.max(1, Swift.min(n, wanted, budget / Swift.max(perSample, 1)))
        let uStride = paddedPlane(o * c), vStride = paddedPlane(c * nbMax * tilesPerSample), mStride = paddedPlane(o * nbMax * tilesPerSample)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: planes * vStride)
        let m = UnsafeMutablePointer<Float>.allocate(capacity: planes * mStride)
        defer { v.deallocate(); m.deallocate() }
        var s0 = 0
        while s0 < n {
            let nb = Swift.min(nbMax, n - s0), tiles = nb * tilesPerSample
            inputTransform(x + s0 * c * h * w, tile: tile, simd: simd, nb: nb, c: c, h: h, w: w, pads: pads, th: th, tw: tw,
                           v: v, plane: vStride)
            // The products are independent: one per worker at a time, each single-threaded.
            Threads.parallelFor(planes) { xis in
                for xi in xis {
                    sgemm(m: o, n: tiles, k: c, a: u + xi * uStride, b: v + xi * vStride, c: m + xi * mStride, serial: true)
                }
            }
            outputTransform(m, tile: tile, simd: simd, nb: nb, o: o, th: th, tw: tw, ho: ho, wo: wo, y: y + s0 * o * ho * wo,
                            plane: mStride)
            s0 += nb
        }
    }

    /// V [planes, c, nb * th * tw] = B^T d B for every input tile of F(`tile` x `tile`, 3x3),
    /// with the kernels `simd` asks for (AVX-512 only where the CPU has it; the same bits).
    static func inputTransform(_ x: UnsafePointer<Float>, tile: Int, simd: SIMDKernels, nb: Int, c: Int, h: Int, w: Int,
                               pads: (Int, Int), th: Int, tw: Int, v: UnsafeMutablePointer<Float>, plane: Int) {
        #if arch(x86_64)
        if simd.runsAVX512 {
            inputTilesAVX512(x, tile: tile, nb: nb, c: c, h: h, w: w, pads: pads, th: th, tw: tw, v: v, plane: plane)
            return
        }
        #endif
        if tile == 4 {
            inputTiles4(x, nb: nb, c: c, h: h, w: w, pads: pads, th: th, tw: tw, v: v, plane: plane)
        } else {
            inputTiles(x, nb: nb, c: c, h: h, w: w, pads: pads, th: th, tw: tw, v: v, plane: plane)
        }
    }

    /// y [nb, o, ho, wo] = A^T M A for every tile of F(`tile` x `tile`, 3x3), from M [planes,
    /// o, nb * th * tw], with the kernels `simd` asks for (as `inputTransform`).
    static func outputTransform(_ m: UnsafePointer<Float>, tile: Int, simd: SIMDKernels, nb: Int, o: Int, th: Int, tw: Int,
                                ho: Int, wo: Int, y: UnsafeMutablePointer<Float>, plane: Int) {
        #if arch(x86_64)
        if simd.runsAVX512 {
            outputTilesAVX512(m, tile: tile, nb: nb, o: o, th: th, tw: tw, ho: ho, wo: wo, y: y, plane: plane)
            return
        }
        #endif
        if tile == 4 {
            outputTiles4(m, nb: nb, o: o, th: th, tw: tw, ho: ho, wo: wo, y: y, plane: plane)
        } else {
            outputTiles(m, nb: nb, o: o, th: th, tw: tw, ho: ho, wo: wo, y: y, plane: plane)
        }
    }

    /// The distance in floats between the 16 planes of a [16, count] tile buffer: `count`,
    /// moved off multiples of 4 KiB. The transforms write (and read) all 16 planes for every
    /// tile; planes exactly 4 KiB apart map to the same L1 sets and evict each other (ResNet's
    /// 64 x 784 and 512 x 16 tile buffers ran their input transform 4-5x slower per tile).
    static func paddedPlane(_ count: Int) -> Int {
        let r = count % 1024
        return r < 32 || r > 992 ? count + 64 - (r > 992 ? r - 1024 : r) : count
    }

    /// Calls `body(rows, pitch, dst)` for every input tile of a Winograd transform: tiles of
    /// `size` x `size` input values every `step` values (F(2x2, 3x3): 4 and 2; F(4x4, 3x3): 6
    /// and 4), starting `pads` before the image. `rows` points at the tile's first row and
    /// `pitch` is the byte distance between rows; `width` values (>= size) can be loaded from
    /// each row: straight from the image when they lie inside it, else from a zero-padded copy.
    /// `dst` is the tile's slot in plane 0 of V [planes, c, nb * th * tw].
    @inline(__always)
    static func forEachInputTile(_ x: UnsafePointer<Float>, nb: Int, c: Int, h: Int, w: Int, pads: (Int, Int),
                                 th: Int, tw: Int, step: Int, size: Int, width: Int, v: UnsafeMutablePointer<Float>,
                                 _ body: (UnsafeRawPointer, Int, UnsafeMutablePointer<Float>) -> Void) {
        forEachInputPlane(x, nb: nb, c: c, h: h, w: w, th: th, tw: tw, size: size, scratch: size * width, v: v) { src, base, d in
            for ty in 0..<th {
                let r0 = step * ty - pads.0
                for tx in 0..<tw {
                    let c0 = step * tx - pads.1
                    if r0 >= 0 && r0 + size <= h && c0 >= 0 && c0 + width <= w {
                        body(UnsafeRawPointer(src + r0 * w + c0), w * MemoryLayout<Float>.stride, base + ty * tw + tx)
                    } else {
                        for r in 0..<size {
                            let ir = r0 + r
                            for q in 0..<width {
                                let ic = c0 + q
                                d[width * r + q] = q < size && ir >= 0 && ir < h && ic >= 0 && ic < w ? src[ir * w + ic] : 0
                            }
                        }
                        body(UnsafeRawPointer(d), width * MemoryLayout<Float>.stride, base + ty * tw + tx)
                    }
                }
            }
        }
    }

    /// Calls `body(src, dst, scratch)` for every (sample, channel) plane of x [nb, c, h, w],
    /// split over the workers: `dst` is the plane's first tile in plane 0 of V [planes, c, nb *
    /// th * tw], `scratch` a worker's buffer of `scratch` floats. `size`: the input tile's side.
    @inline(__always)
    static func forEachInputPlane(_ x: UnsafePointer<Float>, nb: Int, c: Int, h: Int, w: Int, th: Int, tw: Int, size: Int,
                                  scratch: Int, v: UnsafeMutablePointer<Float>,
                                  _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let tiles = nb * th * tw
        Threads.parallelFor(nb * c, minPerThread: Swift.max(1, 32768 / Swift.max(th * tw * size * size, 1))) { range in
            let d = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
            defer { d.deallocate() }
            for sc in range {
                let s = sc / c, ch = sc % c
                body(x + sc * h * w, v + ch * tiles + s * th * tw, d)
            }
        }
    }

    /// V [16, c, nb * th * tw] = B^T d B for every 4x4 input tile d (zero outside the image).
    static func inputTiles(_ x: UnsafePointer<Float>, nb: Int, c: Int, h: Int, w: Int, pads: (Int, Int),
                                   th: Int, tw: Int, v: UnsafeMutablePointer<Float>, plane: Int) {
        forEachInputTile(x, nb: nb, c: c, h: h, w: w, pads: pads, th: th, tw: tw, step: 2, size: 4, width: 4, v: v) { rows, pitch, dst in
            // The tile's four rows, one SIMD4 each.
            let d0 = rows.loadUnaligned(as: SIMD4<Float>.self)
            let d1 = rows.loadUnaligned(fromByteOffset: pitch, as: SIMD4<Float>.self)
            let d2 = rows.loadUnaligned(fromByteOffset: 2 * pitch, as: SIMD4<Float>.self)
            let d3 = rows.loadUnaligned(fromByteOffset: 3 * pitch, as: SIMD4<Float>.self)
            // t = B^T d (row by row, the same additions as element by element).
            let t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1, t3 = d1 - d3
            // V = t B, element (r, q) into plane 4 r + q.
            dst[0] = t0[0] - t0[2]; dst[plane] = t0[1] + t0[2]
            dst[2 * plane] = t0[2] - t0[1]; dst[3 * plane] = t0[1] - t0[3]
            dst[4 * plane] = t1[0] - t1[2]; dst[5 * plane] = t1[1] + t1[2]
            dst[6 * plane] = t1[2] - t1[1]; dst[7 * plane] = t1[1] - t1[3]
            dst[8 * plane] = t2[0] - t2[2]; dst[9 * plane] = t2[1] + t2[2]
            dst[10 * plane] = t2[2] - t2[1]; dst[11 * plane] = t2[1] - t2[3]
            dst[12 * plane] = t3[0] - t3[2]; dst[13 * plane] = t3[1] + t3[2]
            dst[14 * plane] = t3[2] - t3[1]; dst[15 * plane] = t3[1] - t3[3]
        }
    }

    /// Calls `body(src, out, rows, cols)` for every output tile of a Winograd transform with
    /// `size` x `size` output blocks: `src` is the tile's slot in plane 0 of M [planes, o,
    /// nb * th * tw], `out` the block's first output in y [nb, o, ho, wo], and `rows`, `cols`
    /// how many of the block's rows and columns lie inside the output (edge tiles are cut).
    @inline(__always)
    static func forEachOutputTile(_ m: UnsafePointer<Float>, nb: Int, o: Int, th: Int, tw: Int, ho: Int, wo: Int,
                                  size: Int, y: UnsafeMutablePointer<Float>,
                                  _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void) {
        forEachOutputPlane(m, nb: nb, o: o, th: th, tw: tw, ho: ho, wo: wo, size: size, y: y) { src, dst in
            for ty in 0..<th {
                let r = size * ty, rows = Swift.min(size, ho - r)
                for tx in 0..<tw {
                    let q = size * tx
                    body(src + ty * tw + tx, dst + r * wo + q, rows, Swift.min(size, wo - q))
                }
            }
        }
    }

    /// Calls `body(src, dst)` for every (sample, output channel) plane, split over the workers:
    /// `src` is the plane's first tile in plane 0 of M [planes, o, nb * th * tw], `dst` its
    /// first output in y [nb, o, ho, wo]. `size`: the output block's side.
    @inline(__always)
    static func forEachOutputPlane(_ m: UnsafePointer<Float>, nb: Int, o: Int, th: Int, tw: Int, ho: Int, wo: Int,
                                   size: Int, y: UnsafeMutablePointer<Float>,
                                   _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let tiles = nb * th * tw
        Threads.parallelFor(nb * o, minPerThread: Swift.max(1, 32768 / Swift.max(th * tw * (size + 2) * (size + 2), 1))) { range in
            for so in range {
                let s = so / o, oc = so % o
                body(m + oc * tiles + s * th * tw, y + so * ho * wo)
            }
        }
    }

    /// y [nb, o, ho, wo] = A^T M A for every tile, from M [16, o, nb * th * tw].
    static func outputTiles(_ m: UnsafePointer<Float>, nb: Int, o: Int, th: Int, tw: Int, ho: Int, wo: Int,
                                    y: UnsafeMutablePointer<Float>, plane: Int) {
        forEachOutputTile(m, nb: nb, o: o, th: th, tw: tw, ho: ho, wo: wo, size: 2, y: y) { src, out, rows, cols in
            // s = A^T M (2x4), then Y = s A (2x2); M's element (r, q) is plane 4 r + q.
            let (m00, m01, m02, m03) = (src[0], src[plane], src[2 * plane], src[3 * plane])
            let (m10, m11, m12, m13) = (src[4 * plane], src[5 * plane], src[6 * plane], src[7 * plane])
            let (m20, m21, m22, m23) = (src[8 * plane], src[9 * plane], src[10 * plane], src[11 * plane])
            let (m30, m31, m32, m33) = (src[12 * plane], src[13 * plane], src[14 * plane], src[15 * plane])
            let (a0, a1, a2, a3) = (m00 + m10 + m20, m01 + m11 + m21, m02 + m12 + m22, m03 + m13 + m23)
            let (b0, b1, b2, b3) = (m10 - m20 - m30, m11 - m21 - m31, m12 - m22 - m32, m13 - m23 - m33)
            let y00 = a0 + a1 + a2, y01 = a1 - a2 - a3
            let y10 = b0 + b1 + b2, y11 = b1 - b2 - b3
            out[0] = y00
            if cols > 1 { out[1] = y01 }
            if rows > 1 {
                out[wo] = y10
                if cols > 1 { out[wo + 1] = y11 }
            }
        }
    }
}
