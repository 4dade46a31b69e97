// Shape ops: reshape, permute, slicing along an axis, concat, pad.

extension Tensor {
    /// Same values, new shape; one dimension may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            s[i] = count / known
        }
        precondition(s.reduce(1, *) == count, "cannot reshape \(shape) (\(count) values) to \(newShape)")
        if s == shape { return self }
        let old = shape
        return reshapedRaw(s).recording("reshape", inputs: [self]) { g in [g.reshapedRaw(old)] }
    }

    /// [N, ...] -> [N, rest] (or everything from `startAxis` flattened into one axis).
    public func flattened(from startAxis: Int = 1) -> Tensor {
        let a = startAxis < 0 ? startAxis + rank : startAxis
        return reshaped(Array(shape[..<a]) + [shape[a...].reduce(1, *)])
    }

    /// Axes reordered: output axis i is input axis `order[i]`.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.sorted() == Array(0..<rank), "permutation \(order) invalid for rank \(rank)")
        if order == Array(0..<rank) { return self }
        let outShape = order.map { shape[$0] }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let st = order.map { inStrides[$0] }
        let r = rank
        let out = Tensor(shape: outShape) { o in
            storage.withUnsafeBufferPointer { x in
                let inner = outShape[r - 1], innerStride = st[r - 1]
                let rows = o.count / Swift.max(inner, 1)
                var idx = [Int](repeating: 0, count: r)
                for row in 0..<rows {
                    var rem = row, off = 0
                    for d in stride(from: r - 2, through: 0, by: -1) {
                        idx[d] = rem % outShape[d]; rem /= outShape[d]; off += idx[d] * st[d]
                    }
                    let base = row * inner
                    for j in 0..<inner { o[base + j] = x[off + j * innerStride] }
                }
            }
        }
        var inverse = [Int](repeating: 0, count: r)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return out.recording("permute", inputs: [self]) { g in [g.permuted(inverse)] }
    }

    /// 2-D transpose.
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed() needs a matrix, shape is \(shape)")
        return permuted([1, 0])
    }

    /// Elements `range` along `axis` (batch, channel or any axis).
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = normalizeAxis(axis)
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[a], "slice \(range) out of bounds for axis \(a) of \(shape)")
        let (outer, n, inner) = splitAround(a)
        var outShape = shape; outShape[a] = range.count
        let len = range.count * inner
        let out = Tensor(shape: outShape) { o in
            storage.withUnsafeBufferPointer { x in
                for ob in 0..<outer {
                    let src = x.baseAddress! + (ob * n + range.lowerBound) * inner
                    (o.baseAddress! + ob * len).update(from: src, count: len)
                }
            }
        }
        let inShape = shape
        return out.recording("slice", inputs: [self]) { g in
            [Tensor(shape: inShape) { d in
                g.storage.withUnsafeBufferPointer { gs in
                    for ob in 0..<outer {
                        (d.baseAddress! + (ob * n + range.lowerBound) * inner).update(from: gs.baseAddress! + ob * len, count: len)
                    }
                }
            }]
        }
    }

    /// Item `index` along `axis`, keeping the axis (size 1).
    public func select(axis: Int, _ index: Int) -> Tensor { slice(axis: axis, index..<(index + 1)) }

    /// Concatenation along `axis`.
    public static func concat(_ parts: [Tensor], axis: Int) -> Tensor {
        precondition(!parts.isEmpty, "concat needs at least one tensor")
        let a = parts[0].normalizeAxis(axis)
        for p in parts {
            precondition(p.rank == parts[0].rank && p.shape.enumerated().allSatisfy { $0.offset == a || $0.element == parts[0].shape[$0.offset] },
                         "concat: shapes \(parts.map(\.shape)) differ outside axis \(a)")
        }
        let outer = parts[0].shape[..<a].reduce(1, *)
        let inner = parts[0].shape[(a + 1)...].reduce(1, *)
        let sizes = parts.map { $0.shape[a] }
        let total = sizes.reduce(0, +)
        var outShape = parts[0].shape; outShape[a] = total
        let out = Tensor(shape: outShape) { o in
            var offset = 0
            for (p, n) in zip(parts, sizes) {
                p.storage.withUnsafeBufferPointer { x in
                    for ob in 0..<outer where n > 0 {
                        (o.baseAddress! + (ob * total + offset) * inner).update(from: x.baseAddress! + ob * n * inner, count: n * inner)
                    }
                }
                offset += n
            }
        }
        return out.recording("concat", inputs: parts) { g in
            var offset = 0
            return zip(parts, sizes).map { p, n in
                defer { offset += n }
                return p.requiresGrad ? g.slice(axis: a, offset..<(offset + n)) : nil
            }
        }
    }

    /// Stacks equal-shaped tensors along a new leading axis.
    public static func stack(_ parts: [Tensor]) -> Tensor {
        concat(parts.map { $0.reshaped([1] + $0.shape) }, axis: 0)
    }

    public enum PadMode: String, Sendable { case constant, reflect, edge }

    /// Padding: `pads[i] = (before, after)` for each axis (missing leading axes get none).
    /// `reflect` mirrors without repeating the edge (PyTorch/ONNX 'reflect'), `edge` repeats it.
    public func padded(_ pads: [(Int, Int)], value: Float = 0, mode: PadMode = .constant) -> Tensor {
        let p = [(Int, Int)](repeating: (0, 0), count: rank - pads.count) + pads
        let outShape = zip(shape, p).map { $0 + $1.0 + $1.1 }
        precondition(outShape.allSatisfy { $0 >= 0 }, "padding \(pads) makes a negative size from \(shape)")
        if mode == .reflect {
            for (d, pd) in zip(shape, p) where pd.0 > 0 || pd.1 > 0 {
                precondition(d > 1 && pd.0 < d && pd.1 < d, "reflect padding \(pads) needs pads smaller than the size \(shape)")
            }
        }
        if mode != .constant { precondition(!shape.contains(0), "\(mode) padding of an empty tensor \(shape)") }
        // Per axis: the source coordinate of every output coordinate (-1 = padding value).
        let sources: [[Int]] = (0..<rank).map { d in
            (0..<outShape[d]).map { o in
                let i = o - p[d].0, n = shape[d]
                if i >= 0 && i < n { return i }
                switch mode {
                case .constant: return -1
                case .edge: return i < 0 ? 0 : n - 1
                case .reflect: return i < 0 ? -i : 2 * (n - 1) - i
                }
            }
        }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let r = rank
        /// Calls body(outFlat, inFlat or -1) for every output element, row by row.
        func walk(_ body: (Int, Int) -> Void) {
            if r == 0 { body(0, 0); return }
            let inner = outShape[r - 1], innerSrc = sources[r - 1]
            let rows = outShape.reduce(1, *) / Swift.max(inner, 1)
            var idx = [Int](repeating: 0, count: r)
            for row in 0..<rows {
                var rem = row, base = 0, valid = true
                for d in stride(from: r - 2, through: 0, by: -1) {
                    idx[d] = rem % outShape[d]; rem /= outShape[d]
                    let s = sources[d][idx[d]]
                    if s < 0 { valid = false } else { base += s * inStrides[d] }
                }
                for j in 0..<inner {
                    let s = innerSrc[j]
                    body(row * inner + j, valid && s >= 0 ? base + s : -1)
                }
            }
        }
        let out = Tensor(shape: outShape) { o in
            storage.withUnsafeBufferPointer { x in walk { oi, ii in o[oi] = ii >= 0 ? x[ii] : value } }
        }
        let inShape = shape
        return out.recording("pad", inputs: [self]) { g in
            [Tensor(shape: inShape) { d in g.storage.withUnsafeBufferPointer { gs in walk { oi, ii in if ii >= 0 { d[ii] += gs[oi] } } } }]
        }
    }
}
