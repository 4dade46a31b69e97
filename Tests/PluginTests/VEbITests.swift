import Foundation
import Testing
@testable import Plugins
@testable import Runtime

/// Images with the labels given (TensorDataset's labels cycle instead).
struct LabelledImages: Dataset {
    let images: Tensor
    let labels: [Int]
    let classes: Int
    var name: String { "labelled" }
    var classNames: [String] { (0..<classes).map { "c\($0)" } }
    var count: Int { labels.count }
    func example(_ index: Int) throws -> Example {
        Example(image: images.select(axis: 0, index).reshaped(Array(images.shape.dropFirst())), label: labels[index])
    }
}

@Suite("VEbI: mu-lasso feature selection and feature heatmaps (paper 002)")
struct VEbITests {
    let vebi = VEbIExplainer()

    /// A colour-filter net on 3x8x8 images: conv1 (1x1, filter q reads colour q) -> relu1 ->
    /// gap -> fc (3 classes; flatten and fc are not features). The pool is conv1, relu1, gap
    /// with 3 channels each: m = 9.
    func colourNet(classes: Int = 2) throws -> Graph {
        let b = GraphBuilder(name: "colour", inputShape: [3, 8, 8], seed: 1)
        try b.conv(name: "conv1", out: 3, kernel: 1)
        try b.relu(name: "relu1")
        try b.globalAvgPool(name: "gap")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: classes)
        let g = try b.build()
        var identity = [Float](repeating: 0, count: 9)
        for q in 0..<3 { identity[q * 3 + q] = 1 }
        try g.setWeight("conv1.weight", Tensor(shape: [3, 3, 1, 1], data: identity))
        try g.setWeight("conv1.bias", Tensor.zeros([3]))
        return g
    }

    /// Class 1: a red 2x2 blob; class 0: a green or a blue blob; at seeded random places, the
    /// rest of the image black. Red responds in class 1 only, so the red filter alone explains
    /// class 1 exactly.
    func blobs(_ n: Int, seed: UInt64) -> (data: LabelledImages, blobAt: [(Int, Int)]) {
        var rng = RandomGenerator(seed: seed)
        var pixels = [Float](repeating: 0, count: n * 3 * 64), labels: [Int] = [], at: [(Int, Int)] = []
        for i in 0..<n {
            let label = i % 2, colour = label == 1 ? 0 : 1 + Int(rng.next() % 2)
            let (y, x) = (Int(rng.next() % 7), Int(rng.next() % 7))
            for dy in 0..<2 { for dx in 0..<2 { pixels[((i * 3 + colour) * 8 + y + dy) * 8 + x + dx] = 0.5 + 0.5 * rng.nextUniform() } }
            labels.append(label)
            at.append((y, x))
        }
        return (LabelledImages(images: Tensor(shape: [n, 3, 8, 8], data: pixels), labels: labels, classes: 2), at)
    }

    @Test func theFilterTheClassDependsOnIsTheOneSelected() throws {
        let g = try colourNet()
        let (data, at) = blobs(20, seed: 3)
        let state = try fit(vebi, model: g, dataset: data, params: ["mu": .float(10)])
        let fitted = try RelevantFeatures(state: state)
        #expect(fitted.pool.names == ["conv1", "relu1", "gap"])
        // Class 1's gradient on any green or blue feature is zero from the start (those are 0 on
        // every class-1 image), so they stay exactly 0: only red features can be selected.
        let selected = fitted.selected(class: 1)
        #expect(!selected.isEmpty)
        #expect(selected.allSatisfy { fitted.pool.locate($0).channel == 0 }, "class 1 selected \(selected.map(fitted.pool.locate))")
        #expect(selected.allSatisfy { fitted.weight($0, 1) > 0 })
        // Explaining class 1 on a red image: the top features are red ones, and the combined map
        // peaks on the blob.
        let i = 1
        let x = data.images.slice(axis: 0, i..<(i + 1))
        let m = try explain(vebi, model: g, images: x, target: .index(1), fitted: state)
        #expect(m.scalars["fallback"] == [0])
        for k in 1...3 {
            let f = try #require(m.scalars["feature_\(k)"]?.first)
            if f >= 0 { #expect(fitted.pool.locate(Int(f)).channel == 0) }
        }
        let plane = m.map.scalars
        let peak = plane.indices.max { plane[$0] < plane[$1] }!
        let (y, xx) = at[i]
        #expect((y..<(y + 2)).contains(peak / 8) && (xx..<(xx + 2)).contains(peak % 8), "peak at \(peak / 8),\(peak % 8), blob at \(y),\(xx)")
    }

    /// Fig. 4's protocol on the colour net with a hand-set head (class 1 = red, class 0 = green
    /// or blue, a 0.01 bias breaking the all-zero tie towards class 0): zeroing class 1's
    /// selected (layer, channel) features with `ChannelAblation` makes every red image wrong
    /// (accuracy 1 -> 0.5), zeroing the same layers' green channel instead costs nothing. The
    /// accuracies are counts of exact argmax decisions with margins >= 0.01, far above
    /// rounding, so they are compared exactly.
    @Test func zeroingTheSelectedFilterRemovesItsClassAndAMatchedOtherDoesNot() throws {
        let g = try colourNet()
        try g.setWeight("fc.weight", Tensor(shape: [2, 3], data: [0, 1, 1, 1, 0, 0]))
        try g.setWeight("fc.bias", Tensor(shape: [2], data: [0.01, 0]))
        let (data, _) = blobs(20, seed: 3)
        #expect(try accuracy(g, on: data) == 1)
        let fitted = try RelevantFeatures(state: try fit(vebi, model: g, dataset: data, params: ["mu": .float(10)]))
        var red: [String: [Int]] = [:], green: [String: [Int]] = [:]
        for f in fitted.selected(class: 1) {
            let (layer, channel) = fitted.pool.locate(f)
            #expect(channel == 0)
            red[layer.name] = [channel]
            green[layer.name] = [1]
        }
        #expect(!red.isEmpty)
        let example = data.images.slice(axis: 0, 0..<1)
        let selected = try ChannelAblation(red, graph: g, example: example)
        let matched = try ChannelAblation(green, graph: g, example: example)
        #expect(try accuracy(g, on: data, interventions: selected.interventions) == 0.5)
        #expect(try accuracy(g, on: data, interventions: matched.interventions) == 1)
    }

    @Test func theFitSolvesEquationOneOnTheHandMadeDescriptor() throws {
        // x_i by hand: per colour, sum of squares over the 8x8 map; conv1 and relu1 equal the
        // input channels (identity filters, non-negative pixels); gap is the channel mean, so
        // its squared response is the sum over the map squared / 64^2. Each layer L1-normalised.
        let g = try colourNet()
        var rng = RandomGenerator(seed: 9)
        let images = Tensor.uniform([6, 3, 8, 8], rng: &rng)
        let data = LabelledImages(images: images, labels: [0, 1, 1, 0, 1, 0], classes: 2)
        var design: [Float] = []
        for i in 0..<6 {
            var squares = [Double](repeating: 0, count: 3), means = squares
            for c in 0..<3 { for p in 0..<64 { let v = Double(images[flat: (i * 3 + c) * 64 + p]); squares[c] += v * v; means[c] += v / 64 } }
            let meanSquares = means.map { $0 * $0 }
            for layer in [squares, squares, meanSquares] {
                let total = layer.reduce(0, +)
                design += layer.map { Float($0 / total) }
            }
        }
        let targets = Tensor(shape: [6, 2], data: data.labels.flatMap { $0 == 0 ? [Float(1), 0] : [0, 1] })
        let expected = try LassoSPG.solve(design: Tensor(shape: [6, 9], data: design), targets: targets, tau: 0.8)
        let state = try fit(vebi, model: g, dataset: data, params: ["mu": .float(0.8)])
        let w = try state.tensor("weights")
        #expect(w.shape == [9, 2])
        // The same solver on descriptors equal up to float rounding of the sums (Float kernels
        // vs. the Double loop above): weights agree to 1e-4 of the budget.
        #expect(w.maxAbsDifference(expected.solution) < 1e-4, "\(w.scalars) vs \(expected.solution.scalars)")
        // The budget binds at mu = 0.8 (a class needs more than 0.8 of weight to fit 0/1 targets
        // from shares below 1), and the solver's stopping test held.
        for j in 0..<2 {
            let l1 = (0..<9).reduce(Float(0)) { acc, f in acc + abs(w[flat: f * 2 + j]) }
            #expect(abs(l1 - 0.8) < 1e-4, "class \(j): ||w||_1 = \(l1)")
        }
        #expect(state.scalars["solver_converged_classes"] == 2)
        #expect(state.scalars["features_total"] == 9)
    }

    @Test func aClassWithoutPositiveWeightFallsBackToTheDescriptor() throws {
        // Three classes, labels 0 and 1 only: class 2 has no example, so its column of W is 0.
        let g = try colourNet(classes: 3)
        let (data, _) = blobs(10, seed: 4)
        let state = try fit(vebi, model: g, dataset: data)
        let fitted = try RelevantFeatures(state: state)
        #expect(fitted.selected(class: 2).isEmpty)
        let x = data.images.slice(axis: 0, 0..<2)
        let m = try explain(vebi, model: g, images: x, target: .index(2), fitted: state)
        #expect(m.scalars["fallback"] == [1, 1])
        #expect(m.scalars["features_used"] == [3, 3])
        #expect(m.map.scalars.contains { $0 > 0 })
    }

    @Test func featureRankGivesOneHeatmapAndTheMaxCombinesThem() throws {
        let g = try TinyNets.randomCNN()
        var rng = RandomGenerator(seed: 5)
        let data = LabelledImages(images: Tensor.uniform([12, 3, 16, 16], rng: &rng), labels: (0..<12).map { $0 % 5 }, classes: 5)
        let state = try fit(vebi, model: g, dataset: data)
        let x = data.images.slice(axis: 0, 0..<2)
        let all = try explain(vebi, model: g, images: x, target: .index(0), fitted: state)
        let singles = try (1...3).map { k in
            try explain(vebi, model: g, images: x, target: .index(0), params: ["feature_rank": .int(k)], fitted: state).map.scalars
        }
        // The pixel-wise max of the three single heatmaps, recomputed: each heatmap is the same
        // computation in both calls (one backward per rank), so the max is exact.
        let maxed = (0..<singles[0].count).map { e in singles.map { $0[e] }.max()! }
        #expect(all.map.scalars == maxed)
        for s in singles { #expect(s.allSatisfy { $0 >= 0 && $0 <= 1 }) }
    }

    @Test func upsampledActivationSkipsFeaturesWithoutASpatialMap() throws {
        let g = try TinyNets.randomCNN()
        var rng = RandomGenerator(seed: 6)
        let data = LabelledImages(images: Tensor.uniform([12, 3, 16, 16], rng: &rng), labels: (0..<12).map { $0 % 5 }, classes: 5)
        let state = try fit(vebi, model: g, dataset: data, params: ["mu": .float(50)])
        let fitted = try RelevantFeatures(state: state)
        let m = try explain(vebi, model: g, images: data.images.slice(axis: 0, 0..<3), target: .index(1),
                            params: ["visualization": .string("upsampled_activation"), "top": .int(5)], fitted: state)
        for k in 1...5 {
            for f in m.scalars["feature_\(k)"]! where f >= 0 { #expect(fitted.pool.locate(Int(f)).layer.spatial) }
        }
        #expect(m.map.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    // MARK: resampled vs deconv_gb

    /// Conv layers at stride 1 and 2x2/2 max-pools only (TinyNets.randomCNN, like our an8Flower
    /// VGGs): the resampling rule is selected for Conv nodes and declines every stride-1 one,
    /// max-pools are not selected, so `resampled` and `deconv_gb` run the same code path on the
    /// same numbers: equal bit for bit, structurally.
    @Test func resampledIsDeconvGBOnANetWithoutStridedConvolutions() throws {
        let g = try TinyNets.randomCNN()
        var rng = RandomGenerator(seed: 7)
        // Labels 0 and 1 of 5 classes: class 4 falls back to the descriptor ranking, whose 30
        // features (every one responds) cover layers before and after the max-pool.
        let data = LabelledImages(images: Tensor.uniform([10, 3, 16, 16], rng: &rng), labels: (0..<10).map { $0 % 2 }, classes: 5)
        let state = try fit(vebi, model: g, dataset: data)
        let pool = try RelevantFeatures(state: state).pool
        let resampledRules = FeatureVisualization(.resampled, pool: pool, resamplePools: false).rules
        #expect(try g.resolveBackwardRules(resampledRules).values.allSatisfy { $0.name == ReLURule.guided.rawValue })
        let x = data.images.slice(axis: 0, 0..<3)
        for (target, top) in [(Target.index(0), 3), (.index(4), 30)] {
            let a = try explain(vebi, model: g, images: x, target: target, params: ["visualization": .string("resampled"), "top": .int(top)], fitted: state)
            let b = try explain(vebi, model: g, images: x, target: target, params: ["visualization": .string("deconv_gb"), "top": .int(top)], fitted: state)
            #expect(a.map.scalars == b.map.scalars)
        }
        // Resampling the strided max-pool too is a different computation for the features after
        // it (so the comparison above can fail).
        let params: [String: ParamValue] = ["top": .int(30), "feature_rank": .int(0)]
        let plain = try explain(vebi, model: g, images: x, target: .index(4), params: params, fitted: state)
        #expect(plain.scalars["fallback"] == [1, 1, 1])
        let pools = try explain(vebi, model: g, images: x, target: .index(4), params: params.merging(["resample_pools": .bool(true)]) { a, _ in a }, fitted: state)
        #expect(pools.map.maxAbsDifference(plain.map) > 1e-3)
    }

    /// The shipped an8Flower VGGs (stride-1 convolutions, 2x2/2 max-pools): the same
    /// structural equality on the real models (issue 17: the rule is a no-op there).
    @Test(arguments: ["vgg-an8flower-single6c", "vgg-an8flower-double12c"])
    func resampledIsDeconvGBOnTheShippedVGGs(_ name: String) throws {
        let g = try loadONNX(path: ShippedModelTests.modelsDir + "/\(name).onnx")
        let variant: An8FlowerDataset.Variant = name.hasSuffix("single6c") ? .single6c : .double12c
        let train = try An8FlowerDataset(variant: variant, split: "train", size: 64, count: 24, seed: 0)
        let state = try fit(vebi, model: g, dataset: train, params: ["mu": .float(5), "max_iterations": .int(200)])
        #expect(try g.resolveBackwardRules(FeatureVisualization(.resampled, pool: try RelevantFeatures(state: state).pool, resamplePools: false).rules)
            .values.allSatisfy { $0.name == ReLURule.guided.rawValue })
        let x = try An8FlowerDataset(variant: variant, split: "test", size: 64, count: 400, seed: 0).batch([0, 1]).images
        let a = try explain(vebi, model: g, images: x, params: ["visualization": .string("resampled")], fitted: state)
        let b = try explain(vebi, model: g, images: x, params: ["visualization": .string("deconv_gb")], fitted: state)
        #expect(a.map.scalars == b.map.scalars)
        #expect(a.map.scalars.contains { $0 > 0 })
    }

    @Test func onAStridedNetTheResamplingChangesTheHeatmaps() throws {
        let g = try ModelZoo.smallResNet(classes: 4, inputSize: 16, widths: [4, 8], seed: 2)
        var rng = RandomGenerator(seed: 8)
        let data = LabelledImages(images: Tensor.uniform([8, 3, 16, 16], rng: &rng), labels: (0..<8).map { $0 % 4 }, classes: 4)
        let state = try fit(vebi, model: g, dataset: data, params: ["mu": .float(50)])
        let x = data.images.slice(axis: 0, 0..<2)
        let a = try explain(vebi, model: g, images: x, params: ["visualization": .string("resampled")], fitted: state)
        let b = try explain(vebi, model: g, images: x, params: ["visualization": .string("deconv_gb")], fitted: state)
        #expect(a.scalars["feature_1"] == b.scalars["feature_1"])
        #expect(a.map.maxAbsDifference(b.map) > 1e-3)
    }

    // MARK: state

    @Test func theStateRoundTripsThroughItsFile() throws {
        let g = try TinyNets.randomCNN()
        var rng = RandomGenerator(seed: 10)
        let data = LabelledImages(images: Tensor.uniform([10, 3, 16, 16], rng: &rng), labels: (0..<10).map { $0 % 5 }, classes: 5)
        let state = try fit(vebi, model: g, dataset: data, params: ["features": .string("conv")])
        let path = NSTemporaryDirectory() + "vebi-\(UUID().uuidString).salfit"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try state.save(path: path)
        let loaded = try FitState.load(path: path)
        let (a, b) = (try RelevantFeatures(state: state), try RelevantFeatures(state: loaded))
        #expect(a.pool.layers == b.pool.layers && a.weights == b.weights)
        // "conv": spatial values only (conv1, relu1, pool1, conv2, relu2; not gap).
        #expect(b.pool.names == ["conv1", "relu1", "pool1", "conv2", "relu2"])
        let x = data.images.slice(axis: 0, 0..<2)
        let m1 = try explain(vebi, model: g, images: x, fitted: state), m2 = try explain(vebi, model: g, images: x, fitted: loaded)
        #expect(m1.map.scalars == m2.map.scalars)
        // A state whose pool description is damaged is an error, not a crash.
        var broken = loaded
        broken.notes["layers"] = "conv1"
        #expect(throws: PluginError.self) { try explain(vebi, model: g, images: x, fitted: broken) }
    }

    @Test func thePoolLeavesOutTheClassLayerAndRelabellings() throws {
        let g = try TinyNets.randomCNN()
        #expect(FeaturePool.candidateValues(g) == ["conv1", "relu1", "pool1", "conv2", "relu2", "gap"])
        // A softmax after the logits: the logits are still the class layer.
        let b = GraphBuilder(name: "soft", inputShape: [4], seed: 1)
        try b.linear(name: "fc1", out: 3)
        try b.relu(name: "relu1")
        try b.linear(name: "fc2", out: 2)
        _ = try b.add("Softmax", name: "prob", inputs: ["fc2"], attributes: ["axis": .int(1)])
        #expect(FeaturePool.candidateValues(try b.build()) == ["fc1", "relu1"])
    }
}
