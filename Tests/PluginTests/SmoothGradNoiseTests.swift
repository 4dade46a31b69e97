import Foundation
import Testing
@testable import Plugins
import Runtime

/// SmoothGrad's noise level on a net where noise matters. x (1x1x4) -> fc1 (V [2, 4], bias c)
/// -> ReLU -> fc2 ([u; 0]) -> 2 logits. The gradient of logit 0 is sum_j u_j V_j [V_j x + c_j > 0];
/// under x + sigma e, e ~ N(0, I), unit j is active with probability Phi(z_j / (sigma |V_j|)),
/// z_j = V_j x + c_j, so SmoothGrad's expectation is sum_j u_j V_j Phi(z_j / (sigma |V_j|)) with
/// sigma = noise * (max x - min x) (the plugin's convention). A linear net would hide the noise.
@Suite("SmoothGrad noise level")
struct SmoothGradNoiseTests {
    static let v: [Double] = [1, -0.5, 0.25, 0.8, -0.6, 0.9, 0.4, -0.3]
    static let c: [Double] = [0.1, -0.6]
    static let u: [Double] = [1, 2]
    static let images: [[Double]] = [[0.2, 0.8, 0.5, 0.1], [0.7, 0.3, 0.9, 0.25]]

    static func model() throws -> Graph {
        try TinyNets.mlp(name: "relu-pair-4", inputShape: [1, 1, 4], hidden: 2, classes: 2, weights: [
            "fc1.weight": v.map(Float.init), "fc1.bias": c.map(Float.init), "fc2.weight": [Float(u[0]), Float(u[1]), 0, 0]])
    }

    static func phi(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }

    /// Expected SmoothGrad gradient of image `i` and, per component, a bound on the standard
    /// deviation of one noisy gradient: sum_j |u_j V_ji| sqrt(p_j (1 - p_j)) (Minkowski).
    static func expected(_ i: Int, noise: Double) -> (mean: [Double], sd: [Double]) {
        let x = images[i]
        let sigma = noise * (x.max()! - x.min()!)
        var mean = [Double](repeating: 0, count: 4), sd = [Double](repeating: 0, count: 4)
        for j in 0..<2 {
            let row = Array(v[(j * 4)..<(j * 4 + 4)])
            let z = zip(row, x).reduce(c[j]) { $0 + $1.0 * $1.1 }
            let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let p = sigma == 0 ? (z > 0 ? 1 : 0) : phi(z / (sigma * norm))
            for k in 0..<4 {
                mean[k] += u[j] * row[k] * p
                sd[k] += Swift.abs(u[j] * row[k]) * (p * (1 - p)).squareRoot()
            }
        }
        return (mean, sd)
    }

    func run(noise: Double, samples: Int) throws -> SaliencyMap {
        let x = Tensor(shape: [2, 1, 1, 4], data: Self.images.flatMap { $0.map(Float.init) })
        return try explain(SmoothGradExplainer(), model: try Self.model(), images: x, target: .index(0),
                           params: ["samples": .int(samples), "noise": .float(noise), "batch_size": .int(500)], seed: 17)
    }

    @Test func smoothGradMatchesTheClosedFormAtTwoNoiseLevels() throws {
        let samples = 8000
        var maps: [Double: [Float]] = [:]
        for noise in [0.1, 1.0] {
            let s = try run(noise: noise, samples: samples)
            let a = try #require(s.attribution).scalars
            maps[noise] = s.map.scalars
            for i in 0..<2 {
                let (mean, sd) = Self.expected(i, noise: noise)
                for k in 0..<4 {
                    // The mean of `samples` noisy gradients: 5 standard errors (a false alarm has
                    // probability below 1e-6 per component; the seed is fixed anyway).
                    let tol = 5 * sd[k] / Double(samples).squareRoot()
                    #expect(abs(Double(a[i * 4 + k]) - mean[k]) < tol, "noise \(noise) image \(i) pixel \(k): \(a[i * 4 + k]) vs \(mean[k]) ± \(tol)")
                    // Map: |.| of the one channel.
                    #expect(abs(Double(s.map.scalars[i * 4 + k]) - Swift.abs(mean[k])) < tol)
                }
            }
        }
        // The noise level changes the map by far more than the sampling error: the test can
        // tell 0.1 from 1.0.
        let (low, high) = (Self.expected(0, noise: 0.1), Self.expected(0, noise: 1.0))
        #expect(Swift.abs(low.mean[0] - high.mean[0]) > 0.1)
        #expect(Swift.abs(Double(maps[0.1]![0] - maps[1.0]![0])) > 0.1)
    }

    @Test func zeroNoiseIsThePlainGradient() throws {
        // sigma = 0: every copy is x itself (x + 0 * e), so every sample is the gradient.
        let s = try run(noise: 0, samples: 3)
        let a = try #require(s.attribution).scalars
        for i in 0..<2 {
            let (mean, _) = Self.expected(i, noise: 0)
            // float32 products of values below 2.
            for k in 0..<4 { #expect(abs(Double(a[i * 4 + k]) - mean[k]) < 1e-6) }
        }
    }
}
