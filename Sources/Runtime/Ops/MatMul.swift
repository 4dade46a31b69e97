// Matrix products through cblas_sgemm.

extension Tensor {
    /// [M, K] x [K, N] -> [M, N]; also batched [B, M, K] x [B, K, N] and [B, M, K] x [K, N].
    public func matmul(_ other: Tensor) -> Tensor {
        if rank == 2 && other.rank == 2 { return Tensor.mm(self, other) }
        precondition(rank == 3 && (other.rank == 3 || other.rank == 2), "matmul: unsupported shapes \(shape) x \(other.shape)")
        if other.rank == 2 {
            let (b, m, k) = (shape[0], shape[1], shape[2])
            return Tensor.mm(reshaped([b * m, k]), other).reshaped([b, m, other.shape[1]])
        }
        precondition(shape[0] == other.shape[0], "matmul: batch sizes differ: \(shape) x \(other.shape)")
        return Tensor.stack((0..<shape[0]).map { i in
            Tensor.mm(select(axis: 0, i).reshaped(Array(shape[1...])), other.select(axis: 0, i).reshaped(Array(other.shape[1...])))
        })
    }

    static func mmRaw(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let kb = transB ? b.shape[1] : b.shape[0], n = transB ? b.shape[0] : b.shape[1]
        precondition(k == kb, "matmul: inner dimensions differ: \(a.shape)\(transA ? "ᵀ" : "") x \(b.shape)\(transB ? "ᵀ" : "")")
        return Tensor(shape: [m, n]) { c in
            guard m > 0, n > 0 else { return }
            if k == 0 { return }
            a.storage.withUnsafeBufferPointer { pa in b.storage.withUnsafeBufferPointer { pb in
                sgemm(transA: transA, transB: transB, m: m, n: n, k: k,
                      a: pa.baseAddress!, lda: a.shape[1], b: pb.baseAddress!, ldb: b.shape[1], c: c.baseAddress!)
            } }
        }
    }

    static func mm(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2, "mm needs matrices: \(a.shape) x \(b.shape)")
        return mmRaw(a, b).recording("matmul", inputs: [a, b]) { g in
            [a.requiresGrad ? mmRaw(g, b.detached(), transB: true) : nil,
             b.requiresGrad ? mmRaw(a.detached(), g, transA: true) : nil]
        }
    }
}
