// Convolution, pooling, normalisation and resampling kernels.
// 1-D variants ([N, C, L]) run as 2-D with a height of one.

extension Kernels {
    /// Spatial attribute (kernel_shape, strides, dilations) as [h, w], lifting 1-D to 2-D;
    /// one value per spatial axis, else an error (a model file may hold any list).
    static func pair(_ v: [Int]?, default d: Int, spatialRank: Int, _ name: String, _ ctx: KernelContext) throws -> [Int] {
        guard let v else { return [d, d] }
        guard v.count == spatialRank else { throw ctx.fail("\(name) \(v) needs \(spatialRank) values") }
        try checkAttributeSizes(v, name, ctx)
        return spatialRank == 1 ? [1, v[0]] : v
    }

    /// ONNX pads [h_begin, w_begin, h_end, w_end] (or auto_pad) as [top, left, bottom, right].
    static func pads(_ ctx: KernelContext, input: [Int], kernel: [Int], stride: [Int], dilation: [Int], spatialRank: Int) throws -> [Int] {
        let auto = ctx.node.string("auto_pad") ?? "NOTSET"
        switch auto {
        case "NOTSET", "":
            guard let p = ctx.node.ints("pads") else { return [0, 0, 0, 0] }
            guard p.count == 2 * spatialRank, p.allSatisfy({ $0 >= 0 }) else { throw ctx.fail("pads \(p) invalid for \(spatialRank)-D input") }
            try checkAttributeSizes(p, "pads", ctx)
            return spatialRank == 1 ? [0, p[0], 0, p[1]] : p
        case "VALID": return [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            var out = [0, 0, 0, 0]
            for d in 0..<2 {
                let outSize = (input[d] + stride[d] - 1) / stride[d]
                let total = Swift.max((outSize - 1) * stride[d] + (kernel[d] - 1) * dilation[d] + 1 - input[d], 0)
                let small = total / 2, big = total - small
                out[d] = auto == "SAME_UPPER" ? small : big
                out[d + 2] = auto == "SAME_UPPER" ? big : small
            }
            return out
        default: throw ctx.fail("auto_pad '\(auto)' is not supported")
        }
    }

    /// Views a 3-D [N, C, L] tensor as [N, C, 1, L]; checks rank.
    static func spatial4D(_ x: Tensor, _ ctx: KernelContext) throws -> (Tensor, Int) {
        switch x.rank {
        case 4: return (x, 2)
        case 3: return (x.reshaped([x.shape[0], x.shape[1], 1, x.shape[2]]), 1)
        default: throw ctx.fail("expects a 1-D or 2-D spatial input ([N,C,L] or [N,C,H,W]), got \(x.shape)")
        }
    }
    static func restore(_ y: Tensor, spatialRank: Int) -> Tensor {
        spatialRank == 1 ? y.reshaped([y.shape[0], y.shape[1], y.shape[3]]) : y
    }

    static func registerNN(_ t: inout [String: Kernel]) {
        t["Conv"] = { ctx in
            let (x, sr) = try spatial4D(try ctx.input(0), ctx)
            var w = try ctx.input(1)
            if w.rank == 3 { w = w.reshaped([w.shape[0], w.shape[1], 1, w.shape[2]]) }
            guard w.rank == 4 else { throw ctx.fail("weight must be 3-D or 4-D, got \(w.shape)") }
            let groups = ctx.node.int("group") ?? 1
            guard groups > 0, x.shape[1] % groups == 0, w.shape[0] % groups == 0, w.shape[1] * groups == x.shape[1] else {
                throw ctx.fail("input \(x.shape), weight \(w.shape) and group \(groups) do not match")
            }
            let k = [w.shape[2], w.shape[3]]
            if let ks = ctx.node.ints("kernel_shape"), try pair(ks, default: 1, spatialRank: sr, "kernel_shape", ctx) != k {
                throw ctx.fail("kernel_shape \(ks) disagrees with weight \(w.shape)")
            }
            let stride = try pair(ctx.node.ints("strides"), default: 1, spatialRank: sr, "strides", ctx)
            let dilation = try pair(ctx.node.ints("dilations"), default: 1, spatialRank: sr, "dilations", ctx)
            guard stride.allSatisfy({ $0 > 0 }), dilation.allSatisfy({ $0 > 0 }) else { throw ctx.fail("strides and dilations must be positive") }
            let p = try pads(ctx, input: [x.shape[2], x.shape[3]], kernel: k, stride: stride, dilation: dilation, spatialRank: sr)
            for d in 0..<2 where x.shape[2 + d] + p[d] + p[d + 2] < (k[d] - 1) * dilation[d] + 1 {
                throw ctx.fail("kernel \(k) (dilation \(dilation)) is larger than the padded input \(x.shape)")
            }
            // The output and one image's im2col columns (pads from the file can make both huge).
            let outHW = (0..<2).map { (d: Int) -> Int in
                let span: Int = x.shape[2 + d] + p[d] + p[d + 2] - ((k[d] - 1) * dilation[d] + 1)
                return span / stride[d] + 1
            }
            try checkOutputSize([x.shape[0], w.shape[0]] + outHW, ctx)
            try checkOutputSize([w.shape[1] * k[0] * k[1], outHW[0] * outHW[1]], ctx)
            let b = ctx.optionalInput(2)
            if let b, b.count != w.shape[0] { throw ctx.fail("bias has \(b.count) values for \(w.shape[0]) filters") }
            let y = x.conv2d(w, bias: b, stride: stride, padding: p, dilation: dilation, groups: groups)
            return [restore(y, spatialRank: sr)]
        }
        t["ConvTranspose"] = { ctx in
            let (x, sr) = try spatial4D(try ctx.input(0), ctx)
            var w = try ctx.input(1)
            if w.rank == 3 { w = w.reshaped([w.shape[0], w.shape[1], 1, w.shape[2]]) }
            let groups = ctx.node.int("group") ?? 1
            guard w.rank == 4, groups > 0, w.shape[0] == x.shape[1], x.shape[1] % groups == 0 else {
                throw ctx.fail("input \(x.shape), weight \(w.shape) and group \(groups) do not match")
            }
            let k = [w.shape[2], w.shape[3]]
            let stride = try pair(ctx.node.ints("strides"), default: 1, spatialRank: sr, "strides", ctx)
            let dilation = try pair(ctx.node.ints("dilations"), default: 1, spatialRank: sr, "dilations", ctx)
            var outPad = try pair(ctx.node.ints("output_padding"), default: 0, spatialRank: sr, "output_padding", ctx)
            guard stride.allSatisfy({ $0 > 0 }), dilation.allSatisfy({ $0 > 0 }) else { throw ctx.fail("strides and dilations must be positive") }
            var p: [Int]
            let auto = ctx.node.string("auto_pad") ?? "NOTSET"
            if let os = ctx.node.ints("output_shape") {
                // Explicit output shape: total padding follows from it (ONNX's formula).
                guard os.count >= sr else { throw ctx.fail("output_shape \(os) needs \(sr) spatial sizes") }
                try checkAttributeSizes(os, "output_shape", ctx)
                let target = sr == 1 ? [1, os[os.count - 1]] : Array(os.suffix(2))
                p = [0, 0, 0, 0]
                for d in 0..<2 {
                    let full = stride[d] * (x.shape[2 + d] - 1) + outPad[d] + (k[d] - 1) * dilation[d] + 1
                    let total = full - target[d]
                    if total < 0 { outPad[d] += -total; continue }
                    let small = total / 2, big = total - small
                    p[d] = auto == "SAME_LOWER" ? big : small
                    p[d + 2] = auto == "SAME_LOWER" ? small : big
                }
            } else if auto == "SAME_UPPER" || auto == "SAME_LOWER" {
                p = [0, 0, 0, 0]
                for d in 0..<2 {
                    let full = stride[d] * (x.shape[2 + d] - 1) + outPad[d] + (k[d] - 1) * dilation[d] + 1
                    let total = Swift.max(full - x.shape[2 + d] * stride[d], 0)
                    let small = total / 2, big = total - small
                    p[d] = auto == "SAME_UPPER" ? small : big
                    p[d + 2] = auto == "SAME_UPPER" ? big : small
                }
            } else {
                p = try pads(ctx, input: [x.shape[2], x.shape[3]], kernel: k, stride: stride, dilation: dilation, spatialRank: sr)
            }
            let b = ctx.optionalInput(2)
            // What convTranspose2d requires of its arguments (it traps otherwise).
            let o = w.shape[1] * groups
            var outSize: [Int] = []
            if let b, b.shape != [o] { throw ctx.fail("bias \(b.shape) should be [\(o)]") }
            for d in 0..<2 {
                guard outPad[d] >= 0, outPad[d] < stride[d] || outPad[d] < dilation[d] else {
                    throw ctx.fail("output_padding \(outPad) must be smaller than the stride \(stride) or dilation \(dilation)")
                }
                let out = (x.shape[2 + d] - 1) * stride[d] - p[d] - p[d + 2] + dilation[d] * (k[d] - 1) + outPad[d] + 1
                guard out > 0 else { throw ctx.fail("input \(x.shape), weight \(w.shape) and pads \(p) give an empty output") }
                outSize.append(out)
            }
            try checkOutputSize([x.shape[0], o] + outSize, ctx)
            try checkOutputSize([w.shape[1] * k[0] * k[1], x.shape[2] * x.shape[3]], ctx)
            let y = x.convTranspose2d(w, bias: b, stride: stride, padding: p, outputPadding: outPad, dilation: dilation, groups: groups)
            return [restore(y, spatialRank: sr)]
        }
        t["MaxPool"] = { ctx in
            let (x, sr) = try spatial4D(try ctx.input(0), ctx)
            guard let ks = ctx.node.ints("kernel_shape") else { throw ctx.fail("kernel_shape is required") }
            let k = try pair(ks, default: 1, spatialRank: sr, "kernel_shape", ctx)
            let stride = try pair(ctx.node.ints("strides"), default: 1, spatialRank: sr, "strides", ctx)
            let dilation = try pair(ctx.node.ints("dilations"), default: 1, spatialRank: sr, "dilations", ctx)
            guard stride.allSatisfy({ $0 > 0 }), dilation.allSatisfy({ $0 > 0 }) else { throw ctx.fail("strides and dilations must be positive") }
            let p = try pads(ctx, input: [x.shape[2], x.shape[3]], kernel: k, stride: stride, dilation: dilation, spatialRank: sr)
            let ceil = ctx.node.int("ceil_mode") == 1
            try checkWindow(ctx, x: x, kernel: k, stride: stride, dilation: dilation, pads: p, ceilMode: ceil)
            if ctx.node.outputs.count > 1 && !ctx.node.outputs[1].isEmpty {
                let (y, sw) = x.maxPool2dWithSwitches(kernel: k, stride: stride, padding: p, dilation: dilation, ceilMode: ceil)
                // ONNX indices are flat over the whole NCHW input (row-major storage order).
                // storage_order 1 numbers the cells column-major within each plane.
                let (h, w) = (x.shape[2], x.shape[3])
                let plane = h * w, outPlane = y.shape[2] * y.shape[3]
                let columnMajor = ctx.node.int("storage_order") == 1
                let idx = Tensor(shape: y.shape) { b in
                    for i in 0..<b.count {
                        let cell = Int(sw.indices[i])
                        b[i] = Float((i / outPlane) * plane + (columnMajor ? (cell % w) * h + cell / w : cell))
                    }
                }
                return [restore(y, spatialRank: sr), restore(idx, spatialRank: sr)]
            }
            return [restore(x.maxPool2d(kernel: k, stride: stride, padding: p, dilation: dilation, ceilMode: ceil), spatialRank: sr)]
        }
        t["AveragePool"] = { ctx in
            let (x, sr) = try spatial4D(try ctx.input(0), ctx)
            guard let ks = ctx.node.ints("kernel_shape") else { throw ctx.fail("kernel_shape is required") }
            let k = try pair(ks, default: 1, spatialRank: sr, "kernel_shape", ctx)
            let stride = try pair(ctx.node.ints("strides"), default: 1, spatialRank: sr, "strides", ctx)
            guard stride.allSatisfy({ $0 > 0 }) else { throw ctx.fail("strides must be positive") }
            if let d = ctx.node.ints("dilations"), d.contains(where: { $0 != 1 }) { throw ctx.fail("dilated average pooling is not supported") }
            let p = try pads(ctx, input: [x.shape[2], x.shape[3]], kernel: k, stride: stride, dilation: [1, 1], spatialRank: sr)
            try checkWindow(ctx, x: x, kernel: k, stride: stride, dilation: [1, 1], pads: p, ceilMode: ctx.node.int("ceil_mode") == 1)
            let y = x.avgPool2d(kernel: k, stride: stride, padding: p, ceilMode: ctx.node.int("ceil_mode") == 1,
                                countIncludePad: ctx.node.int("count_include_pad") == 1)
            return [restore(y, spatialRank: sr)]
        }
        t["GlobalAveragePool"] = { ctx in
            let x = try ctx.input(0)
            guard x.rank >= 3 else { throw ctx.fail("expects [N, C, spatial...], got \(x.shape)") }
            return [x.mean(axes: Array(2..<x.rank), keepDims: true)]
        }
        t["GlobalMaxPool"] = { ctx in
            let x = try ctx.input(0)
            guard x.rank >= 3 else { throw ctx.fail("expects [N, C, spatial...], got \(x.shape)") }
            let flat = x.reshaped([x.shape[0], x.shape[1], -1]).max(axis: 2, keepDims: true)
            return [flat.reshaped(Array(x.shape[..<2]) + [Int](repeating: 1, count: x.rank - 2))]
        }
        t["BatchNormalization"] = { ctx in
            let x = try ctx.input(0)
            let scale = try ctx.input(1), bias = try ctx.input(2), mean = try ctx.input(3), variance = try ctx.input(4)
            guard x.rank >= 2 else { throw ctx.fail("expects [N, C, ...], got \(x.shape)") }
            let c = x.shape[1]
            for (n, v) in [("scale", scale), ("B", bias), ("mean", mean), ("var", variance)] where v.count != c {
                throw ctx.fail("\(n) has \(v.count) values for \(c) channels")
            }
            let eps = ctx.node.float("epsilon") ?? 1e-5
            if ctx.options.training || ctx.node.int("training_mode") == 1 {
                // ONNX momentum weights the running value: running = running * m + batch * (1 - m).
                // ONNX's running variance uses the biased batch variance; PyTorch (and our own
                // training loop) the unbiased one: we follow ONNX here, as the graph is ONNX.
                let m = ctx.node.float("momentum") ?? 0.9
                guard x.count / Swift.max(c, 1) > 1 else { throw ctx.fail("training-mode batch statistics need more than one value per channel, got \(x.shape)") }
                let r = x.batchNormTraining(scale: scale, bias: bias, eps: eps)
                let count = Float(x.count / c)
                let biased = count > 1 ? r.variance.detached() * ((count - 1) / count) : r.variance.detached()
                let newMean = mean.detached() * m + r.mean.detached() * (1 - m)
                let newVar = variance.detached() * m + biased * (1 - m)
                ctx.updates[ctx.node.inputs[3]] = newMean
                ctx.updates[ctx.node.inputs[4]] = newVar
                return ctx.node.outputs.count > 1 ? [r.output, newMean, newVar] : [r.output]
            }
            let y = x.batchNorm(mean: mean, variance: variance, scale: scale, bias: bias, eps: eps)
            return ctx.node.outputs.count > 1 ? [y, mean, variance] : [y]
        }
        let resize: Kernel = { ctx in
            let x = try ctx.input(0)
            guard x.rank == 4 else { throw ctx.fail("only 4-D [N,C,H,W] inputs are supported, got \(x.shape)") }
            let isUpsample = ctx.node.opType == "Upsample"
            let scalesInput = isUpsample || ctx.opset < 11 ? ctx.optionalInput(1) : ctx.optionalInput(2)
            let sizesInput = isUpsample || ctx.opset < 11 ? nil : ctx.optionalInput(3)
            var size: [Int]
            if let s = sizesInput, s.count > 0 {
                let v = try ints(s, ctx)
                guard v.count == 4, v[0] == x.shape[0], v[1] == x.shape[1] else { throw ctx.fail("sizes \(v) must keep N and C of \(x.shape)") }
                size = [v[2], v[3]]
            } else if let sc = (scalesInput.map { $0.scalars } ?? ctx.node.floats("scales")), sc.count == 4 {
                guard sc[0] == 1, sc[1] == 1, sc[2] > 0, sc[3] > 0 else { throw ctx.fail("scales \(sc) must keep N and C") }
                let scaled = [Float(x.shape[2]) * sc[2], Float(x.shape[3]) * sc[3]].map { $0.rounded(.down) }
                guard scaled.allSatisfy({ $0 < 16_777_216 }) else { throw ctx.fail("scales \(sc) give an output too large") }
                size = scaled.map { Int($0) }
            } else { throw ctx.fail("needs scales or sizes") }
            guard size.allSatisfy({ $0 > 0 }) else { throw ctx.fail("output size \(size) is empty") }
            try checkOutputSize([x.shape[0], x.shape[1]] + size, ctx)
            let mode = ctx.node.string("mode") ?? "nearest"
            let transform = ctx.node.string("coordinate_transformation_mode") ?? (isUpsample || ctx.opset < 11 ? "asymmetric" : "half_pixel")
            // Coordinates follow the scale when one is given (ONNX), else size ratios.
            let given = (sizesInput?.count ?? 0) > 0 ? nil : (scalesInput.map { $0.scalars } ?? ctx.node.floats("scales"))
            let scaleH = Double(given?[2] ?? Float(size[0]) / Float(x.shape[2]))
            let scaleW = Double(given?[3] ?? Float(size[1]) / Float(x.shape[3]))
            switch mode {
            case "nearest":
                let rounding = ctx.node.string("nearest_mode") ?? (isUpsample || ctx.opset < 11 ? "floor" : "round_prefer_floor")
                let rows = try nearestSources(ctx, inSize: x.shape[2], outSize: size[0], scale: scaleH, transform: transform, rounding: rounding)
                let cols = try nearestSources(ctx, inSize: x.shape[3], outSize: size[1], scale: scaleW, transform: transform, rounding: rounding)
                return [x.gatherRowsCols(rows: rows, cols: cols)]
            case "linear", "bilinear", "cubic":
                let a = ctx.node.float("cubic_coeff_a") ?? -0.75
                let exclude = ctx.node.int("exclude_outside") == 1
                let rows = try interpolationTaps(ctx, inSize: x.shape[2], outSize: size[0], scale: scaleH, transform: transform, cubic: mode == "cubic", a: a, excludeOutside: exclude)
                let cols = try interpolationTaps(ctx, inSize: x.shape[3], outSize: size[1], scale: scaleW, transform: transform, cubic: mode == "cubic", a: a, excludeOutside: exclude)
                return [x.resampleSeparable(rowTaps: rows, colTaps: cols)]
            default:
                throw ctx.fail("mode '\(mode)' is not supported")
            }
        }
        t["Resize"] = resize
        t["Upsample"] = resize
    }

    /// What the pooling ops require (they trap otherwise): the window fits the padded input,
    /// and every output position's window covers at least one input cell, not padding alone.
    static func checkWindow(_ ctx: KernelContext, x: Tensor, kernel: [Int], stride: [Int], dilation: [Int], pads: [Int], ceilMode: Bool) throws {
        var outs: [Int] = []
        for d in 0..<2 {
            let size = x.shape[2 + d]
            guard kernel[d] > 0, size + pads[d] + pads[d + 2] >= (kernel[d] - 1) * dilation[d] + 1 else {
                throw ctx.fail("window \(kernel) does not fit the padded input \(x.shape)")
            }
            outs.append(PoolGeometry.outSize(size, kernel: kernel[d], stride: stride[d], padBegin: pads[d], padEnd: pads[d + 2],
                                             dilation: dilation[d], ceilMode: ceilMode))
        }
        try checkOutputSize([x.shape[0], x.shape[1]] + outs, ctx)
        for d in 0..<2 {
            let size = x.shape[2 + d]
            for o in 0..<outs[d] {
                // The first tap at or after cell 0 must exist and lie inside the input
                // (constant time per window: kernels and pads from a file can be huge).
                let start = o * stride[d] - pads[d]
                let first = start >= 0 ? 0 : (-start + dilation[d] - 1) / dilation[d]
                guard first < kernel[d], start + first * dilation[d] < size else {
                    throw ctx.fail("pads \(pads) leave a window of \(kernel) that sees only padding")
                }
            }
        }
    }

    /// Source index of each output coordinate for nearest resizing under ONNX's coordinate
    /// transformation and rounding modes.
    /// Input coordinate of output coordinate `o` under ONNX's coordinate transformation modes.
    static func sourceCoordinate(_ ctx: KernelContext, _ o: Int, inSize: Int, outSize: Int, scale: Double, transform: String) throws -> Double {
        switch transform {
        case "asymmetric": return Double(o) / scale
        case "half_pixel": return (Double(o) + 0.5) / scale - 0.5
        case "pytorch_half_pixel": return outSize > 1 ? (Double(o) + 0.5) / scale - 0.5 : 0
        case "align_corners":
            // ONNX uses the unrounded resized length (in * scale), not the output size.
            let resized = Double(inSize) * scale
            return resized > 1 ? Double(o) * Double(inSize - 1) / (resized - 1) : 0
        case "tf_half_pixel_for_nn": return (Double(o) + 0.5) / scale
        default: throw ctx.fail("coordinate_transformation_mode '\(transform)' is not supported")
        }
    }

    /// Linear (2-tap) or cubic (4-tap, Keys with coefficient a) interpolation taps per output
    /// coordinate, as ONNX's Resize defines them: out-of-range taps read the edge value, or
    /// with exclude_outside are dropped and the rest renormalised.
    static func interpolationTaps(_ ctx: KernelContext, inSize: Int, outSize: Int, scale: Double, transform: String,
                                  cubic: Bool, a: Float, excludeOutside: Bool) throws -> [ResampleTaps] {
        func keys(_ t: Double) -> Double {
            let x = Swift.abs(t), A = Double(a)
            if x <= 1 { return ((A + 2) * x - (A + 3)) * x * x + 1 }
            if x < 2 { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A }
            return 0
        }
        return try (0..<outSize).map { o in
            var x = try sourceCoordinate(ctx, o, inSize: inSize, outSize: outSize, scale: scale, transform: transform)
            if !cubic { x = Swift.min(Swift.max(x, 0), Double(inSize - 1)) }
            let base = Int(x.rounded(.down)), frac = x - Double(base)
            let offsets = cubic ? [-1, 0, 1, 2] : [0, 1]
            var taps: [(index: Int, weight: Float)] = []
            var total: Double = 0
            for k in offsets {
                let w = cubic ? keys(Double(k) - frac) : (k == 0 ? 1 - frac : frac)
                let i = base + k
                if excludeOutside && (i < 0 || i >= inSize) { continue }
                taps.append((Swift.min(Swift.max(i, 0), inSize - 1), Float(w)))
                total += w
            }
            if excludeOutside && total != 0 { taps = taps.map { ($0.index, Float(Double($0.weight) / total)) } }
            return taps
        }
    }

    static func nearestSources(_ ctx: KernelContext, inSize: Int, outSize: Int, scale: Double, transform: String, rounding: String) throws -> [Int] {
        return try (0..<outSize).map { o in
            let x = try sourceCoordinate(ctx, o, inSize: inSize, outSize: outSize, scale: scale, transform: transform)
            let r: Double
            switch rounding {
            case "floor": r = x.rounded(.down)
            case "ceil": r = x.rounded(.up)
            case "round_prefer_floor": r = (x - x.rounded(.down) == 0.5) ? x.rounded(.down) : x.rounded()
            case "round_prefer_ceil": r = (x - x.rounded(.down) == 0.5) ? x.rounded(.up) : x.rounded()
            default: throw ctx.fail("nearest_mode '\(rounding)' is not supported")
            }
            return Swift.min(Swift.max(Int(r), 0), inSize - 1)
        }
    }
}
