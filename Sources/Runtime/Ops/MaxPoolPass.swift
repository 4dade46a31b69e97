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
/// over the plane's bits) take the scan itself, so only NaN-free planes use the fast path,
/// where the switch is the first cell equal to the window's maximum (equal as floats, so
/// -0 and +0 tie exactly as in the scan's strict `>`).
struct MaxPoolPass {
    let geo: PoolGeometry
    /// Valid kernel rows of each output row, valid kernel columns of each output column
    /// (they cost integer divisions, so once per pass rather than per window).
    let rowK: [Range<Int>]
    let colK: [Range<Int>]

    init(_ geo: PoolGeometry) {
        self.geo = geo
        rowK = (0..<geo.ho).map { validRange(offset: $0 * geo.sh - geo.pt, stride: geo.dh, inSize: geo.h, outSize: geo.kh) }
        colK = (0..<geo.wo).map { validRange(offset: $0 * geo.sw - geo.pl, stride: geo.dw, inSize: geo.w, outSize: geo.kw) }
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
                    let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(geo.w, 1))
                    defer { rowMax.deallocate() }
                    for pi in planes {
                        let src = xp + pi * geo.inPlane, dst = yp + pi * geo.outPlane
                        let sw = idx.map { $0 + pi * geo.outPlane }
                        if MaxPoolPass.hasNaN(src, count: geo.inPlane) {
                            scanPlane(src, dst, sw)
                        } else {
                            separablePlane(src, dst, sw, rowMax: rowMax)
                        }
                    }
                }
            } }
        }
        return (out, indices)
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
    /// SIMD), then over the window's columns; switches by searching the window for the max.
    private func separablePlane(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                _ sw: UnsafeMutablePointer<Int32>?, rowMax: UnsafeMutablePointer<Float>) {
        let (w, wo, sh, sw0, pt, pl, dh, dw) = (geo.w, geo.wo, geo.sh, geo.sw, geo.pt, geo.pl, geo.dh, geo.dw)
        rowK.withUnsafeBufferPointer { rk in colK.withUnsafeBufferPointer { ck in
            for oh in 0..<geo.ho {
                let hs = oh * sh - pt, kis = rk[oh]
                rowMax.update(from: src + (hs + kis.lowerBound * dh) * w, count: w)
                for ki in (kis.lowerBound + 1)..<kis.upperBound {
                    let r = src + (hs + ki * dh) * w
                    for j in 0..<w { let v = r[j]; rowMax[j] = v > rowMax[j] ? v : rowMax[j] }
                }
                let out = dst + oh * wo
                for ow in 0..<wo {
                    let ws = ow * sw0 - pl, kjs = ck[ow]
                    var best = rowMax[ws + kjs.lowerBound * dw]
                    for kj in (kjs.lowerBound + 1)..<kjs.upperBound {
                        let v = rowMax[ws + kj * dw]
                        best = v > best ? v : best
                    }
                    out[ow] = best
                }
                guard let sw else { continue }
                for ow in 0..<wo {
                    let ws = ow * sw0 - pl, kjs = ck[ow], best = out[ow]
                    var found = (hs + kis.lowerBound * dh) * w + ws + kjs.lowerBound * dw
                    search: for ki in kis {
                        let row = (hs + ki * dh) * w + ws
                        for kj in kjs where src[row + kj * dw] == best { found = row + kj * dw; break search }
                    }
                    sw[oh * wo + ow] = Int32(found)
                }
            }
        } }
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
