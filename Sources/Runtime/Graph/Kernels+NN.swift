extension Kernels {
    /// Convolution, pooling, normalisation and resampling kernels (after the op families land).
    static func registerNN(_ t: inout [String: Kernel]) {}
}
