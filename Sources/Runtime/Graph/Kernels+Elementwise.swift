extension Kernels {
    static func registerElementwise(_ t: inout [String: Kernel]) {
        func binary(_ f: @escaping @Sendable (Tensor, Tensor) -> Tensor) -> Kernel {
            { ctx in
                let a = try ctx.input(0), b = try ctx.input(1)
                guard Broadcast.tryShape(a.shape, b.shape) != nil else { throw ctx.fail("shapes \(a.shape) and \(b.shape) do not broadcast") }
                return [f(a, b)]
            }
        }
        func unary(_ f: @escaping @Sendable (Tensor) -> Tensor) -> Kernel { { ctx in [f(try ctx.input(0))] } }
        t["Add"] = binary(+)
        t["Sub"] = binary(-)
        t["Mul"] = binary(*)
        t["Div"] = binary(/)
        t["Pow"] = binary { $0.pow($1) }
        t["Neg"] = unary { -$0 }
        t["Exp"] = unary { $0.exp() }
        t["Log"] = unary { $0.log() }
        t["Sqrt"] = unary { $0.sqrt() }
        t["Abs"] = unary { $0.abs() }
        t["Sigmoid"] = unary { $0.sigmoid() }
        t["Tanh"] = unary { $0.tanh() }
        t["Identity"] = unary { $0 }
        t["Relu"] = unary { $0.relu() }
        t["LeakyRelu"] = { ctx in [try ctx.input(0).leakyRelu(ctx.node.float("alpha") ?? 0.01)] }
        t["Clip"] = { ctx in
            let x = try ctx.input(0)
            // Opset < 11 carries the bounds as attributes, later opsets as optional inputs.
            let lo = ctx.opset < 11 ? (ctx.node.float("min") ?? -.infinity) : (ctx.optionalInput(1)?.scalars.first ?? -.infinity)
            let hi = ctx.opset < 11 ? (ctx.node.float("max") ?? .infinity) : (ctx.optionalInput(2)?.scalars.first ?? .infinity)
            return [x.clamped(min: lo, max: hi)]
        }
        for (name, isLog) in [("Softmax", false), ("LogSoftmax", true)] {
            t[name] = { ctx in
                let x = try ctx.input(0)
                var axis = ctx.node.int("axis") ?? (ctx.opset >= 13 ? -1 : 1)
                if axis < 0 { axis += x.rank }
                guard axis >= 0 && axis < x.rank else { throw ctx.fail("axis \(axis) out of range for rank \(x.rank)") }
                if ctx.opset >= 13 { return [isLog ? x.logSoftmax(axis: axis) : x.softmax(axis: axis)] }
                // Before opset 13 the input is coerced to 2-D at `axis` and normalised per row.
                let rows = x.shape[..<axis].reduce(1, *)
                let flat = x.reshaped([rows, x.count / Swift.max(rows, 1)])
                return [(isLog ? flat.logSoftmax(axis: 1) : flat.softmax(axis: 1)).reshaped(x.shape)]
            }
        }
        t["Dropout"] = { ctx in
            let x = try ctx.input(0)
            // Inference semantics (ONNX training_mode defaults to false); the mask output is all ones.
            return ctx.node.outputs.count > 1 ? [x, Tensor.ones(x.shape)] : [x]
        }
        t["MatMul"] = { ctx in
            let a = try ctx.input(0), b = try ctx.input(1)
            if a.rank == 1 && b.rank == 2 && a.count == b.shape[0] { return [a.reshaped([1, a.count]).matmul(b).reshaped([b.shape[1]])] }
            if a.rank == 2 && b.rank == 1 && a.shape[1] == b.count { return [a.matmul(b.reshaped([b.count, 1])).reshaped([a.shape[0]])] }
            guard a.rank >= 2 && b.rank >= 2 else { throw ctx.fail("MatMul of shapes \(a.shape) x \(b.shape) is not supported") }
            if a.rank == 2 && b.rank == 2 {
                guard a.shape[1] == b.shape[0] else { throw ctx.fail("MatMul inner dimensions differ: \(a.shape) x \(b.shape)") }
                return [a.matmul(b)]
            }
            // Batched: broadcast the leading dimensions, fold them into one batch axis.
            guard let lead = Broadcast.tryShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))) else {
                throw ctx.fail("MatMul batch dimensions of \(a.shape) and \(b.shape) do not broadcast")
            }
            let (m, k, n) = (a.shape[a.rank - 2], a.shape[a.rank - 1], b.shape[b.rank - 1])
            guard b.shape[b.rank - 2] == k else { throw ctx.fail("MatMul inner dimensions differ: \(a.shape) x \(b.shape)") }
            let batch = lead.reduce(1, *)
            let a3 = a.expanded(to: lead + [m, k]).reshaped([batch, m, k])
            let b3 = b.expanded(to: lead + [k, n]).reshaped([batch, k, n])
            return [a3.matmul(b3).reshaped(lead + [m, n])]
        }
        t["Gemm"] = { ctx in
            var a = try ctx.input(0), b = try ctx.input(1)
            guard a.rank == 2 && b.rank == 2 else { throw ctx.fail("Gemm needs matrices, got \(a.shape) and \(b.shape)") }
            let alpha = ctx.node.float("alpha") ?? 1, beta = ctx.node.float("beta") ?? 1
            // The common fully connected layer (PyTorch's Linear): one sgemm, no transposed copy.
            if ctx.node.int("transA") != 1, ctx.node.int("transB") == 1, alpha == 1, beta == 1, a.shape[1] == b.shape[1],
               ctx.optionalInput(2).map({ $0.shape == [b.shape[0]] }) ?? true {
                return [a.linear(b, bias: ctx.optionalInput(2))]
            }
            if ctx.node.int("transA") == 1 { a = a.transposed() }
            if ctx.node.int("transB") == 1 { b = b.transposed() }
            guard a.shape[1] == b.shape[0] else { throw ctx.fail("Gemm inner dimensions differ: \(a.shape) x \(b.shape) after transposes") }
            var y = a.matmul(b)
            if let c = ctx.optionalInput(2), Broadcast.tryShape(y.shape, c.shape) != y.shape {
                throw ctx.fail("Gemm bias \(c.shape) does not broadcast to \(y.shape)")
            }
            if alpha != 1 { y = y * alpha }
            if let c = ctx.optionalInput(2) { y = y + (beta == 1 ? c : c * beta) }
            return [y]
        }
    }
}
