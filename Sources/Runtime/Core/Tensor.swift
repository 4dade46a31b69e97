/// A dense Float32 tensor: a shape, contiguous row-major storage (NCHW for images) with
/// copy-on-write through `Array`, and an optional autograd node.
///
/// Values are immutable from the outside except through `withUnsafeMutableBufferPointer`,
/// which optimizers and I/O use; every op returns a new tensor.
public struct Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    @usableFromInline var storage: [Float]
    /// Autograd identity; non-nil when the tensor takes part in a recorded computation.
    public internal(set) var node: GradNode?

    public init(shape: [Int], data: [Float]) {
        // A contract for Swift callers: everything fed by user input (language builtins, file
        // readers, the ONNX importer, the .salfit reader) checks sizes and counts first.
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(shape.reduce(1, *) == data.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) values, got \(data.count)")
        self.shape = shape
        self.storage = data
        self.node = nil
    }

    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A rank-0 tensor.
    public init(_ scalar: Float) { self.init(shape: [], data: [scalar]) }

    /// Builds a tensor by filling fresh storage in place (no zero-fill pass beyond Array's own).
    
    public init(shape: [Int], fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let n = shape.reduce(1, *)
        let data = try [Float](unsafeUninitializedCapacity: n) { buf, count in
            buf.initialize(repeating: 0)
            try fill(buf)
            count = n
        }
        self.init(shape: shape, data: data)
    }

    /// Builds a tensor whose every element `fill` writes (no zero-fill first): for kernels
    /// that overwrite the whole output. Reading an element before writing it is a bug.
    /// (A static function, not an init: an init overload would capture trailing-closure calls
    /// meant for the zero-filling `init(shape:fill:)`.)
    static func overwriting(shape: [Int], _ fill: (UnsafeMutableBufferPointer<Float>) -> Void) -> Tensor {
        let n = shape.reduce(1, *)
        let data = [Float](unsafeUninitializedCapacity: n) { buf, count in
            fill(buf)
            count = n
        }
        return Tensor(shape: shape, data: data)
    }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }
    public static func full(_ shape: [Int], _ value: Float) -> Tensor { Tensor(shape: shape, repeating: value) }
    public static func arange(_ n: Int, start: Float = 0, step: Float = 1) -> Tensor {
        Tensor(shape: [n], data: (0..<n).map { start + Float($0) * step })
    }
    public static func zeros(like t: Tensor) -> Tensor { zeros(t.shape) }
    public static func ones(like t: Tensor) -> Tensor { ones(t.shape) }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    /// The values in row-major order. (Storage is a Swift array: its buffer pointers are never
    /// nil, even when empty, so the kernels' `baseAddress!` cannot trap.)
    public var scalars: [Float] { storage }
    /// The single value of a one-element tensor.
    public var item: Float {
        // Contract: the language reads `item` only of reductions to one value.
        precondition(storage.count == 1, "item needs a one-element tensor, shape is \(shape)")
        return storage[0]
    }
    public subscript(flat i: Int) -> Float { storage[i] }

    /// Dimension `axis`, negative counting from the end.
    public func dim(_ axis: Int) -> Int { shape[normalizeAxis(axis)] }
    public func normalizeAxis(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        // Contract: axes from user input are checked by the kernels and builtins that take them.
        precondition(a >= 0 && a < Swift.max(rank, 1), "axis \(axis) out of range for shape \(shape)")
        return a
    }

    
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }
    /// Mutates the values in place (copying first when storage is shared). The autograd node
    /// is kept, so a parameter stays the same leaf across optimizer steps.
    
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer(body)
    }

    /// Same values, new shape with the same number of elements, no autograd (internal helper).
    func reshapedRaw(_ newShape: [Int]) -> Tensor { Tensor(shape: newShape, data: storage) }

    /// A copy of the values with no autograd history.
    public func detached() -> Tensor { Tensor(shape: shape, data: storage) }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = storage.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(preview)\(storage.count > 8 ? ", ..." : "")]"
    }
}

extension Tensor {
    /// Largest absolute difference to `other` (same shape required).
    public func maxAbsDifference(_ other: Tensor) -> Float {
        // Test and bench helper; no user input reaches it.
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        var m: Float = 0
        for i in 0..<storage.count { m = Swift.max(m, Swift.abs(storage[i] - other.storage[i])) }
        return m
    }
}

import Foundation
