// Winograd F(4x4, 3x3) (Lavin & Gray 2016, interpolation points 0, 1, -1, 2, -2): 6x6 input
// tiles, each yielding a 4x4 output block from 36 products per (output, input) channel pair
// instead of 144 (4x fewer multiplies; F(2x2, 3x3) saves 2.25x). The larger transform
// constants (up to 8) cost accuracy: the result differs from the direct sum by a few 1e-6 of
// its magnitude on ResNet-sized layers, against ~1e-7 for F(2x2, 3x3) (ConvPoolTests
// measures both against the direct convolution).
//
//   B^T = [4  0 -5  0 1 0;  0 -4 -4  1 1 0;  0 4 -4 -1 1 0;  0 -2 -1 2 1 0;  0 2 -1 -2 1 0;  0 4 0 -5 0 1]
//   G   = [1/4 0 0;  -1/6 -1/6 -1/6;  -1/6 1/6 -1/6;  1/24 1/12 1/6;  1/24 -1/12 1/6;  0 0 1]
//   A^T = [1 1 1 1 1 0;  0 1 -1 2 -2 0;  0 1 1 4 4 0;  0 1 -1 8 -8 1]

extension ConvGeometry {
    /// U [36, rows, cols] (planes `paddedPlane(o * c)` apart) from weight [o, c, 3, 3]: as
    /// `winogradKernel`, for F(4x4, 3x3).
    static func winograd4Kernel(_ weight: UnsafePointer<Float>, outChannels o: Int, inChannels c: Int, flipped: Bool,
                                into u: UnsafeMutablePointer<Float>) {
        let cols = flipped ? o : c, plane = paddedPlane(o * c)
        Threads.parallelFor(o, minPerThread: Swift.max(1, 2048 / Swift.max(c, 1))) { range in
            for oc in range {
                for ic in 0..<c {
                    let src = weight + (oc * c + ic) * 9
                    @inline(__always) func g(_ i: Int) -> Float { flipped ? src[8 - i] : src[i] }
                    // t = G g (6x3), column by column; then U = t G^T row by row.
                    var t = (SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>())
                    let g0 = SIMD4<Float>(g(0), g(1), g(2), 0), g1 = SIMD4<Float>(g(3), g(4), g(5), 0)
                    let g2 = SIMD4<Float>(g(6), g(7), g(8), 0)
                    t.0 = g0 / 4
                    t.1 = -(g0 + g1 + g2) / 6
                    t.2 = -(g0 - g1 + g2) / 6
                    t.3 = g0 / 24 + g1 / 12 + g2 / 6
                    t.4 = g0 / 24 - g1 / 12 + g2 / 6
                    t.5 = g2
                    let at = flipped ? ic * cols + oc : oc * cols + ic
                    @inline(__always) func row(_ i: Int, _ r: SIMD4<Float>) {
                        let base = u + 6 * i * plane + at
                        base[0] = r[0] / 4
                        base[plane] = -(r[0] + r[1] + r[2]) / 6
                        base[2 * plane] = -(r[0] - r[1] + r[2]) / 6
                        base[3 * plane] = r[0] / 24 + r[1] / 12 + r[2] / 6
                        base[4 * plane] = r[0] / 24 - r[1] / 12 + r[2] / 6
                        base[5 * plane] = r[2]
                    }
                    row(0, t.0); row(1, t.1); row(2, t.2); row(3, t.3); row(4, t.4); row(5, t.5)
                }
            }
        }
    }

    /// V [36, c, nb * th * tw] = B^T d B for every 6x6 input tile d starting at (4 ty, 4 tx)
    /// minus the pads (zero outside the image).
    static func inputTiles4(_ x: UnsafePointer<Float>, nb: Int, c: Int, h: Int, w: Int, pads: (Int, Int),
                            th: Int, tw: Int, v: UnsafeMutablePointer<Float>, plane: Int) {
        // Rows are read as SIMD8 (6 values used).
        forEachInputTile(x, nb: nb, c: c, h: h, w: w, pads: pads, th: th, tw: tw, step: 4, size: 6, width: 8, v: v) { rows, pitch, dst in
            @inline(__always) func load(_ r: Int) -> SIMD8<Float> {
                rows.loadUnaligned(fromByteOffset: r * pitch, as: SIMD8<Float>.self)
            }
            let (d0, d1, d2, d3, d4, d5) = (load(0), load(1), load(2), load(3), load(4), load(5))
            // t = B^T d, on whole rows (lanes 6 and 7 are never read).
            let t0 = 4 * d0 - 5 * d2 + d4
            let t1 = -4 * d1 - 4 * d2 + d3 + d4
            let t2 = 4 * d1 - 4 * d2 - d3 + d4
            let t3 = -2 * d1 - d2 + 2 * d3 + d4
            let t4 = 2 * d1 - d2 - 2 * d3 + d4
            let t5 = 4 * d1 - 5 * d3 + d5
            // V = t B: the same combinations across each row; element (r, q) into plane 6 r + q.
            @inline(__always) func row(_ r: Int, _ a: SIMD8<Float>) {
                let o = dst + 6 * r * plane
                o[0] = 4 * a[0] - 5 * a[2] + a[4]
                o[plane] = -4 * a[1] - 4 * a[2] + a[3] + a[4]
                o[2 * plane] = 4 * a[1] - 4 * a[2] - a[3] + a[4]
                o[3 * plane] = -2 * a[1] - a[2] + 2 * a[3] + a[4]
                o[4 * plane] = 2 * a[1] - a[2] - 2 * a[3] + a[4]
                o[5 * plane] = 4 * a[1] - 5 * a[3] + a[5]
            }
            row(0, t0); row(1, t1); row(2, t2); row(3, t3); row(4, t4); row(5, t5)
        }
    }

    /// y [nb, o, ho, wo] = A^T M A for every tile, from M [36, o, nb * th * tw].
    static func outputTiles4(_ m: UnsafePointer<Float>, nb: Int, o: Int, th: Int, tw: Int, ho: Int, wo: Int,
                             y: UnsafeMutablePointer<Float>, plane: Int) {
        forEachOutputTile(m, nb: nb, o: o, th: th, tw: tw, ho: ho, wo: wo, size: 4, y: y) { src, out, rows, cols in
            // Row r of M (6 values) as a SIMD8; s = A^T M on whole rows, then Y = s A.
            @inline(__always) func mrow(_ r: Int) -> SIMD8<Float> {
                let p = src + 6 * r * plane
                return SIMD8<Float>(p[0], p[plane], p[2 * plane], p[3 * plane], p[4 * plane], p[5 * plane], 0, 0)
            }
            let (m0, m1, m2, m3, m4, m5) = (mrow(0), mrow(1), mrow(2), mrow(3), mrow(4), mrow(5))
            let s0 = m0 + m1 + m2 + m3 + m4
            let s1 = m1 - m2 + 2 * m3 - 2 * m4
            let s2 = m1 + m2 + 4 * m3 + 4 * m4
            let s3 = m1 - m2 + 8 * m3 - 8 * m4 + m5
            @inline(__always) func put(_ i: Int, _ a: SIMD8<Float>) {
                guard i < rows else { return }
                let row = out + i * wo
                let vals = (a[0] + a[1] + a[2] + a[3] + a[4], a[1] - a[2] + 2 * a[3] - 2 * a[4],
                            a[1] + a[2] + 4 * a[3] + 4 * a[4], a[1] - a[2] + 8 * a[3] - 8 * a[4] + a[5])
                row[0] = vals.0
                if cols > 1 { row[1] = vals.1 }
                if cols > 2 { row[2] = vals.2 }
                if cols > 3 { row[3] = vals.3 }
            }
            put(0, s0); put(1, s1); put(2, s2); put(3, s3)
        }
    }
}
