import Testing
@testable import Runtime

/// The one gradient-check helper every differentiable op goes through: analytic gradients
/// from the tape against central finite differences.
///
/// The output is reduced to a scalar by a fixed random weighting, so every output element
/// contributes. Passes when |analytic - numeric| <= atol + rtol * |numeric| everywhere.
/// Float32 central differences with eps 1e-2 are good to about 1e-3 relative for smooth
/// ops at unit scale; the default tolerances leave room for that and nothing more.
struct GradCheck {
    var eps: Float = 1e-2
    var atol: Float = 1e-2
    var rtol: Float = 1e-2

    @discardableResult
    func check(_ inputs: [Tensor], sourceLocation: SourceLocation = #_sourceLocation,
               _ f: ([Tensor]) -> Tensor) -> Float {
        var rng = RandomGenerator(seed: 99)
        let leaves = inputs.map { $0.requiringGrad() }
        let out = f(leaves)
        let weight = Tensor.uniform(out.shape, low: 0.5, high: 1.5, rng: &rng)
        let analytic = gradients(of: (out * weight).sum(), wrt: leaves)
        var worst: Float = 0
        for (i, x) in inputs.enumerated() {
            for j in 0..<x.count {
                func loss(_ delta: Float) -> Double {
                    var xs = inputs
                    xs[i].withUnsafeMutableBufferPointer { $0[j] += delta }
                    let y = Autograd.noGrad { f(xs) }
                    var acc = 0.0
                    for k in 0..<y.count { acc += Double(y[flat: k]) * Double(weight[flat: k]) }
                    return acc
                }
                let numeric = Float((loss(eps) - loss(-eps)) / Double(2 * eps))
                let a = analytic[i][flat: j]
                let err = Swift.abs(a - numeric)
                worst = Swift.max(worst, err)
                #expect(err <= atol + rtol * Swift.abs(numeric),
                        "input \(i) element \(j): analytic \(a) vs numeric \(numeric)", sourceLocation: sourceLocation)
                if err > atol + rtol * Swift.abs(numeric) { return worst }
            }
        }
        return worst
    }
}

/// Random inputs kept away from 0 (so ReLU-like kinks are not straddled by finite differences).
func awayFromZero(_ shape: [Int], seed: UInt64, low: Float = 0.1, high: Float = 1.0) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor(shape: shape) { b in
        for i in 0..<b.count {
            let m = low + (high - low) * rng.nextUniform()
            b[i] = rng.nextUniform() < 0.5 ? -m : m
        }
    }
}

func randomTensor(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, rng: &rng)
}

func expectClose(_ a: Tensor, _ b: Tensor, tol: Float = 1e-5, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)", sourceLocation: sourceLocation)
    guard a.shape == b.shape else { return }
    let d = a.maxAbsDifference(b)
    #expect(d <= tol, "max abs difference \(d) > \(tol)\n\(a)\n\(b)", sourceLocation: sourceLocation)
}

/// A 3x3 stride-1 convolution forced through `algorithm` (Winograd): random input, weight and
/// output gradient (seeds `seed`, `seed` + 1000, `seed` + 2000) and its geometry, with the
/// chunk budget `budget` in floats. pads: (top, left, bottom, right).
func winogradCase(input xs: [Int], outChannels o: Int, pads p: [Int], budget: Int, algorithm: ConvAlgorithm,
                  seed: UInt64, sourceLocation: SourceLocation = #_sourceLocation)
    -> (x: Tensor, w: Tensor, gy: Tensor, geo: ConvGeometry) {
    let x = randomTensor(xs, seed: seed), w = randomTensor([o, xs[1], 3, 3], seed: seed + 1000)
    var geo = Tensor.convGeometry(op: "t", input: xs, weight: w.shape, outChannels: o, weightInChannels: xs[1],
                                  stride: [1, 1], padding: p, dilation: [1, 1], groups: 1)
    geo.chunkBudget = budget
    geo.algorithm = algorithm
    #expect(geo.usesWinograd, sourceLocation: sourceLocation)
    return (x, w, randomTensor([xs[0], o, geo.ho, geo.wo], seed: seed + 2000), geo)
}
