import Foundation

/// The one random generator used everywhere: xoshiro256** seeded through SplitMix64, so a
/// seed reproduces every mask, noise draw and initialisation exactly across runs.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var z = seed
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var r = x
            r = (r ^ (r >> 30)) &* 0xBF58_476D_1CE4_E5B9
            r = (r ^ (r >> 27)) &* 0x94D0_49BB_1331_11EB
            return r ^ (r >> 31)
        }
        s = (splitmix(&z), splitmix(&z), splitmix(&z), splitmix(&z))
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    @inline(__always)
    public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Standard normal by Box-Muller (one value per call; the pair's second half is dropped
    /// so that the stream stays position-independent and simple to reason about).
    @inline(__always)
    public mutating func nextNormal() -> Float {
        let u1 = nextUniform()
        return Self.boxMuller(u1, nextUniform())
    }

    /// Box-Muller's first value from two uniforms in [0, 1) (u1 kept away from 0).
    @inline(__always)
    static func boxMuller(_ u1: Float, _ u2: Float) -> Float {
        Float((-2 * Foundation.log(Double(Swift.max(u1, 1e-12)))).squareRoot() * cos(2 * Double.pi * Double(u2)))
    }

    /// Fills `out` with `mean + std * z` for the next `out.count` standard normals z: the same
    /// values as that many `nextNormal()` calls, in order. The uniforms are drawn here, in
    /// stream order (a few ns each); the logarithms and cosines, ~20x dearer, run on every
    /// thread (SmoothGrad's noise for 32 copies of a 224x224 image is 4.8 M of them).
    public mutating func fillNormal(_ out: UnsafeMutableBufferPointer<Float>, mean: Float = 0, std: Float = 1) {
        guard let o = out.baseAddress, out.count > 0 else { return }
        let second = UnsafeMutablePointer<Float>.allocate(capacity: out.count)
        defer { second.deallocate() }
        for i in 0..<out.count {
            o[i] = nextUniform()
            second[i] = nextUniform()
        }
        nonisolated(unsafe) let (u1, u2) = (o, UnsafePointer(second))
        Threads.parallelFor(out.count, minPerThread: 4096) { r in
            for i in r { u1[i] = mean + std * Self.boxMuller(u1[i], u2[i]) }
        }
    }

    /// The four state words, so a checkpointed run continues the same stream.
    public var state: [UInt64] { [s.0, s.1, s.2, s.3] }

    /// A generator at a state read back from `state`; nil for a wrong word count or the
    /// all-zero state (which xoshiro never leaves, so no `state` produces it).
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
        s = (state[0], state[1], state[2], state[3])
    }

    /// An independent generator derived from this one (for parallel or per-item streams).
    public mutating func split() -> RandomGenerator { RandomGenerator(seed: next()) }
}

extension Tensor {
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, rng: inout RandomGenerator) -> Tensor {
        Tensor(shape: shape) { b in for i in 0..<b.count { b[i] = low + (high - low) * rng.nextUniform() } }
    }
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, rng: inout RandomGenerator) -> Tensor {
        Tensor(shape: shape) { b in rng.fillNormal(b, mean: mean, std: std) }
    }
    /// 1 with probability `p`, else 0.
    public static func bernoulli(_ shape: [Int], p: Float, rng: inout RandomGenerator) -> Tensor {
        Tensor(shape: shape) { b in for i in 0..<b.count { b[i] = rng.nextUniform() < p ? 1 : 0 } }
    }
}
