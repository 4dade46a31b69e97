import Foundation

// Reductions over axes, and softmax / log-softmax. Every single-axis kernel views the tensor
// as [outer, n, inner] so the inner loop runs over contiguous memory.

extension Tensor {
    
    func splitAround(_ axis: Int) -> (outer: Int, n: Int, inner: Int) {
        let a = normalizeAxis(axis)
        return (shape[..<a].reduce(1, *), shape[a], shape[(a + 1)...].reduce(1, *))
    }

    func sumAxisRaw(_ axis: Int, keepDims: Bool) -> Tensor {
        let a = normalizeAxis(axis)
        let (outer, n, inner) = splitAround(a)
        var outShape = shape; outShape[a] = 1
        var out = Tensor(shape: outShape) { o in
            storage.withUnsafeBufferPointer { x in
                for ob in 0..<outer {
                    let dst = o.baseAddress! + ob * inner
                    for k in 0..<n {
                        let src = x.baseAddress! + (ob * n + k) * inner
                        for i in 0..<inner { dst[i] += src[i] }
                    }
                }
            }
        }
        if !keepDims { outShape.remove(at: a); out = out.reshapedRaw(outShape) }
        return out
    }

    /// Sum over `axes` (all when nil).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = Set((axes ?? Array(0..<rank)).map(normalizeAxis))
        if rank == 0 { return self }
        var out = self.detached()
        for a in ax.sorted() { out = out.sumAxisRaw(a, keepDims: true) }
        let keptShape = out.shape
        if !keepDims { out = out.reshapedRaw(shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element)) }
        return out.recording("sum", inputs: [self]) { g in [g.reshapedRaw(keptShape).expanded(to: shape)] }
    }
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = (axes ?? Array(0..<rank)).map(normalizeAxis)
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDims: keepDims) * (1 / Float(Swift.max(n, 1)))
    }
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Max along one axis with the flat index (within the axis) of each maximum.
    func maxAxisRaw(_ axis: Int) -> (values: Tensor, indices: [Int]) {
        let a = normalizeAxis(axis)
        let (outer, n, inner) = splitAround(a)
        var outShape = shape; outShape[a] = 1
        var idx = [Int](repeating: 0, count: outer * inner)
        let vals = Tensor(shape: outShape) { o in
            storage.withUnsafeBufferPointer { x in
                for ob in 0..<outer {
                    for i in 0..<inner {
                        var best = -Float.infinity, bk = 0
                        for k in 0..<n {
                            let v = x[(ob * n + k) * inner + i]
                            if v > best || (k == 0) { best = v; bk = k }
                        }
                        o[ob * inner + i] = best
                        idx[ob * inner + i] = bk
                    }
                }
            }
        }
        return (vals, idx)
    }

    /// Max along `axis`; the gradient goes to the (first) maximal element.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor {
        let a = normalizeAxis(axis)
        let (outer, n, inner) = splitAround(a)
        let (vals, idx) = maxAxisRaw(a)
        var outShape = shape; outShape[a] = 1
        let kept = outShape
        if !keepDims { outShape.remove(at: a) }
        let inShape = shape
        return vals.reshapedRaw(outShape).recording("max", inputs: [self]) { g in
            let gk = g.reshapedRaw(kept)
            return [Tensor(shape: inShape) { d in
                for ob in 0..<outer { for i in 0..<inner {
                    d[(ob * n + idx[ob * inner + i]) * inner + i] = gk.storage[ob * inner + i]
                } }
            }]
        }
    }

    /// Max over several axes (all when nil), as ONNX's ReduceMax: one axis at a time, so the
    /// gradient goes to one maximal element of each reduced group (the first along the
    /// last-reduced axis).
    public func max(axes: [Int]?, keepDims: Bool = false) -> Tensor {
        let ax = Set((axes ?? Array(0..<rank)).map(normalizeAxis)).sorted()
        if rank == 0 { return self }
        var out = self
        for a in ax { out = out.max(axis: a, keepDims: true) }
        return keepDims ? out : out.reshaped(shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element))
    }

    /// Max over all elements.
    public func max() -> Tensor { reshaped([count]).max(axis: 0) }
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { -((-self).max(axis: axis, keepDims: keepDims)) }
    public func min() -> Tensor { -((-self).max()) }

    /// Indices of the maxima along `axis` (no gradient), as Ints, row-major over the other axes.
    public func argmax(axis: Int) -> [Int] { maxAxisRaw(axis).indices }

    /// Softmax along `axis` (numerically stable).
    public func softmax(axis: Int = -1) -> Tensor {
        let a = normalizeAxis(axis)
        let (outer, n, inner) = splitAround(a)
        let y = Tensor(shape: shape) { o in
            storage.withUnsafeBufferPointer { x in
                for ob in 0..<outer { for i in 0..<inner {
                    var m = -Float.infinity
                    for k in 0..<n { m = Swift.max(m, x[(ob * n + k) * inner + i]) }
                    var s: Float = 0
                    for k in 0..<n { let e = Foundation.exp(x[(ob * n + k) * inner + i] - m); o[(ob * n + k) * inner + i] = e; s += e }
                    for k in 0..<n { o[(ob * n + k) * inner + i] /= s }
                } }
            }
        }
        return y.recording("softmax", inputs: [self]) { g in
            let yd = y.detached()
            let dot = (g * yd).sumAxisRaw(a, keepDims: true)
            return [yd * (g - dot)]
        }
    }

    /// Log-softmax along `axis` (numerically stable).
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let a = normalizeAxis(axis)
        let (outer, n, inner) = splitAround(a)
        let y = Tensor(shape: shape) { o in
            storage.withUnsafeBufferPointer { x in
                for ob in 0..<outer { for i in 0..<inner {
                    var m = -Float.infinity
                    for k in 0..<n { m = Swift.max(m, x[(ob * n + k) * inner + i]) }
                    var s: Float = 0
                    for k in 0..<n { s += Foundation.exp(x[(ob * n + k) * inner + i] - m) }
                    let lse = m + Foundation.log(s)
                    for k in 0..<n { o[(ob * n + k) * inner + i] = x[(ob * n + k) * inner + i] - lse }
                } }
            }
        }
        return y.recording("log_softmax", inputs: [self]) { g in
            let p = y.detached().exp()
            return [g - p * g.sumAxisRaw(a, keepDims: true)]
        }
    }
}
