import Plugins
import Runtime

extension Builtins {
    /// Reductions keep the autograd graph when their input takes part in it (inside `grad`),
    /// and give plain numbers otherwise (what people want to read and compare).
    static func reduced(_ t: Tensor) -> Value { t.requiresGrad ? .tensor(t) : .number(Double(t.item)) }

    static func unary(_ name: String, _ doc: String, _ f: @escaping @Sendable (Tensor) -> Tensor) -> Builtin {
        Builtin(name, [BuiltinParam("x")], doc: doc) { a in
            if case let .number(n)? = a.values["x"] { return .number(Double(f(Tensor(Float(n))).item)) }
            return .tensor(f(try a.tensor("x")))
        }
    }

    static let tensors: [Builtin] = [
        Builtin("shape", [BuiltinParam("x")], doc: "Shape of a tensor, image or map as a list.") { a in
            .list(try a.tensor("x").shape.map { .number(Double($0)) })
        },
        Builtin("mean", [BuiltinParam("x"), BuiltinParam("axes", optional: true)],
                doc: "Mean of all elements; axes: [2, 3] averages over those axes only, keeping them with size 1.") { a in
            if a["axes"] != nil { let t = try a.tensor("x"); return .tensor(try nonEmpty(t).mean(axes: try reductionAxes(a, rank: t.rank), keepDims: true)) }
            return reduced(try nonEmpty(a.tensor("x")).mean())
        },
        Builtin("sum", [BuiltinParam("x"), BuiltinParam("axes", optional: true)],
                doc: "Sum of all elements (of a tensor, or of a list of numbers); axes: [1] sums over those axes only, keeping them with size 1.") { a in
            if a["axes"] != nil { let t = try a.tensor("x"); return .tensor(t.sum(axes: try reductionAxes(a, rank: t.rank), keepDims: true)) }
            if case let .list(l)? = a.values["x"] {
                return .number(try l.reduce(0) { s, v in guard case let .number(n) = v else { throw LangError.arguments("sum of a list needs numbers, got \(v.typeName)") }; return s + n })
            }
            return reduced(try a.tensor("x").sum())
        },
        Builtin("max", [BuiltinParam("x")], doc: "Largest element.") { a in reduced(try nonEmpty(a.tensor("x")).max()) },
        Builtin("min", [BuiltinParam("x")], doc: "Smallest element.") { a in
            let t = try nonEmpty(a.tensor("x"))
            return reduced(-((-t).max()))
        },
        unary("abs", "Elementwise absolute value.") { $0.abs() },
        unary("exp", "Elementwise e^x.") { $0.exp() },
        unary("log", "Elementwise natural logarithm.") { $0.log() },
        unary("sqrt", "Elementwise square root.") { $0.sqrt() },
        unary("sigmoid", "Elementwise 1 / (1 + e^-x).") { $0.sigmoid() },
        Builtin("zeros", [BuiltinParam("shape")], doc: "A tensor of zeros, zeros([1, 3, 32, 32]).") { a in .tensor(Tensor.zeros(try checkedShape(a.shape("shape")))) },
        Builtin("ones", [BuiltinParam("shape")], doc: "A tensor of ones.") { a in .tensor(Tensor.ones(try checkedShape(a.shape("shape")))) },
        Builtin("tensor", [BuiltinParam("values"), BuiltinParam("shape", optional: true)],
                doc: "A tensor from a (nested) list of numbers; shape: reshapes.") { a in
            var flat: [Float] = []
            func walk(_ v: Value) throws -> [Int] {
                switch v {
                case let .number(n): flat.append(Float(n)); return []
                case let .list(l):
                    let inner = try l.map(walk)
                    guard inner.allSatisfy({ $0 == inner.first }) else { throw LangError.arguments("nested lists must all have the same shape") }
                    return [l.count] + (inner.first ?? [])
                default: throw LangError.arguments("tensor takes numbers and lists of numbers, got \(v.typeName)")
                }
            }
            let natural = try walk(try a.value("values"))
            let shape = try checkedShape(a["shape"] == nil ? natural : try a.shape("shape"))
            guard shape.reduce(1, *) == flat.count else { throw LangError.arguments("shape \(formatShape(shape)) needs \(shape.reduce(1, *)) values, got \(flat.count)") }
            return .tensor(Tensor(shape: shape, data: flat))
        },
        Builtin("reshape", [BuiltinParam("x"), BuiltinParam("shape")], doc: "Same values, new shape with the same element count.") { a in
            let t = try a.tensor("x"), s = try checkedShape(a.shape("shape"))
            guard s.reduce(1, *) == t.count else { throw LangError.arguments("cannot reshape \(formatShape(t.shape)) (\(t.count) values) to \(formatShape(s))") }
            return .tensor(t.reshaped(s))
        },
        Builtin("grad", [BuiltinParam("f"), BuiltinParam("x")],
                doc: "Gradient of the scalar f(x) with respect to the tensor x (autograd through script code).") { a in
            let f = try a.value("f")
            switch f { case .function, .builtin: break; default: throw LangError.arguments("'f' must be a function, got \(f.typeName)") }
            let x = try a.tensor("x").detached().requiringGrad()
            let y = try a.interpreter.call(f, [(nil, .tensor(x), a.loc)], at: a.loc)
            guard let yt = y.asTensor, yt.count == 1 else {
                throw LangError.message("f must return a single number computed from its argument, got \(y.summary)")
            }
            guard yt.requiresGrad else { throw LangError.message("f's result does not depend on its argument, so it has no gradient") }
            return .tensor(gradient(of: yt.reshaped([]), wrt: x))
        },
    ]

    /// `axes:` as distinct axes of a tensor of `rank` (negative ones count from the end).
    static func reductionAxes(_ a: CallArguments, rank: Int) throws -> [Int] {
        let raw: [Value]
        switch try a.value("axes") {
        case let .number(n): raw = [.number(n)]
        case let .list(l): raw = l
        case let v: throw LangError.arguments("axes must be a list of axis numbers, got \(v.typeName)")
        }
        let axes = try raw.map { v -> Int in
            guard case let .number(x) = v, x == x.rounded(), x >= Double(-rank), x < Double(rank) else {
                throw LangError.arguments("axes of a rank-\(rank) tensor are \(-rank)..<\(rank), got \(v.summary)")
            }
            return x < 0 ? Int(x) + rank : Int(x)
        }
        guard !axes.isEmpty, Set(axes).count == axes.count else { throw LangError.arguments("axes must be a non-empty list of distinct axes") }
        return axes.sorted()
    }

    static func nonEmpty(_ t: Tensor) throws -> Tensor {
        guard t.count > 0 else { throw LangError.message("the tensor is empty") }
        return t
    }

    static func checkedShape(_ s: [Int]) throws -> [Int] {
        let (n, overflow) = s.reduce((1, false)) { acc, d in let r = acc.0.multipliedReportingOverflow(by: d); return (r.partialValue, acc.1 || r.overflow) }
        guard !overflow, n <= 1 << 28 else { throw LangError.arguments("shape \(formatShape(s)) is too large") }
        return s
    }
}
