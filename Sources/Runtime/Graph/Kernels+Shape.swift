// Shape kernels. Integer tensors (shapes, indices) are carried as Float32 values, which is
// exact for every size a classifier uses (< 2^24).

extension Kernels {
    /// Integer values carried as floats (shapes, axes, indices, pads), checked: a model file
    /// can hold NaN, infinities or values too large for Int, which a plain `Int(_:)` traps on.
    static func ints(_ t: Tensor, _ ctx: KernelContext) throws -> [Int] {
        try t.scalars.map { (v: Float) -> Int in
            guard v == v.rounded(), Swift.abs(v) < 2_147_483_648 else { throw ctx.fail("\(v) is not an integer of a usable size") }
            return Int(v)
        }
    }
    static func intTensor(_ v: [Int]) -> Tensor { Tensor(shape: [v.count], data: v.map(Float.init)) }

    /// Checks that an output of `shape` can exist and fits the memory budget: sizes from a
    /// model file (pads, resize scales, output shapes) can ask for more elements than an Int
    /// holds, or for 40 GB, where allocating would abort the process.
    static func checkOutputSize(_ shape: [Int], _ ctx: KernelContext) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw ctx.fail("the output \(shape) has a negative size") }
        do { try MemoryBudget.check(shape: shape, "the output \(shape)") } catch let e as MemoryBudgetExceeded { throw ctx.fail(e.description) }
    }

    /// Sizes read from attributes (kernel sizes, strides, dilations, pads) are bounded so
    /// that the shape arithmetic on them cannot overflow (a product of two stays below 2^48).
    static let maxAttributeSize = 1 << 24
    static func checkAttributeSizes(_ v: [Int], _ name: String, _ ctx: KernelContext) throws {
        guard v.allSatisfy({ Swift.abs($0) <= maxAttributeSize }) else {
            throw ctx.fail("\(name) \(v) holds a size beyond \(maxAttributeSize)")
        }
    }

    /// Axes from the attribute (older opsets) or the optional input (newer), normalised.
    static func axes(_ ctx: KernelContext, inputIndex: Int, rank: Int) throws -> [Int]? {
        var raw = try ctx.node.ints("axes") ?? ctx.optionalInput(inputIndex).map { try ints($0, ctx) }
        if raw?.isEmpty == true { raw = nil }  // an empty axes input means "not given"
        return try raw?.map { a in
            let n = a < 0 ? a + rank : a
            guard n >= 0 && n < rank else { throw ctx.fail("axis \(a) out of range for rank \(rank)") }
            return n
        }
    }

    static func registerShape(_ t: inout [String: Kernel]) {
        t["Constant"] = { ctx in
            let n = ctx.node
            if let v = n.tensor("value") { return [v] }
            if let f = n.float("value_float") { return [Tensor(f)] }
            if let fs = n.floats("value_floats") { return [Tensor(shape: [fs.count], data: fs)] }
            if let i = n.int("value_int") { return [Tensor(Float(i))] }
            if let is_ = n.ints("value_ints") { return [intTensor(is_)] }
            throw ctx.fail("Constant without a supported value attribute (sparse and string constants are not supported)")
        }
        t["Shape"] = { ctx in
            let s = try ctx.input(0).shape
            let r = s.count
            func clampIdx(_ v: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + r : v, 0), r) }
            let start = clampIdx(ctx.node.int("start") ?? 0), end = clampIdx(ctx.node.int("end") ?? r)
            return [intTensor(start < end ? Array(s[start..<end]) : [])]
        }
        t["Flatten"] = { ctx in
            let x = try ctx.input(0)
            var axis = ctx.node.int("axis") ?? 1
            if axis < 0 { axis += x.rank }
            guard axis >= 0 && axis <= x.rank else { throw ctx.fail("axis out of range for rank \(x.rank)") }
            let outer = x.shape[..<axis].reduce(1, *)
            return [x.reshaped([outer, x.count / Swift.max(outer, 1)])]
        }
        t["Reshape"] = { ctx in
            let x = try ctx.input(0)
            var target = try ints(try ctx.input(1), ctx)
            let allowZero = ctx.node.int("allowzero") == 1
            for i in target.indices where target[i] == 0 && !allowZero {
                guard i < x.rank else { throw ctx.fail("0 in shape \(target) copies a dimension the input \(x.shape) lacks") }
                target[i] = x.shape[i]
            }
            guard target.filter({ $0 == -1 }).count <= 1, target.allSatisfy({ $0 >= -1 }) else {
                throw ctx.fail("shape \(target) has a negative size or more than one -1")
            }
            let (known, overflow) = target.filter { $0 != -1 }.reduce((1, false)) { acc, d in
                let r = acc.0.multipliedReportingOverflow(by: d)
                return (r.partialValue, acc.1 || r.overflow)
            }
            guard !overflow, known > 0 ? x.count % known == 0 && (target.contains(-1) || known == x.count) : x.count == 0 else {
                throw ctx.fail("cannot reshape \(x.shape) to \(target)")
            }
            return [x.reshaped(target)]
        }
        t["Transpose"] = { ctx in
            let x = try ctx.input(0)
            let perm = ctx.node.ints("perm") ?? Array((0..<x.rank).reversed())
            guard perm.sorted() == Array(0..<x.rank) else { throw ctx.fail("perm \(perm) invalid for rank \(x.rank)") }
            return [x.permuted(perm)]
        }
        t["Concat"] = { ctx in
            let parts = ctx.inputs.compactMap { $0 }.filter { $0.count > 0 || $0.rank > 1 }
            guard let first = parts.first else { throw ctx.fail("Concat without inputs") }
            var axis = ctx.node.int("axis") ?? 0
            if axis < 0 { axis += first.rank }
            guard axis >= 0 && axis < first.rank else { throw ctx.fail("axis out of range for rank \(first.rank)") }
            for p in parts where p.rank != first.rank || zip(p.shape, first.shape).enumerated().contains(where: { $0.offset != axis && $0.element.0 != $0.element.1 }) {
                throw ctx.fail("shapes \(parts.map(\.shape)) do not concatenate along axis \(axis)")
            }
            return [Tensor.concat(parts, axis: axis)]
        }
        t["Squeeze"] = { ctx in
            let x = try ctx.input(0)
            let ax = try axes(ctx, inputIndex: 1, rank: x.rank) ?? x.shape.indices.filter { x.shape[$0] == 1 }
            for a in ax where x.shape[a] != 1 { throw ctx.fail("cannot squeeze axis \(a) of size \(x.shape[a])") }
            return [x.reshaped(x.shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element))]
        }
        t["Unsqueeze"] = { ctx in
            let x = try ctx.input(0)
            let outRank = x.rank + (try ctx.node.ints("axes") ?? ctx.optionalInput(1).map { try ints($0, ctx) } ?? []).count
            guard let ax = try axes(ctx, inputIndex: 1, rank: outRank) else { throw ctx.fail("Unsqueeze needs axes") }
            // Distinct axes of the output rank insert in order; a repeated one would insert past the end.
            guard Set(ax).count == ax.count else { throw ctx.fail("axes \(ax) repeat an axis") }
            var shape = x.shape
            for a in ax.sorted() { shape.insert(1, at: a) }
            return [x.reshaped(shape)]
        }
        t["Gather"] = { ctx in
            let x = try ctx.input(0), idx = try ctx.input(1)
            var axis = ctx.node.int("axis") ?? 0
            if axis < 0 { axis += x.rank }
            guard axis >= 0 && axis < x.rank else { throw ctx.fail("axis out of range for rank \(x.rank)") }
            let n = x.shape[axis]
            let picks = try ints(idx, ctx).map { i -> Int in
                let j = i < 0 ? i + n : i
                guard j >= 0 && j < n else { throw ctx.fail("index \(i) out of range for axis of size \(n)") }
                return j
            }
            let gathered = Tensor.concat(picks.map { x.select(axis: axis, $0) }, axis: axis)
            var shape = Array(x.shape[..<axis]) + idx.shape + Array(x.shape[(axis + 1)...])
            if picks.isEmpty { shape = Array(x.shape[..<axis]) + idx.shape + Array(x.shape[(axis + 1)...]) }
            return [picks.isEmpty ? Tensor.zeros(shape) : gathered.reshaped(shape)]
        }
        // ReduceMean, ReduceSum and ReduceMax share ONNX's conventions: keepdims defaults to
        // 1; opset 18 moved axes to an input; absent axes reduce everything, unless
        // noop_with_empty_axes asks for the input unchanged.
        func reduction(_ f: @escaping @Sendable (KernelContext, Tensor, [Int], Bool) throws -> Tensor) -> Kernel {
            { ctx in
                let x = try ctx.input(0)
                let keep = (ctx.node.int("keepdims") ?? 1) == 1
                let ax = try axes(ctx, inputIndex: 1, rank: x.rank)
                if ax == nil && ctx.node.int("noop_with_empty_axes") == 1 { return [x] }
                return [try f(ctx, x, ax ?? Array(0..<x.rank), keep)]
            }
        }
        t["ReduceMean"] = reduction { _, x, ax, keep in x.mean(axes: ax, keepDims: keep) }
        t["ReduceSum"] = reduction { _, x, ax, keep in x.sum(axes: ax, keepDims: keep) }
        t["ReduceMax"] = reduction { ctx, x, ax, keep in
            if let empty = ax.first(where: { x.shape[$0] == 0 }) { throw ctx.fail("cannot take the max over empty axis \(empty) of \(x.shape)") }
            return x.max(axes: ax, keepDims: keep)
        }
        t["Pad"] = { ctx in
            let x = try ctx.input(0)
            let modeName = ctx.node.string("mode") ?? "constant"
            guard let mode = Tensor.PadMode(rawValue: modeName) else { throw ctx.fail("Pad mode '\(modeName)' is not supported") }
            let pads = try ctx.node.ints("pads") ?? ctx.optionalInput(1).map { try ints($0, ctx) } ?? []
            let value = ctx.node.float("value") ?? ctx.optionalInput(2)?.scalars.first ?? 0
            var full = [(Int, Int)](repeating: (0, 0), count: x.rank)
            if let axesIn = ctx.optionalInput(3) {
                let ax = try ints(axesIn, ctx).map { $0 < 0 ? $0 + x.rank : $0 }
                guard pads.count == 2 * ax.count, ax.allSatisfy({ $0 >= 0 && $0 < x.rank }) else {
                    throw ctx.fail("pads \(pads) do not match axes \(ax) of rank \(x.rank)")
                }
                for (k, a) in ax.enumerated() { full[a] = (pads[k], pads[k + ax.count]) }
            } else {
                guard pads.count == 2 * x.rank else { throw ctx.fail("pads \(pads) do not match rank \(x.rank)") }
                for a in 0..<x.rank { full[a] = (pads[a], pads[a + x.rank]) }
            }
            guard full.allSatisfy({ $0.0 >= 0 && $0.1 >= 0 }) else { throw ctx.fail("negative pads \(pads) are not supported") }
            try checkAttributeSizes(pads, "pads", ctx)
            if mode == .reflect, zip(x.shape, full).contains(where: { ($1.0 > 0 || $1.1 > 0) && ($1.0 >= $0 || $1.1 >= $0) }) {
                throw ctx.fail("reflect pads \(pads) must be smaller than the input \(x.shape)")
            }
            if mode != .constant && x.count == 0 { throw ctx.fail("\(modeName) padding of an empty input") }
            try checkOutputSize(zip(x.shape, full).map { $0 + $1.0 + $1.1 }, ctx)
            return [x.padded(full, value: value, mode: mode)]
        }
    }
}
