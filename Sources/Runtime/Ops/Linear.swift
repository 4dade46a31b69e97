// Fully connected layer: one GEMM forward, GEMMs backward.

extension Tensor {
    /// `self · weightᵀ + bias` for `self` of shape [N, in] (or any [..., in]: leading axes are
    /// flattened into rows), `weight` [out, in] (PyTorch layout), `bias` [out].
    /// Result [N, out] (or [..., out]).
    public func linear(_ weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(rank >= 1 && weight.rank == 2, "linear: needs x [..., in] and weight [out, in], got \(shape) and \(weight.shape)")
        let inF = shape[rank - 1], outF = weight.shape[0]
        precondition(weight.shape[1] == inF, "linear: x \(shape) has \(inF) features, weight \(weight.shape) expects \(weight.shape[1])")
        if let bias { precondition(bias.shape == [outF], "linear: bias \(bias.shape) should be [\(outF)]") }
        let rows = inF == 0 ? shape.dropLast().reduce(1, *) : count / inF
        let outShape = Array(shape.dropLast()) + [outF]

        let y = Tensor(shape: outShape) { c in
            guard rows > 0, outF > 0 else { return }
            var beta: Float = 0
            if let bias {
                bias.storage.withUnsafeBufferPointer { b in
                    for r in 0..<rows { (c.baseAddress! + r * outF).update(from: b.baseAddress!, count: outF) }
                }
                beta = 1
            }
            guard inF > 0 else { return }
            storage.withUnsafeBufferPointer { x in weight.storage.withUnsafeBufferPointer { w in
                sgemm(transB: true, m: rows, n: outF, k: inF, a: x.baseAddress!, lda: inF,
                      b: w.baseAddress!, ldb: inF, beta: beta, c: c.baseAddress!, ldc: outF)
            } }
        }

        var inputs = [self, weight]
        if let bias { inputs.append(bias) }
        let xd = self.detached(), wd = weight.detached()
        let (xNeeds, wNeeds, bNeeds) = (requiresGrad, weight.requiresGrad, bias?.requiresGrad ?? false)
        let xShape = shape
        return y.recording("linear", inputs: inputs) { g in
            var grads: [Tensor?] = []
            g.storage.withUnsafeBufferPointer { gp in
                let ok = rows > 0 && outF > 0 && inF > 0
                // dX = g · W   ([rows, out] x [out, in])
                grads.append(xNeeds ? Tensor(shape: xShape) { dx in
                    guard ok else { return }
                    wd.storage.withUnsafeBufferPointer { w in
                        sgemm(m: rows, n: inF, k: outF, a: gp.baseAddress!, lda: outF,
                              b: w.baseAddress!, ldb: inF, c: dx.baseAddress!, ldc: inF)
                    }
                } : nil)
                // dW = gᵀ · X   ([out, rows] x [rows, in])
                grads.append(wNeeds ? Tensor(shape: [outF, inF]) { dw in
                    guard ok else { return }
                    xd.storage.withUnsafeBufferPointer { x in
                        sgemm(transA: true, m: outF, n: inF, k: rows, a: gp.baseAddress!, lda: outF,
                              b: x.baseAddress!, ldb: inF, c: dw.baseAddress!, ldc: inF)
                    }
                } : nil)
                if bias != nil {
                    grads.append(bNeeds ? Tensor(shape: [outF]) { db in
                        for r in 0..<rows {
                            let src = gp.baseAddress! + r * outF
                            for j in 0..<outF { db[j] += src[j] }
                        }
                    } : nil)
                }
            }
            return grads
        }
    }
}
