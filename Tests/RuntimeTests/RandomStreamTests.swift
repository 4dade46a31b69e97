import Testing
@testable import Runtime

@Suite("Random streams")
struct RandomStreamTests {
    /// `fillNormal` computes its transforms in parallel but must give the very values of
    /// `nextNormal()` called in order (a seed reproduces every SmoothGrad map), and leave the
    /// generator where those calls would. Exact comparison on purpose: both sides evaluate the
    /// same expression on the same uniforms, so any difference is a changed stream.
    @Test func fillNormalIsTheStreamOfNextNormal() {
        for count in [1, 7, 4096, 50_001] {
            var a = RandomGenerator(seed: 11), b = RandomGenerator(seed: 11)
            let expected = (0..<count).map { _ in 0.5 + 2 * a.nextNormal() }
            var got = [Float](repeating: .nan, count: count)
            got.withUnsafeMutableBufferPointer { b.fillNormal($0, mean: 0.5, std: 2) }
            #expect(got == expected, "count \(count)")
            #expect(a.next() == b.next(), "generator state after \(count) normals")
        }
    }

    /// The values are standard normal: mean and variance of 200k draws within 5 standard
    /// errors (0.011 and 0.016).
    @Test func fillNormalIsStandardNormal() {
        var rng = RandomGenerator(seed: 5)
        var z = [Float](repeating: 0, count: 200_000)
        z.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        let mean = z.reduce(0.0) { $0 + Double($1) } / Double(z.count)
        let variance = z.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(z.count)
        #expect(abs(mean) < 0.011)
        #expect(abs(variance - 1) < 0.016)
    }
}
