import Foundation
import Runtime

/// The sufficient statistics of CHIP's per-class least squares (Eq. 11) for one layer,
/// accumulated over the perturbed dataset (Sec. III-A) one image at a time:
///
///     G_c = Σ_s Σ_n f^c(X_s) h(d_n) z_{s,n} z_{s,n}ᵀ        [K, K]   (the matrix of Eq. 17)
///     b_c = Σ_s Σ_n f^c(X_s) h(d_n) g^c(X_s, d_n) z_{s,n}   [K]      (the vector of Eq. 17)
///     y_c = Σ_s Σ_n f^c(X_s) h(d_n) g^c(X_s, d_n)²                   (for the fit's R²)
///
/// f^c is the squared loyalty weight π^c = √f^c of Eq. 7 (the square of π ⊙ residual puts
/// f^c itself in front of each squared residual), h is the proximity kernel of Eq. 8, and
/// z_{s,n} = d_n ⊙ GAP(A_s) is Eq. 2 applied to the gated layer of Eq. 1 (gating commutes
/// with the spatial mean). Eq. 5 sums over every (n, s) pair; we read the double sum as
/// pairs drawn per image (fresh gates for every image), which is how §IV-A3 counts
/// "100 × Image Number" perturbed networks.
///
/// Per image the gate sums are two sgemms (M_s = Σ_n h zzᵀ, B_s = Σ_n h z gᵀ); the class
/// weighting is then C scaled additions, accumulated in Double because G_c sums up to
/// millions of terms.
struct CHIPStatistics {
    let channels: Int
    let classes: Int
    /// C blocks of K x K, row-major.
    private(set) var gram: [Double]
    /// C blocks of K.
    private(set) var correlation: [Double]
    /// C values.
    private(set) var targetEnergy: [Double]
    /// Images and perturbed networks seen.
    private(set) var images = 0
    private(set) var perturbations = 0

    init(channels k: Int, classes c: Int) {
        channels = k; classes = c
        gram = [Double](repeating: 0, count: c * k * k)
        correlation = [Double](repeating: 0, count: c * k)
        targetEnergy = [Double](repeating: 0, count: c)
    }

    /// h(d) = exp(−‖d − 1‖² / σ²) (Eq. 8). For a binary d, ‖d − 1‖² is the number of
    /// closed gates.
    static func proximity(closed: Int, sigma: Double) -> Double {
        Foundation.exp(-Double(closed) / (sigma * sigma))
    }

    /// Adds one image's perturbed networks: `gap` = GAP(A_s) [K], `gates` = d_1..d_T
    /// [T, K] (0/1), `perturbed` = g(X_s, d_n) [T, C], `clean` = f(X_s) [C] (the loyalty
    /// weights, >= 0), `proximity` = h(d_n) [T].
    mutating func add(gap: UnsafeBufferPointer<Float>, gates: UnsafeBufferPointer<Float>, perturbed: UnsafeBufferPointer<Float>,
                      clean: UnsafeBufferPointer<Float>, proximity: [Double]) throws {
        let (k, c, t) = (channels, classes, proximity.count)
        guard t > 0, gap.count == k, gates.count == t * k, perturbed.count == t * c, clean.count == c else {
            throw PluginError.invalid("chip: perturbed data of mismatched sizes (K = \(k), C = \(c), \(t) gates; got \(gap.count), \(gates.count), \(perturbed.count), \(clean.count) values)")
        }
        // Rows √h z and h z (z = d ⊙ a), so M = (√h Z)ᵀ(√h Z) and B = (h Z)ᵀ g.
        // Per-image buffers (a few K² floats, negligible next to the image's T forward passes).
        var root = [Float](repeating: 0, count: t * k), weighted = root
        var g2 = [Double](repeating: 0, count: c)
        for n in 0..<t {
            let (h, sh) = (proximity[n], proximity[n].squareRoot())
            for j in 0..<k {
                let z = Double(gates[n * k + j]) * Double(gap[j])
                root[n * k + j] = Float(sh * z); weighted[n * k + j] = Float(h * z)
            }
            for cl in 0..<c { let v = Double(perturbed[n * c + cl]); g2[cl] += h * v * v }
        }
        var m = [Float](repeating: 0, count: k * k), b = [Float](repeating: 0, count: k * c)
        root.withUnsafeBufferPointer { r in m.withUnsafeMutableBufferPointer { mp in
            sgemm(transA: true, m: k, n: k, k: t, a: r.baseAddress!, b: r.baseAddress!, c: mp.baseAddress!)
        } }
        weighted.withUnsafeBufferPointer { w in b.withUnsafeMutableBufferPointer { bp in
            sgemm(transA: true, m: k, n: c, k: t, a: w.baseAddress!, b: perturbed.baseAddress!, c: bp.baseAddress!)
        } }
        for cl in 0..<c {
            let f = Double(clean[cl])
            guard f != 0 else { continue }
            let base = cl * k * k
            gram.withUnsafeMutableBufferPointer { gp in for e in 0..<(k * k) { gp[base + e] += f * Double(m[e]) } }
            for j in 0..<k { correlation[cl * k + j] += f * Double(b[j * c + cl]) }
            targetEnergy[cl] += f * g2[cl]
        }
        images += 1
        perturbations += t
    }

    /// G_c as K x K row-major values, symmetrised: sgemm may round the mirrored entries of
    /// ZᵀZ differently in the last bit, and the solver's Cholesky wants a symmetric matrix.
    func gram(ofClass c: Int) -> [Double] {
        let k = channels, base = c * k * k
        var out = [Double](repeating: 0, count: k * k)
        for i in 0..<k { for j in 0..<k { out[i * k + j] = 0.5 * (gram[base + i * k + j] + gram[base + j * k + i]) } }
        return out
    }
    /// b_c as K values.
    func correlation(ofClass c: Int) -> [Double] { Array(correlation[(c * channels)..<((c + 1) * channels)]) }
}
