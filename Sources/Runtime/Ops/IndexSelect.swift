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
