import Runtime

/// Heatmaps of single (layer, channel) features, the three rows of Fig. 8 (see `VEbIExplainer`).
struct FeatureVisualization {
    let visualization: VEbIExplainer.Visualization
    let pool: FeaturePool
    /// Guided-backprop ReLUs, plus the stride-1 resampling rule at strided convolutions (and
    /// max-pools when asked) for `resampled`. Max-pools otherwise keep their ordinary
    /// backward: routing by the switches, which is deconvnet's unpooling.
    let rules: [NodeSelector: BackwardRule]

    init(_ visualization: VEbIExplainer.Visualization, pool: FeaturePool, resamplePools: Bool) {
        self.visualization = visualization
        self.pool = pool
        var rules = BackwardRule.allReLUs(.guided)
        if visualization == .resampled {
            rules[.opType("Conv")] = .strideOneResampling
            if resamplePools { rules[.opType("MaxPool")] = .strideOneResampling }
        }
        self.rules = rules
    }

    /// Whether feature `f` has a heatmap under this visualisation (upsampling needs a
    /// spatial map; the backward visualisations reach the image from any value).
    func canShow(_ f: Int) -> Bool { visualization != .upsampledActivation || pool.locate(f).layer.spatial }

    /// One forward pass of a batch: the pool's values (captured) and, for the backward
    /// visualisations, the recorded input the heatmaps are gradients with respect to.
    struct Pass {
        let input: Tensor
        let captured: [String: Tensor]
    }

    func forward(_ model: Graph, _ images: Tensor) throws -> Pass {
        if visualization == .upsampledActivation {
            let captured = try Autograd.noGrad { try model.forward(images, options: ForwardOptions(capture: pool.names)).captured }
            return Pass(input: images, captured: captured)
        }
        let xi = images.requiringGrad()
        let captured = try model.forward(xi, options: ForwardOptions(capture: pool.names, backwardRules: rules)).captured
        return Pass(input: xi, captured: captured)
    }

    /// Heatmaps [n, 1, H, W] in [0, 1] for one feature per image (nil: an all-zero map).
    func heatmaps(_ features: [Int?], _ pass: Pass) -> Tensor {
        visualization == .upsampledActivation ? upsampled(features, pass) : backward(features, pass)
    }

    /// §3.2: each image's feature seeded with its own activation (other channels, layers and
    /// images zero) and taken back to the image in one backward pass. One pass serves the
    /// whole batch because images never mix in an inference pass and each image has one seed:
    /// the (non-linear) guided ReLU sees exactly its own image's signal.
    private func backward(_ features: [Int?], _ pass: Pass) -> Tensor {
        var byLayer: [String: [(image: Int, channel: Int)]] = [:]
        for (i, f) in features.enumerated() {
            guard let f else { continue }
            let (layer, channel) = pool.locate(f)
            byLayer[layer.name, default: []].append((i, channel))
        }
        var objective: Tensor?
        for (name, seeds) in byLayer.sorted(by: { $0.key < $1.key }) {
            guard let a = pass.captured[name] else { continue }
            let per = a.count / (a.shape[0] * a.shape[1]), c = a.shape[1]
            let seed = a.withUnsafeBufferPointer { src in
                Tensor(shape: a.shape) { out in
                    for (i, q) in seeds {
                        let base = (i * c + q) * per
                        for k in 0..<per { out[base + k] = src[base + k] }
                    }
                }
            }
            let term = (a * seed).sum()
            objective = objective.map { $0 + term } ?? term
        }
        let input = pass.input
        guard let objective else { return Tensor.zeros([input.shape[0], 1, input.shape[2], input.shape[3]]) }
        let signal = gradient(of: objective, wrt: input)
        return colourNorms(signal)
    }

    /// ||relu(s)||_2 over the colour channels, min-max per image: [n, C, H, W] -> [n, 1, H, W].
    private func colourNorms(_ s: Tensor) -> Tensor {
        let (n, c, hw) = (s.shape[0], s.shape[1], s.shape[2] * s.shape[3])
        let out = s.withUnsafeBufferPointer { p in
            Tensor(shape: [n, 1, s.shape[2], s.shape[3]]) { out in
                for i in 0..<n {
                    for k in 0..<hw {
                        var sq: Float = 0
                        for ch in 0..<c { let v = Swift.max(p[(i * c + ch) * hw + k], 0); sq += v * v }
                        out[i * hw + k] = sq.squareRoot()
                    }
                }
            }
        }
        return minMaxPerImage(out)
    }

    /// The feature's activation map, bilinearly upsampled to the image, min-max per image.
    private func upsampled(_ features: [Int?], _ pass: Pass) -> Tensor {
        let (h, w) = (pass.input.shape[2], pass.input.shape[3])
        let maps = features.enumerated().map { i, f -> Tensor in
            guard let f, let a = pass.captured[pool.locate(f).layer.name], a.rank == 4 else { return Tensor.zeros([1, 1, h, w]) }
            // select keeps the axis: [1, 1, h, w].
            let channel = a.select(axis: 0, i).select(axis: 1, pool.locate(f).channel)
            return upsampleToInput(channel, pass.input)
        }
        return minMaxPerImage(Tensor.concat(maps, axis: 0))
    }
}

/// (x - min) / (max - min) per image of [n, 1, H, W] (the metrics' normalisation: a constant
/// plane becomes zeros).
func minMaxPerImage(_ x: Tensor) -> Tensor {
    var out: [Float] = []
    out.reserveCapacity(x.count)
    for i in 0..<x.shape[0] { out += MetricSupport.minMaxNormalized(MetricSupport.mapPlane(x, i)) }
    return Tensor(shape: x.shape, data: out)
}
