/// The loops of 2-D max pooling over [N, C, H, W], parallel over the N*C planes.
///
/// Why two passes per output row instead of one scan per window: a window scan is a chain of
/// dependent compare-and-selects (each waits for the previous best), while the max over the
/// window's rows of a whole input row is contiguous and independent per column, so it runs
/// in SIMD; the max across the window's columns is then a short scan of that row maximum.
/// ResNet's 3x3/2 stem pooling went from ~8 ms to well under 1 ms at batch 1 this way.
///
/// Semantics kept from the scan (and from PyTorch): padded cells never win; the switch of a
/// window is its first maximum in row-major order; a NaN wins, and the last NaN of the
/// window in row-major order is its switch. Planes holding a NaN (found by one integer pass
/// over the plane's bits) take the scan itself; NaN-free planes use the fast path, which
/// breaks ties as the scan does (-0 and +0 tie, as under the scan's strict `>`).
struct MaxPoolPass {
    let geo: PoolGeometry
    /// Valid kernel rows of each output row, valid kernel columns of each output column
    /// (they cost integer divisions, so once per pass rather than per window).
    let rowK: [Range<Int>]
    let colK: [Range<Int>]
    /// The output columns whose windows lie wholly inside the input (contiguous).
    let fullCols: Range<Int>

    init(_ geo: PoolGeometry) {
        self.geo = geo
        rowK = (0..<geo.ho).map { validRange(offset: $0 * geo.sh - geo.pt, stride: geo.dh, inSize: geo.h, outSize: geo.kh) }
        colK = (0..<geo.wo).map { validRange(offset: $0 * geo.sw - geo.pl, stride: geo.dw, inSize: geo.w, outSize: geo.kw) }
        let whole = 0..<geo.kw
        let first = colK.firstIndex(of: whole) ?? 0
        fullCols = first..<Swift.max(first, (colK.lastIndex(of: whole) ?? -1) + 1)
    }

    /// The pooled values and, with `switches`, each output's flat index within its input
    /// plane (empty otherwise).
    func run(_ x: Tensor, switches: Bool) -> (output: Tensor, indices: [Int32]) {
        var indices = [Int32](repeating: 0, count: switches ? geo.planes * geo.outPlane : 0)
        let out = Tensor.overwriting(shape: [geo.n, geo.c, geo.ho, geo.wo]) { y in
            guard y.count > 0 else { return }
            x.withUnsafeBufferPointer { xb in indices.withUnsafeMutableBufferPointer { ib in
                let xp = xb.baseAddress!, yp = y.baseAddress!, idx = switches ? ib.baseAddress : nil
                let work = geo.inPlane * geo.kh + geo.outPlane * geo.kw
                Threads.parallelFor(geo.planes, minPerThread: geo.minPlanes(work: work)) { planes in
                    let scratch = Scratch(width: geo.w)
                    defer { scratch.deallocate() }
                    for pi in planes {
                        let src = xp + pi * geo.inPlane, dst = yp + pi * geo.outPlane
                        let sw = idx.map { $0 + pi * geo.outPlane }
                        if MaxPoolPass.hasNaN(src, count: geo.inPlane) {
                            scanPlane(src, dst, sw)
                        } else if sw == nil && pairsOfPairs {
                            pairsPlane(src, dst)
                        } else {
                            separablePlane(src, dst, sw, scratch: scratch)
                        }
                    }
                }
            } }
        }
        return (out, indices)
    }

    /// 2x2 windows at stride 2 (VGG's and LeNet's pooling), undilated, unpadded, every window
    /// wholly inside the plane.
    var pairsOfPairs: Bool {
        geo.kh == 2 && geo.kw == 2 && geo.sh == 2 && geo.sw == 2 && geo.dh == 1 && geo.dw == 1 && geo.pt == 0 && geo.pl == 0
            && 2 * geo.ho <= geo.h && 2 * geo.wo <= geo.w
    }

    /// NaN-free plane of `pairsOfPairs` windows, no switches: each output from its four inputs
    /// in the scan's order (row-major, strict >), so ties resolve as the scan does. The
    /// separable path's row buffer and per-window column ranges cost more than these four
    /// loads (pooling took 8% of the demo VGG's batch-32 forward, 4% this way).
    private func pairsPlane(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let (w, wo) = (geo.w, geo.wo)
        for oh in 0..<geo.ho {
            let r0 = src + 2 * oh * w, r1 = r0 + w, out = dst + oh * wo
            for ow in 0..<wo {
                var best = r0[2 * ow]
                var v = r0[2 * ow + 1]
                best = v > best ? v : best
                v = r1[2 * ow]
                best = v > best ? v : best
                v = r1[2 * ow + 1]
                best = v > best ? v : best
                out[ow] = best
            }
        }
    }

    /// Whether any of `count` floats is a NaN: |bits| above the infinity pattern. An integer
    /// max over the bits vectorises; a float comparison chain would not.
    static func hasNaN(_ p: UnsafePointer<Float>, count: Int) -> Bool {
        let bits = UnsafeRawPointer(p).assumingMemoryBound(to: UInt32.self)
        var m: UInt32 = 0
        for i in 0..<count { m = Swift.max(m, bits[i] & 0x7fff_ffff) }
        return m > 0x7f80_0000
    }

    /// NaN-free plane: per output row, the max over the window's input rows (contiguous,
    /// SIMD) with the first row reaching it, then over the window's columns. The switch is
    /// the scan's first maximum in row-major order: across columns a tie goes to the smaller
    /// row, then to the earlier column.
    private func separablePlane(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                _ sw: UnsafeMutablePointer<Int32>?, scratch: Scratch) {
        let (w, wo, sh, sw0, pt, pl, dh, dw) = (geo.w, geo.wo, geo.sh, geo.sw, geo.pt, geo.pl, geo.dh, geo.dw)
        let rowMax = scratch.rowMax, rowArg = scratch.rowArg
        rowK.withUnsafeBufferPointer { rk in colK.withUnsafeBufferPointer { ck in
            for oh in 0..<geo.ho {
                let hs = oh * sh - pt, kis = rk[oh]
                rowMax.update(from: src + (hs + kis.lowerBound * dh) * w, count: w)
                if let sw {
                    rowArg.update(repeating: Int32(kis.lowerBound), count: w)
                    for ki in (kis.lowerBound + 1)..<kis.upperBound { MaxPoolPass.rowArgmax(src + (hs + ki * dh) * w, row: ki, rowMax, rowArg, count: w) }
                    let out = dst + oh * wo, swOut = sw + oh * wo
                    for ow in 0..<fullCols.lowerBound { scalarWindow(ow, hs: hs, ck[ow], rowMax, rowArg, out, swOut) }
                    var ow = fullCols.lowerBound
                    while ow + 8 <= fullCols.upperBound {
                        simdWindows(ow, hs: hs, rowMax, rowArg, out, swOut)
                        ow += 8
                    }
                    while ow < wo { scalarWindow(ow, hs: hs, ck[ow], rowMax, rowArg, out, swOut); ow += 1 }
                } else {
                    for ki in (kis.lowerBound + 1)..<kis.upperBound {
                        let r = src + (hs + ki * dh) * w
                        for j in 0..<w { let v = r[j]; rowMax[j] = v > rowMax[j] ? v : rowMax[j] }
                    }
                    for ow in 0..<wo {
                        let ws = ow * sw0 - pl, kjs = ck[ow]
                        var best = rowMax[ws + kjs.lowerBound * dw]
                        for kj in (kjs.lowerBound + 1)..<kjs.upperBound {
                            let v = rowMax[ws + kj * dw]
                            best = v > best ? v : best
                        }
                        dst[oh * wo + ow] = best
                    }
                }
            }
        } }
    }

    typealias Floats = SIMD8<Float>
    typealias Ints = SIMD8<Int32>

    /// rowMax = max(rowMax, r) per column, rowArg = `row` where r won (strictly: ties keep the
    /// earlier row). Explicit SIMD: written as scalar selects the compiler emitted branches,
    /// which random activations mispredict (9 ms instead of 1 on ResNet's stem).
    static func rowArgmax(_ r: UnsafePointer<Float>, row: Int, _ rowMax: UnsafeMutablePointer<Float>,
                          _ rowArg: UnsafeMutablePointer<Int32>, count w: Int) {
        let k = Ints(repeating: Int32(row))
        var j = 0
        while j + 8 <= w {
            let v = UnsafeRawPointer(r + j).loadUnaligned(as: Floats.self)
            var m = UnsafeRawPointer(rowMax + j).loadUnaligned(as: Floats.self)
            var a = UnsafeRawPointer(rowArg + j).loadUnaligned(as: Ints.self)
            let take = v .> m
            m.replace(with: v, where: take)
            a.replace(with: k, where: take)
            UnsafeMutableRawPointer(rowMax + j).storeBytes(of: m, as: Floats.self)
            UnsafeMutableRawPointer(rowArg + j).storeBytes(of: a, as: Ints.self)
            j += 8
        }
        while j < w {
            if r[j] > rowMax[j] { rowMax[j] = r[j]; rowArg[j] = Int32(row) }
            j += 1
        }
    }

    /// One window from the row maxima: the larger value wins; a tie goes to the smaller row,
    /// then (by scan order) to the earlier column.
    private func scalarWindow(_ ow: Int, hs: Int, _ kjs: Range<Int>, _ rowMax: UnsafeMutablePointer<Float>,
                              _ rowArg: UnsafeMutablePointer<Int32>, _ out: UnsafeMutablePointer<Float>,
                              _ sw: UnsafeMutablePointer<Int32>) {
        let ws = ow * geo.sw - geo.pl
        var col = ws + kjs.lowerBound * geo.dw
        var best = rowMax[col], bestRow = rowArg[col]
        for kj in (kjs.lowerBound + 1)..<kjs.upperBound {
            let c = ws + kj * geo.dw, v = rowMax[c], r = rowArg[c]
            if v > best || (v == best && r < bestRow) { (best, bestRow, col) = (v, r, c) }
        }
        out[ow] = best
        sw[ow] = Int32((hs + Int(bestRow) * geo.dh) * geo.w + col)
    }

    /// Eight neighbouring windows whose columns all lie inside the input, as `scalarWindow`
    /// lane by lane (branch-free).
    private func simdWindows(_ ow: Int, hs: Int, _ rowMax: UnsafeMutablePointer<Float>, _ rowArg: UnsafeMutablePointer<Int32>,
                             _ out: UnsafeMutablePointer<Float>, _ sw: UnsafeMutablePointer<Int32>) {
        let step = geo.sw
        let lanes = Ints(0, 1, 2, 3, 4, 5, 6, 7) &* Int32(step)
        var best = Floats(), row = Ints(), col = Ints()
        for kj in 0..<geo.kw {
            let c0 = ow * step - geo.pl + kj * geo.dw
            var v = Floats(), r = Ints()
            for l in 0..<8 { v[l] = rowMax[c0 + l * step]; r[l] = rowArg[c0 + l * step] }
            let c = Ints(repeating: Int32(c0)) &+ lanes
            if kj == 0 { (best, row, col) = (v, r, c); continue }
            let take = (v .> best) .| ((v .== best) .& (r .< row))
            best.replace(with: v, where: take)
            row.replace(with: r, where: take)
            col.replace(with: c, where: take)
        }
        UnsafeMutableRawPointer(out + ow).storeBytes(of: best, as: Floats.self)
        let index = (Ints(repeating: Int32(hs)) &+ row &* Int32(geo.dh)) &* Int32(geo.w) &+ col
        UnsafeMutableRawPointer(sw + ow).storeBytes(of: index, as: Ints.self)
    }

    /// Per-thread row buffers of the separable path.
    struct Scratch {
        let rowMax: UnsafeMutablePointer<Float>
        let rowArg: UnsafeMutablePointer<Int32>
        init(width: Int) {
            rowMax = .allocate(capacity: Swift.max(width, 1))
            rowArg = .allocate(capacity: Swift.max(width, 1))
        }
        func deallocate() { rowMax.deallocate(); rowArg.deallocate() }
    }

    /// Any plane: each window scanned in row-major order with branch-free selects.
    private func scanPlane(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ sw: UnsafeMutablePointer<Int32>?) {
        let (w, wo, sh, sw0, pt, pl, dh, dw) = (geo.w, geo.wo, geo.sh, geo.sw, geo.pt, geo.pl, geo.dh, geo.dw)
        rowK.withUnsafeBufferPointer { rk in colK.withUnsafeBufferPointer { ck in
            for oh in 0..<geo.ho {
                let hs = oh * sh - pt, kis = rk[oh]
                for ow in 0..<wo {
                    let ws = ow * sw0 - pl, kjs = ck[ow]
                    // Start from the first valid cell. A NaN wins and keeps its place, as in PyTorch.
                    var bi = (hs + kis.lowerBound * dh) * w + ws + kjs.lowerBound * dw
                    var best = src[bi]
                    for ki in kis {
                        let row = (hs + ki * dh) * w + ws
                        for kj in kjs {
                            let i = row + kj * dw, v = src[i]
                            let take = (v > best) || (v != v)
                            best = take ? v : best
                            bi = take ? i : bi
                        }
                    }
                    dst[oh * wo + ow] = best
                    sw?[oh * wo + ow] = Int32(bi)
                }
            }
        } }
    }
}
