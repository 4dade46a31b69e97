import Dispatch
import Foundation
import Runtime

/// CHIP's fit for one layer: the perturbed dataset of Sec. III-A reduced to the statistics
/// of Eq. 11 (`CHIPStatistics`), then the per-class lasso of Eq. 11 solved by ADMM
/// (Eqs. 12-20, Alg. 1) with the shared `LassoADMM`.
///
/// Perturbed networks (Sec. III-A, §IV-A3): for each image, `gates` binary vectors d over
/// the layer's K channels; the number of open gates is uniform on 1...K and the open set is
/// uniform among those of that size (d = 0 would give z = 0, which adds nothing to G_c or
/// b_c, so we do not spend a forward pass on it). Only this layer is gated (Eq. 1; every
/// other layer stays open). The clean pass captures the layer once per image batch; every
/// gated copy runs only the network's suffix from the layer (`Graph.forward(from:)`), with
/// the gates as the channel-scaling intervention at the cut.
struct CHIPLayerFit {
    /// Everything the fit reads, resolved.
    struct Settings {
        var gates: Int
        /// σ / √K (Eq. 8).
        var sigma: Double
        /// λ / ‖b_c‖∞ (Eq. 11).
        var lambda: Double
        /// ρ / mean diag(G_c) (Eq. 17).
        var rho: Double
        /// g, f as logits instead of probabilities (the loyalty weight of Eq. 7 is always a
        /// probability).
        var logits: Bool
        /// Gated copies per suffix pass.
        var batchSize: Int
        var stopping = LassoADMM.Stopping()
    }

    /// The resolved layer value name.
    var layer: String
    /// W = [w_1 ... w_C]ᵀ, [C, K] (Eq. 5).
    var weights: Tensor
    /// Per class: ADMM iterations, convergence, and R² of the weighted fit (1 − weighted
    /// residual / weighted Σ g², the share of Σ f h g² the linear model explains).
    var iterations: [Int]
    var converged: [Bool]
    var r2: [Double]
    var images: Int
    var perturbations: Int
    /// Wall time of the perturbed passes and of the solves, seconds.
    var secondsPerturbing: Double
    var secondsSolving: Double

    /// Fits `layer` on every image of `dataset`. `progress` gets the number of images done.
    static func fit(model: Graph, dataset: any Dataset, layer: String, settings s: Settings, rng: inout RandomGenerator,
                    cancellation: CancellationToken, progress: (Int) -> Void) throws -> CHIPLayerFit {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let count = dataset.count
        let perBatch = Swift.max(1, s.batchSize / s.gates)
        var stats: CHIPStatistics? = nil
        var extras: [String] = []
        var start = 0
        while start < count {
            try cancellation.check()
            let indices = Array(start..<Swift.min(start + perBatch, count))
            let images = try stackImages(dataset, indices)
            if stats == nil { extras = try valuesBeforeCut(model, layer: layer, probe: images.slice(axis: 0, 0..<1)) }
            let clean = try Autograd.noGrad { try model.forward(images, options: ForwardOptions(capture: [layer] + extras)) }
            guard let a = clean.captured[layer], a.rank == 4 else {
                throw PluginError.invalid("chip: layer '\(layer)' has shape \(clean.captured[layer]?.shape ?? []); it needs a spatial feature map [N, K, h, w]")
            }
            let logits = clean.output
            guard logits.rank == 2 else { throw PluginError.invalid("chip: model '\(model.name)' outputs shape \(logits.shape); it needs logits [N, classes]") }
            let (b, k, classes) = (a.shape[0], a.shape[1], logits.shape[1])
            if stats == nil { stats = CHIPStatistics(channels: k, classes: classes) }
            let sigma = s.sigma * Double(k).squareRoot()
            // f(X_s) as loyalty weights (Eq. 7): probabilities.
            let loyalty = Autograd.noGrad { logits.softmax(axis: 1) }
            let gap = Autograd.noGrad { a.mean(axes: [2, 3]) }
            let (gates, proximity) = drawGates(images: b, perImage: s.gates, channels: k, sigma: sigma, rng: &rng)
            var skipped: [String: Tensor] = [:]
            for name in extras {
                guard let v = clean.captured[name] else { throw PluginError.invalid("chip: '\(name)' was not computed") }
                skipped[name] = repeatEach(v, s.gates)
            }
            let suffix = try Autograd.noGrad {
                try model.forward(from: layer, value: repeatEach(a, s.gates), values: skipped,
                                  options: ForwardOptions(interventions: [layer: .scaleChannels(gates)])).output
            }
            let perturbed = s.logits ? suffix : Autograd.noGrad { suffix.softmax(axis: 1) }
            guard perturbed.shape == [b * s.gates, classes] else {
                throw PluginError.invalid("chip: the gated passes gave shape \(perturbed.shape), expected [\(b * s.gates), \(classes)]")
            }
            try gap.withUnsafeBufferPointer { gp in
                try gates.withUnsafeBufferPointer { dp in
                    try perturbed.withUnsafeBufferPointer { pp in
                        try loyalty.withUnsafeBufferPointer { fp in
                            for i in 0..<b {
                                let t = s.gates
                                try stats?.add(gap: UnsafeBufferPointer(rebasing: gp[(i * k)..<((i + 1) * k)]),
                                               gates: UnsafeBufferPointer(rebasing: dp[(i * t * k)..<((i + 1) * t * k)]),
                                               perturbed: UnsafeBufferPointer(rebasing: pp[(i * t * classes)..<((i + 1) * t * classes)]),
                                               clean: UnsafeBufferPointer(rebasing: fp[(i * classes)..<((i + 1) * classes)]),
                                               proximity: Array(proximity[(i * t)..<((i + 1) * t)]))
                            }
                        }
                    }
                }
            }
            start += b
            progress(start)
        }
        guard let stats else { throw PluginError.invalid("cannot fit 'chip' on an empty dataset") }
        let t1 = DispatchTime.now().uptimeNanoseconds
        var fit = try solve(stats, settings: s, cancellation: cancellation)
        fit.layer = layer
        fit.secondsPerturbing = Double(t1 - t0) / 1e9
        fit.secondsSolving = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
        return fit
    }

    /// The per-class lasso of Eq. 11 on accumulated statistics: for class c, ADMM with
    /// λ_c = lambda · ‖b_c‖∞ (‖b_c‖∞ is the smallest λ at which w_c = 0, so `lambda` is a
    /// fraction in (0, 1) whatever the data's scale) and ρ_c = rho · mean diag(G_c).
    static func solve(_ stats: CHIPStatistics, settings s: Settings, cancellation: CancellationToken = .never) throws -> CHIPLayerFit {
        let (k, classes) = (stats.channels, stats.classes)
        var w = [Float](repeating: 0, count: classes * k)
        var iterations: [Int] = [], converged: [Bool] = [], r2: [Double] = []
        for c in 0..<classes {
            try cancellation.check()
            let g = stats.gram(ofClass: c), b = stats.correlation(ofClass: c)
            let meanDiagonal = (0..<k).reduce(0.0) { $0 + g[$1 * k + $1] } / Double(k)
            let solver = try LassoADMM(gram: g, features: k, rho: meanDiagonal > 0 ? s.rho * meanDiagonal : nil)
            let bound = b.reduce(0.0) { Swift.max($0, Swift.abs($1)) }
            let r = try solver.solve(correlation: b, lambda: s.lambda * bound, stopping: s.stopping)
            for j in 0..<k { w[c * k + j] = Float(r.solution[j]) }
            iterations.append(r.iterations)
            converged.append(r.converged)
            // Weighted residual Σ f h (g − w·z)² = wᵀGw − 2bᵀw + Σ f h g².
            var quad = 0.0, lin = 0.0
            for i in 0..<k {
                lin += b[i] * r.solution[i]
                for j in 0..<k { quad += r.solution[i] * g[i * k + j] * r.solution[j] }
            }
            let energy = stats.targetEnergy[c]
            r2.append(energy > 0 ? 1 - (quad - 2 * lin + energy) / energy : 0)
        }
        return CHIPLayerFit(layer: "", weights: Tensor(shape: [classes, k], data: w), iterations: iterations, converged: converged,
                            r2: r2, images: stats.images, perturbations: stats.perturbations, secondsPerturbing: 0, secondsSolving: 0)
    }

    /// Gates for `images` images x `perImage` draws, image-major [images · perImage, K], and
    /// h(d) per draw (Eq. 8).
    static func drawGates(images: Int, perImage t: Int, channels k: Int, sigma: Double,
                          rng: inout RandomGenerator) -> (gates: Tensor, proximity: [Double]) {
        var proximity = [Double](repeating: 0, count: images * t)
        var order = Array(0..<k)
        let gates = Tensor(shape: [images * t, k]) { out in
            for item in 0..<(images * t) {
                let open = 1 + Int(rng.next() % UInt64(k))
                // Partial Fisher-Yates: the first `open` of a uniform permutation.
                for i in 0..<open { order.swapAt(i, i + Int(rng.next() % UInt64(k - i))) }
                for i in 0..<open { out[item * k + order[i]] = 1 }
                proximity[item] = CHIPStatistics.proximity(closed: k - open, sigma: sigma)
            }
        }
        return (gates, proximity)
    }

    /// What the network after `layer` reads from before it (a residual branch that skips the
    /// cut): asked of the graph once with one image, so the clean pass can capture it.
    static func valuesBeforeCut(_ model: Graph, layer: String, probe: Tensor) throws -> [String] {
        try Autograd.noGrad {
            let a = try model.forward(probe, options: ForwardOptions(capture: [layer], stopAt: layer)).output
            do {
                _ = try model.forward(from: layer, value: a)
                return []
            } catch let GraphError.missingValues(_, missing) {
                return missing
            }
        }
    }
}

extension CHIPLayerFit {
    /// Images `indices` of a dataset as one batch [N, C, H, W], or an error naming the mismatch.
    static func stackImages(_ dataset: any Dataset, _ indices: [Int]) throws -> Tensor {
        let images = try indices.map { try dataset.example($0).image }
        let shapes = Set(images.map(\.shape))
        guard shapes.count == 1 else {
            throw PluginError.invalid("chip: the dataset's images have different shapes (\(shapes.map { "\($0)" }.sorted().joined(separator: ", "))); load it with size: to resize")
        }
        return Tensor.stack(images)
    }

    /// x [N, ...] with every item repeated t times in place: [N · t, ...], item i·t + n = x[i].
    static func repeatEach(_ x: Tensor, _ t: Int) -> Tensor {
        guard t > 1 else { return x }
        let n = x.shape[0], per = x.count / Swift.max(n, 1)
        return x.withUnsafeBufferPointer { src in
            Tensor(shape: [n * t] + Array(x.shape.dropFirst())) { out in
                for i in 0..<n {
                    for r in 0..<t {
                        (out.baseAddress! + (i * t + r) * per).update(from: src.baseAddress! + i * per, count: per)
                    }
                }
            }
        }
    }
}
