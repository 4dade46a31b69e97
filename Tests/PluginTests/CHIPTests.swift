import Foundation
import Testing
@testable import Plugins
import Runtime

/// CHIP (shared/papers/001): the statistics of Eq. 11 on hand-set values, the gate draws,
/// the whole fit on networks whose answer is known, the fit cache, and the three variants.
@Suite("CHIP")
struct CHIPTests {
    let chip = CHIPExplainer()

    /// [channels, 6, 6] input -> `convs` x (1x1 identity conv (stride `stride` on the
    /// first) -> ReLU) -> GAP -> fc [3, channels]. Names: conv/relu for one conv, conv1/relu1,
    /// conv2/relu2, ... for more. Every ReLU layer then equals relu(x) (subsampled by the
    /// stride), so every CHIP map is a hand-computable combination of the relu(x_k).
    static func identityNet(channels k: Int, convs: Int, stride: Int = 1, fc: [Float], bias: [Float] = [0, 0, 0]) throws -> Graph {
        let b = GraphBuilder(name: "identity-net", inputShape: [k, 6, 6])
        func suffix(_ i: Int) -> String { convs == 1 ? "" : String(i) }
        for i in 1...convs {
            try b.conv(name: "conv" + suffix(i), out: k, kernel: 1, stride: i == 1 ? stride : 1, bias: false)
            try b.relu(name: "relu" + suffix(i))
        }
        try b.globalAvgPool(name: "gap")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: 3)
        let g = try b.build()
        var identity = [Float](repeating: 0, count: k * k)
        for j in 0..<k { identity[j * k + j] = 1 }
        for i in 1...convs { try g.setWeight("conv\(suffix(i)).weight", Tensor(shape: [k, k, 1, 1], data: identity)) }
        try g.setWeight("fc.weight", Tensor(shape: [3, k], data: fc))
        try g.setWeight("fc.bias", Tensor(shape: [3], data: bias))
        return g
    }

    /// Two identity stages (relu1, relu2) on 2 channels.
    static func twoLayerHead(fc: [Float], bias: [Float] = [0, 0, 0]) throws -> Graph {
        try identityNet(channels: 2, convs: 2, fc: fc, bias: bias)
    }

    /// 4 channels, one stage (relu), where class 0's logit reads channel 2 alone and the
    /// other classes are constants.
    static func oneChannelNet() throws -> Graph {
        try identityNet(channels: 4, convs: 1, fc: [0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0], bias: [0, 1, 1])
    }

    func images(_ n: Int, _ shape: [Int], seed: UInt64) -> TensorDataset {
        var rng = RandomGenerator(seed: seed)
        return TensorDataset(images: Tensor.uniform([n] + shape, rng: &rng))
    }

    // MARK: Eq. 8, Eq. 7 and Eq. 11's statistics

    /// K = 2 channels, C = 2 classes, two gate vectors, σ = 1: every sum written out.
    @Test func statisticsWeightByProximityAndCleanProbability() throws {
        #expect(abs(CHIPStatistics.proximity(closed: 3, sigma: 2) - exp(-0.75)) < 1e-15)
        #expect(CHIPStatistics.proximity(closed: 0, sigma: 0.3) == 1)  // exp(-0) structurally
        var s = CHIPStatistics(channels: 2, classes: 2)
        let gap: [Float] = [1, 2], gates: [Float] = [1, 0, 1, 1], g: [Float] = [0.2, 0.8, 0.6, 0.4], f: [Float] = [0.25, 0.75]
        let h = [CHIPStatistics.proximity(closed: 1, sigma: 1), CHIPStatistics.proximity(closed: 0, sigma: 1)]
        try gap.withUnsafeBufferPointer { a in try gates.withUnsafeBufferPointer { d in try g.withUnsafeBufferPointer { gp in
            try f.withUnsafeBufferPointer { fp in try s.add(gap: a, gates: d, perturbed: gp, clean: fp, proximity: h) }
        } } }
        // z_1 = d_1 ⊙ a = (1, 0), z_2 = (1, 2); M = e⁻¹ z_1 z_1ᵀ + z_2 z_2ᵀ; G_c = f^c M.
        let e1 = exp(-1.0)
        let m = [1 + e1, 2, 2, 4]
        // b_c = f^c (e⁻¹ g_1^c z_1 + g_2^c z_2); y_c = f^c (e⁻¹ (g_1^c)² + (g_2^c)²).
        let b0 = [0.25 * (e1 * 0.2 + 0.6), 0.25 * 1.2], b1 = [0.75 * (e1 * 0.8 + 0.4), 0.75 * 0.8]
        let y = [0.25 * (e1 * 0.04 + 0.36), 0.75 * (e1 * 0.64 + 0.16)]
        // Inputs are Float (g = 0.2 is 0.2 ± 3e-9) and M goes through sgemm in Float: 1e-6
        // relative covers both with room and is far below any value here (>= 0.007).
        func close(_ a: [Double], _ b: [Double]) -> Bool { zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) } }
        #expect(close(s.gram(ofClass: 0), m.map { 0.25 * $0 }))
        #expect(close(s.gram(ofClass: 1), m.map { 0.75 * $0 }))
        #expect(close(s.correlation(ofClass: 0), b0))
        #expect(close(s.correlation(ofClass: 1), b1))
        #expect(close(s.targetEnergy, y))
        #expect(s.images == 1 && s.perturbations == 2)
        #expect(throws: PluginError.self) {
            try gap.withUnsafeBufferPointer { a in try gates.withUnsafeBufferPointer { d in try g.withUnsafeBufferPointer { gp in
                try f.withUnsafeBufferPointer { fp in try s.add(gap: a, gates: d, perturbed: gp, clean: fp, proximity: [1]) }
            } } }
        }
    }

    /// Eq. 11 with an orthogonal design has a closed form: gates that open one channel each
    /// make G_c diagonal, and the lasso is w_k = soft(b_k, λ) / G_kk with λ = lambda·‖b‖∞.
    @Test func perClassLassoMatchesTheOrthogonalClosedForm() throws {
        var s = CHIPStatistics(channels: 2, classes: 1)
        let gap: [Float] = [2, 1], gates: [Float] = [1, 0, 0, 1], g: [Float] = [0.8, 0.1], f: [Float] = [0.5]
        try gap.withUnsafeBufferPointer { a in try gates.withUnsafeBufferPointer { d in try g.withUnsafeBufferPointer { gp in
            try f.withUnsafeBufferPointer { fp in try s.add(gap: a, gates: d, perturbed: gp, clean: fp, proximity: [1, 1]) }
        } } }
        // G = 0.5 diag(4, 1), b = 0.5 (0.8·2, 0.1·1) = (0.8, 0.05); λ = 0.25 · 0.8 = 0.2.
        let settings = CHIPLayerFit.Settings(gates: 2, sigma: 1, lambda: 0.25, rho: 1, logits: false, batchSize: 8)
        let w = try CHIPLayerFit.solve(s, settings: settings).weights
        // ADMM stops at 1e-4 relative residuals: 1e-3 bounds the distance to the limit here.
        #expect(abs(w[flat: 0] - Float((0.8 - 0.2) / 2)) < 1e-3)
        #expect(w[flat: 1] == 0)  // soft(0.05, 0.2) = 0: an exact zero of the z-iterate
        let ridge = try CHIPLayerFit.solve(s, settings: CHIPLayerFit.Settings(gates: 2, sigma: 1, lambda: 0, rho: 1, logits: false, batchSize: 8)).weights
        #expect(abs(ridge[flat: 0] - 0.4) < 1e-3 && abs(ridge[flat: 1] - 0.1) < 1e-3)
    }

    /// Sec. III-A: the number of open gates is uniform on 1...K and h(d) matches each draw.
    @Test func gateDrawsAreUniformInTheirCountAndCarryTheirProximity() {
        var rng = RandomGenerator(seed: 4)
        let (k, n) = (4, 4000)
        let (gates, h) = CHIPLayerFit.drawGates(images: 2, perImage: n / 2, channels: k, sigma: 1.5, rng: &rng)
        #expect(gates.shape == [n, k])
        var counts = [Int](repeating: 0, count: k + 1)
        var perChannel = [Int](repeating: 0, count: k)
        for i in 0..<n {
            let row = (0..<k).map { gates[flat: i * k + $0] }
            #expect(row.allSatisfy { $0 == 0 || $0 == 1 })
            let open = Int(row.reduce(0, +))
            counts[open] += 1
            for j in 0..<k where row[j] == 1 { perChannel[j] += 1 }
            #expect(abs(h[i] - exp(-Double(k - open) / 2.25)) < 1e-15)
        }
        #expect(counts[0] == 0)
        // 1000 expected per count, binomial sd ~27: 150 is over 5 sd (the seed is fixed, so
        // this cannot flake; it would catch a count drawn from 0...K or 1...K-1).
        for c in 1...k { #expect(abs(counts[c] - n / k) < 150, "open = \(c): \(counts[c])") }
        // Each channel is open in (1+2+3+4)/4/4 = 62.5 % of the draws: 2500 ± ~31.
        for j in 0..<k { #expect(abs(perChannel[j] - 2500) < 160, "channel \(j): \(perChannel[j])") }
    }

    // MARK: the whole fit on networks with a known answer

    /// Class 0's probability depends on channel 2 alone: its CHIP weights put channel 2 far
    /// above the others.
    @Test func aChannelThatAloneCarriesTheClassGetsTheLargestWeight() throws {
        let g = try Self.oneChannelNet()
        let state = try fit(chip, model: g, dataset: images(24, [4, 6, 6], seed: 3), params: ["gates": .int(40), "layer": .string("relu")])
        let w = try state.tensor("weights")
        #expect(w.shape == [3, 4])
        let row = (0..<4).map { w[flat: $0] }
        let others = [0, 1, 3].map { abs(row[$0]) }.max() ?? 0
        #expect(row[2] > 0 && row[2] > 10 * others, "class 0 weights \(row)")
        // Classes 1 and 2 lose what class 0 gains: channel 2 is their largest weight, negative.
        for c in 1..<3 {
            let r = (0..<4).map { w[flat: c * 4 + $0] }
            #expect(r[2] < 0 && abs(r[2]) == r.map(abs).max(), "class \(c) weights \(r)")
        }
        #expect(state.notes["layer"] == "relu" && state.notes["refine_layer"] == "relu")
        #expect(state.scalars["layer.perturbations"] == Double(24 * 40))
    }

    /// A GAP + linear head without bias makes every perturbed logit exactly linear in z
    /// (g^c = fc_c · z), so with fit_score logit and λ = 0 the lasso's minimiser is fc_c
    /// itself: CHIP recovers the classifier (and its map is CAM).
    @Test func onALinearHeadTheLogitFitRecoversTheClassifier() throws {
        let fc: [Float] = [1.5, -0.5, -1, 2, 0.25, 0.75]
        let g = try Self.twoLayerHead(fc: fc)
        let data = images(12, [2, 6, 6], seed: 8)
        let state = try fit(chip, model: g, dataset: data, params: ["gates": .int(16), "lambda": .float(0), "fit_score": .string("logit")])
        #expect(state.notes["layer"] == "relu2" && state.notes["refine_layer"] == "relu1")
        // ADMM stops at 1e-4 relative residuals, so w is within ~1e-4 of fc relative to its
        // norm; 2e-3 leaves room for the conditioning of G_c (two correlated channel means).
        for role in ["weights", "refine_weights"] {
            let w = try state.tensor(role)
            for i in 0..<6 { #expect(abs(w[flat: i] - fc[i]) < 2e-3, "\(role)[\(i)] = \(w[flat: i]) vs \(fc[i])") }
        }
        #expect(state.scalars["layer.r2_mean"]! > 0.999)
        let x = data.images.slice(axis: 0, 0..<3)
        for c in 0..<3 {
            let m = try explain(chip, model: g, images: x, target: .index(c), fitted: state)
            let cam = try explain(CAMExplainer(), model: g, images: x, target: .index(c))
            // Both are w · relu(x) at full resolution; w differs from fc by < 2e-3 and
            // relu(x) <= 1 per channel.
            for i in 0..<m.map.count { #expect(abs(m.map[flat: i] - cam.map[flat: i]) < 5e-3) }
        }
    }

    /// A cut inside a residual block: the suffix reads the block's input through the
    /// shortcut, which the fit captures in the clean pass and repeats with the gates.
    @Test func aCutInsideAResidualBlockGetsItsShortcut() throws {
        let g = try ModelZoo.smallResNet(classes: 3, inputSize: 16, widths: [4, 4, 8])
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.uniform([1, 3, 16, 16], rng: &rng)
        #expect(try CHIPLayerFit.valuesBeforeCut(g, layer: "layer1.0.relu1", probe: x) == ["relu"])
        #expect(try CHIPLayerFit.valuesBeforeCut(g, layer: "layer2.0.relu2", probe: x).isEmpty)
        let state = try fit(chip, model: g, dataset: images(3, [3, 16, 16], seed: 1),
                            params: ["gates": .int(3), "layer": .string("layer1.0.relu1"), "refine_layer": .string("relu")])
        #expect(try state.tensor("weights").shape == [3, 4])
        #expect(try state.tensor("refine_weights").shape == [3, 4])
    }

    @Test func defaultLayersAreTheFirstAndLastConvBlocks() throws {
        let vgg = try ModelZoo.vggStyle(classes: 4, inputSize: 16)
        #expect(try firstConvBlockLayer(vgg) == "block1.relu1" && defaultConvBlockLayer(vgg) == "block3.relu2")
        let resnet = try ModelZoo.smallResNet(classes: 4, inputSize: 16)
        #expect(try firstConvBlockLayer(resnet) == "relu")
    }

    // MARK: the cache

    /// The fit is keyed by its layers and fit settings, not by the explain-only variant.
    @Test func fitCacheIsKeyedByLayerNotByVariant() throws {
        let g = try Self.twoLayerHead(fc: [1, 0, 0, 1, 1, 1])
        let data = images(4, [2, 6, 6], seed: 5)
        func key(_ p: [String: ParamValue]) throws -> String {
            try FitCache.key(chip, model: g, dataset: data, params: Params.resolve(p, schema: chip.parameters, plugin: "chip"), seed: 0)
        }
        let base: [String: ParamValue] = ["gates": .int(2), "layer": .string("relu2")]
        #expect(try key(base) != key(base.merging(["layer": .string("relu1")]) { $1 }))
        #expect(try key(base) != key(base.merging(["refine_layer": .string("relu2")]) { $1 }))
        #expect(try key(base) != key(base.merging(["lambda": .float(0.1)]) { $1 }))
        #expect(try key(base) == key(base.merging(["variant": .string("refined"), "upsample": .string("nearest")]) { $1 }))

        let dir = NSTemporaryDirectory() + "chip-cache-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = FitCache(directory: dir)
        var lines: [String] = []
        let a = try cache.fitted(chip, model: g, dataset: data, params: base, log: { lines.append($0) })
        let b = try cache.fitted(chip, model: g, dataset: data, params: base.merging(["variant": .string("guided")]) { $1 }, log: { lines.append($0) })
        let c = try cache.fitted(chip, model: g, dataset: data, params: base.merging(["layer": .string("relu1")]) { $1 }, log: { lines.append($0) })
        #expect(a.key == b.key && a.key != c.key)
        #expect(lines.count == 3 && lines[1].contains("reused") && !lines[2].contains("reused"), "\(lines)")
        #expect(try a.tensor("weights").scalars == b.tensor("weights").scalars)
        #expect(c.notes["layer"] == "relu1")
    }

    // MARK: the three variants

    /// With hand-set weights the maps are known: chip = Σ_k w_k relu(x_k) at relu2, refined =
    /// relu(chip at relu1) · relu(chip at relu2), guided = guided backprop · relu(chip).
    @Test func variantsAreTheProductsThePaperDefines() throws {
        let fc: [Float] = [1, -1, 0.5, 2, -1, 1]
        let g = try Self.twoLayerHead(fc: fc)
        let deep: [Float] = [2, -1, 0.5, 1, 0, -3], shallow: [Float] = [1, 1, -2, 0.5, 1, 0]
        let state = FitState(method: "chip", modelDigest: g.contentDigest,
                             tensors: ["weights": Tensor(shape: [3, 2], data: deep), "refine_weights": Tensor(shape: [3, 2], data: shallow)],
                             notes: ["layer": "relu2", "refine_layer": "relu1"])
        var rng = RandomGenerator(seed: 6)
        let x = Tensor.uniform([2, 2, 6, 6], low: -1, high: 1, rng: &rng)
        for c in 0..<3 {
            let m = try explain(chip, model: g, images: x, target: .index(c), fitted: state)
            let r = try explain(chip, model: g, images: x, target: .index(c), params: ["variant": .string("refined")], fitted: state)
            let gd = try explain(chip, model: g, images: x, target: .index(c), params: ["variant": .string("guided")], fitted: state)
            let gbp = try explain(GuidedBackpropExplainer(), model: g, images: x, target: .index(c))
            for i in 0..<2 { for p in 0..<36 {
                let a0 = max(x[flat: i * 72 + p], 0), a1 = max(x[flat: i * 72 + 36 + p], 0)
                let cd = deep[c * 2] * a0 + deep[c * 2 + 1] * a1, cs = shallow[c * 2] * a0 + shallow[c * 2 + 1] * a1
                // Two-term sums and products of values <= 3: 1e-6 is a few float roundings.
                #expect(abs(m.map[flat: i * 36 + p] - cd) < 1e-6)
                #expect(abs(r.map[flat: i * 36 + p] - max(cd, 0) * max(cs, 0)) < 1e-5)
                for k in 0..<2 {
                    let e = gbp.attribution![flat: i * 72 + k * 36 + p] * max(cd, 0)
                    #expect(abs(gd.attribution![flat: i * 72 + k * 36 + p] - e) < 1e-6)
                }
            } }
            #expect(gd.map.scalars == channelMaxAbs(gd.attribution!).scalars)  // the same reduction, structurally
        }
        // The weights belong to their layers: naming another layer is an error, the same one is not.
        #expect(throws: PluginError.self) {
            try explain(chip, model: g, images: x, params: ["layer": .string("relu1")], fitted: state)
        }
        _ = try explain(chip, model: g, images: x, params: ["layer": .string("relu2")], fitted: state)
    }

    /// Fig. 5 explains the second most probable class: `.ranked(k)` picks it per image.
    @Test func rankedTargetsPickTheKthMostProbableClass() throws {
        let g = try Self.twoLayerHead(fc: [1, 0, 0, 1, 0.5, 0.5], bias: [0, 0, 0.1])
        // GAP of relu(x): image 0 (0.8, 0.2) -> logits (0.8, 0.2, 0.6); image 1 (0.1, 0.9) -> (0.1, 0.9, 0.6).
        let x = Tensor(shape: [2, 2, 6, 6], data: [Float](repeating: 0.8, count: 36) + [Float](repeating: 0.2, count: 36)
                       + [Float](repeating: 0.1, count: 36) + [Float](repeating: 0.9, count: 36))
        #expect(try resolveTargets(.ranked(1), model: g, images: x) == resolveTargets(.predicted, model: g, images: x))
        #expect(try resolveTargets(.ranked(2), model: g, images: x) == [2, 2])
        #expect(try resolveTargets(.ranked(3), model: g, images: x) == [1, 0])
        #expect(throws: PluginError.invalid("target rank 4 is out of range: the model has 3 classes")) {
            try resolveTargets(.ranked(4), model: g, images: x)
        }
    }

    /// Nearest upsampling repeats each cell of a stride-2 layer's map in 2x2 blocks.
    @Test func nearestUpsamplingRepeatsCells() throws {
        let g = try Self.identityNet(channels: 2, convs: 1, stride: 2, fc: [Float](repeating: 0, count: 6))
        let state = FitState(method: "chip", modelDigest: g.contentDigest,
                             tensors: ["weights": Tensor(shape: [3, 2], data: [1, 2, 0, 0, 0, 0]), "refine_weights": Tensor(shape: [3, 2], data: [1, 2, 0, 0, 0, 0])],
                             notes: ["layer": "relu", "refine_layer": "relu"])
        var rng = RandomGenerator(seed: 1)
        let x = Tensor.uniform([1, 2, 6, 6], rng: &rng)
        let m = try explain(chip, model: g, images: x, target: .index(0), params: ["upsample": .string("nearest")], fitted: state)
        for yy in 0..<6 { for xx in 0..<6 {
            let p = (yy / 2) * 2 * 6 + (xx / 2) * 2
            #expect(abs(m.map[flat: yy * 6 + xx] - (x[flat: p] + 2 * x[flat: 36 + p])) < 1e-6)
        } }
    }
}
