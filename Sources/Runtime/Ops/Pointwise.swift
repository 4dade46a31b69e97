/// The elementwise loops of the hot paths (ReLU and its backward rules, Add, fused
/// Add + ReLU), each written out over raw pointers.
///
/// Why not `mapRaw` / `zipRaw` with a closure: measured in the release build, the closure
/// was not inlined into the parallel loop's body (one indirect call per element; guided
/// ReLU's backward took 7 ms on ResNet's stem activation, its loop here ~0.3 ms).
/// `out` may be the same buffer as `a` or `b`: every loop reads element i before writing it.
enum Pointwise {
    /// Elements per parallel chunk. These loops are bound by memory bandwidth (a chunk takes
    /// ~30 us on one core), so a second thread pays off only for large tensors; below that,
    /// waking a worker costs more than it saves on a loaded machine.
    static let grain = 1 << 17

    enum Unary { case relu }
    enum Binary {
        case add
        /// relu(a + b): a residual Add whose only consumer is a ReLU (inference only).
        case addRelu
        /// The true ReLU gradient: a (the output gradient) where b (the input) > 0.
        case reluGradient
        /// Guided backprop's: a where b > 0 and a > 0.
        case guidedGradient
    }

    static func apply(_ op: Unary, _ a: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int) {
        Threads.parallelFor(n, minPerThread: grain) { r in
            switch op {
            case .relu: for i in r { let v = a[i]; out[i] = v > 0 ? v : 0 }
            }
        }
    }

    static func apply(_ op: Binary, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                      into out: UnsafeMutablePointer<Float>, count n: Int) {
        Threads.parallelFor(n, minPerThread: grain) { r in
            switch op {
            case .add: for i in r { out[i] = a[i] + b[i] }
            case .addRelu: for i in r { let v = a[i] + b[i]; out[i] = v > 0 ? v : 0 }
            case .reluGradient: for i in r { let g = a[i]; out[i] = b[i] > 0 ? g : 0 }
            case .guidedGradient: for i in r { let g = a[i]; out[i] = (b[i] > 0) && (g > 0) ? g : 0 }
            }
        }
    }
}

extension Tensor {
    /// `op` applied to every value, into a fresh tensor (no autograd).
    func pointwise(_ op: Pointwise.Unary) -> Tensor {
        Tensor.overwriting(shape: shape) { o in
            guard !o.isEmpty else { return }
            storage.withUnsafeBufferPointer { a in Pointwise.apply(op, a.baseAddress!, into: o.baseAddress!, count: o.count) }
        }
    }

    /// `op` of `self` and an equal-shaped `other`, into a fresh tensor (no autograd).
    func pointwise(_ op: Pointwise.Binary, _ other: Tensor) -> Tensor {
        // Callers check shapes; a mismatch here is a bug in the runtime, not user input.
        precondition(shape == other.shape, "pointwise: shapes \(shape) and \(other.shape) differ")
        return Tensor.overwriting(shape: shape) { o in
            guard !o.isEmpty else { return }
            storage.withUnsafeBufferPointer { a in other.storage.withUnsafeBufferPointer { b in
                Pointwise.apply(op, a.baseAddress!, b.baseAddress!, into: o.baseAddress!, count: o.count)
            } }
        }
    }

    /// `op` applied to every value in place. Storage shared with any other tensor is copied
    /// first (copy-on-write), so no other holder ever sees the change.
    mutating func formPointwise(_ op: Pointwise.Unary) {
        guard count > 0 else { return }
        storage.withUnsafeMutableBufferPointer { o in Pointwise.apply(op, o.baseAddress!, into: o.baseAddress!, count: o.count) }
    }

    /// `self = op(self, other)` in place (copy-on-write as above); `other` has self's shape.
    mutating func formPointwise(_ op: Pointwise.Binary, _ other: Tensor) {
        precondition(shape == other.shape, "pointwise: shapes \(shape) and \(other.shape) differ")
        guard count > 0 else { return }
        storage.withUnsafeMutableBufferPointer { o in other.storage.withUnsafeBufferPointer { b in
            Pointwise.apply(op, o.baseAddress!, b.baseAddress!, into: o.baseAddress!, count: o.count)
        } }
    }
}
