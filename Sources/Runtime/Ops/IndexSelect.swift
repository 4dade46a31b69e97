extension Tensor {
    /// out[n, c, i, j] = self[n, c, rows[i], cols[j]] for [N, C, H, W]: nearest-neighbour
    /// resampling under any coordinate rule (the caller computes the index tables).
    /// The gradient scatter-adds back, so repeated indices accumulate.
    public func gatherRowsCols(rows: [Int], cols: [Int]) -> Tensor {
        precondition(rank == 4, "gatherRowsCols needs [N, C, H, W], got \(shape)")
        let (h, w) = (shape[2], shape[3])
        precondition(rows.allSatisfy { $0 >= 0 && $0 < h } && cols.allSatisfy { $0 >= 0 && $0 < w }, "index out of range for \(shape)")
        let planes = shape[0] * shape[1], oh = rows.count, ow = cols.count
        let out = Tensor(shape: [shape[0], shape[1], oh, ow]) { o in
            storage.withUnsafeBufferPointer { x in
                let (px, po) = (x.baseAddress!, o.baseAddress!)
                Threads.parallelFor(planes, minPerThread: Swift.max(1, 16_384 / Swift.max(oh * ow, 1))) { range in
                    for p in range {
                        let src = px + p * h * w, dst = po + p * oh * ow
                        for i in 0..<oh { let row = src + rows[i] * w; for j in 0..<ow { dst[i * ow + j] = row[cols[j]] } }
                    }
                }
            }
        }
        let inShape = shape
        return out.recording("gather_rows_cols", inputs: [self]) { g in
            [Tensor(shape: inShape) { d in
                g.storage.withUnsafeBufferPointer { gs in
                    let (pg, pd) = (gs.baseAddress!, d.baseAddress!)
                    Threads.parallelFor(planes, minPerThread: Swift.max(1, 16_384 / Swift.max(oh * ow, 1))) { range in
                        for p in range {
                            let src = pg + p * oh * ow, dst = pd + p * h * w
                            for i in 0..<oh { let row = dst + rows[i] * w; for j in 0..<ow { row[cols[j]] += src[i * ow + j] } }
                        }
                    }
                }
            }]
        }
    }
}

/// One output coordinate of a separable resampling: the source indices it reads and their weights.
public typealias ResampleTaps = [(index: Int, weight: Float)]

extension Tensor {
    /// Separable resampling of [N, C, H, W]: out[n,c,i,j] = sum_a sum_b rowTaps[i][a].w *
    /// colTaps[j][b].w * self[n,c,rowTaps[i][a].index,colTaps[j][b].index]. Any interpolation
    /// rule (linear, cubic, under any coordinate convention) is a choice of taps; the caller
    /// computes them. Rows first, then columns; the gradient is the transpose of both passes.
    public func resampleSeparable(rowTaps: [ResampleTaps], colTaps: [ResampleTaps]) -> Tensor {
        precondition(rank == 4, "resampleSeparable needs [N, C, H, W], got \(shape)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        precondition(rowTaps.allSatisfy { $0.allSatisfy { $0.index >= 0 && $0.index < h } }
                     && colTaps.allSatisfy { $0.allSatisfy { $0.index >= 0 && $0.index < w } }, "resample tap out of range for \(shape)")
        let oh = rowTaps.count, ow = colTaps.count, planes = n * c
        // Rows: [planes, H, W] -> [planes, oh, W]; columns: -> [planes, oh, ow].
        func rowsPass(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, transpose: Bool) {
            Threads.parallelFor(planes, minPerThread: 4) { range in
                for p in range {
                    for i in 0..<oh {
                        for tap in rowTaps[i] {
                            if transpose {
                                let s = src + (p * oh + i) * w, d = dst + (p * h + tap.index) * w
                                for j in 0..<w { d[j] += tap.weight * s[j] }
                            } else {
                                let s = src + (p * h + tap.index) * w, d = dst + (p * oh + i) * w
                                for j in 0..<w { d[j] += tap.weight * s[j] }
                            }
                        }
                    }
                }
            }
        }
        func colsPass(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, transpose: Bool) {
            Threads.parallelFor(planes * oh, minPerThread: 64) { range in
                for r in range {
                    if transpose {
                        let s = src + r * ow, d = dst + r * w
                        for j in 0..<ow { for tap in colTaps[j] { d[tap.index] += tap.weight * s[j] } }
                    } else {
                        let s = src + r * w, d = dst + r * ow
                        for j in 0..<ow { var acc: Float = 0; for tap in colTaps[j] { acc += tap.weight * s[tap.index] }; d[j] = acc }
                    }
                }
            }
        }
        let mid = Tensor(shape: [n, c, oh, w]) { m in
            storage.withUnsafeBufferPointer { x in rowsPass(x.baseAddress!, m.baseAddress!, transpose: false) }
        }
        let out = Tensor(shape: [n, c, oh, ow]) { o in
            mid.storage.withUnsafeBufferPointer { m in colsPass(m.baseAddress!, o.baseAddress!, transpose: false) }
        }
        let inShape = shape
        return out.recording("resample", inputs: [self]) { g in
            let gm = Tensor(shape: [n, c, oh, w]) { m in
                g.storage.withUnsafeBufferPointer { gs in colsPass(gs.baseAddress!, m.baseAddress!, transpose: true) }
            }
            return [Tensor(shape: inShape) { d in
                gm.storage.withUnsafeBufferPointer { m in rowsPass(m.baseAddress!, d.baseAddress!, transpose: true) }
            }]
        }
    }
}
