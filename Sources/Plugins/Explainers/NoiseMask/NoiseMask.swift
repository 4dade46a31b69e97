import Foundation
import Runtime

/// Noise Mask (the thesis in shared/papers/003_2caba94f4b0946b6.txt, §3.2, §4.1, Appendix A).
///
/// Finds the smallest mask M = sigmoid(V) (one channel at input resolution, broadcast over
/// colour channels) whose kept pixels, blended with fresh noise everywhere else, leave a chosen
/// layer's pre-softmax features unchanged:
///
///     X^_t = X * M + U_t * (1 - M)                                    (eq. 3)
///     min_V  mean(M) + beta * mean((FeatMap_l(X) - FeatMap_l(X^_t))^2)    (eq. 5)
///     beta  = multiplier * beta0,  beta0 = 1 / mean((FeatMap_l(U) - FeatMap_l(X))^2)
///
/// Choices where the thesis is vague, all parameters:
/// - Noise range: the thesis draws uniform(0, 255) in raw pixel units. Our inputs may be in
///   [0, 1] or normalised by the model's mean/std, so by default the noise spans the batch's own
///   value range [min X, max X] per channel (`noise_low`/`noise_high` override it). The
///   Appendix A option (`noise: "normal"`) uses per-channel means 122.46, 114.26, 101.374 and
///   standard deviations 70.63, 68.61, 71.93 on the 0-255 scale, mapped linearly onto the same
///   range (gray inputs use the mean of the three).
/// - beta0 averages the noise-vs-image feature MSE over `beta_draws` noise draws (default 8),
///   per image, so one unlucky draw does not set the balance.
/// - Initialisation "close to 1": V0 = logit(`init`), `init` = 0.99 by default.
/// - Optimiser: Adam with the thesis' learning rate 0.015 and default betas (the thesis used
///   TensorFlow's LazyAdam, which equals Adam for dense gradients as here).
/// - Stopping: the thesis reports 5,000-15,000 iterations at 224x224 and gives no criterion.
///   We stop at `max_iterations` (default 3000) or when the objective, averaged over the last
///   `window` iterations (default 100), improved by less than `tolerance` (relative, default
///   1e-3) against the window before — per batch: all images run until all have stalled.
/// - Layer: default is the last output before any softmax (the graph output, or the input of
///   a final Softmax node); any captured layer of the graph works (the thesis' layer study).
/// The record keeps the per-iteration preservation term and normalised loss term (beta0 * MSE,
/// 1 when the features are as far as pure noise makes them) and their final values.
public struct NoiseMaskExplainer: Explainer {
    public init() {}
    public let name = "noise_mask"
    public let summary = "smallest sigmoid mask whose kept pixels, over fresh noise each step, preserve a layer's features"
    public let reference = "Noise Mask (thesis, shared/papers/003_2caba94f4b0946b6.txt), §3.2, §4.1, Appendix A"
    public var capabilities: Capabilities { [.needsGradients, .layerChoice, .batched, .stochastic] }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("layer", .layer, doc: "layer whose features must be preserved (default: last output before softmax)"),
            ParamSpec("multiplier", .float, default: .float(1), range: 1e-4...1e4, doc: "beta = multiplier * beta0"),
            ParamSpec("lr", .float, default: .float(0.015), range: 1e-6...10, doc: "Adam learning rate (thesis: 0.015)"),
            ParamSpec("max_iterations", .int, default: .int(3000), range: 1...100_000, doc: "iteration cap"),
            ParamSpec("tolerance", .float, default: .float(1e-3), range: 0...1, doc: "stop when the windowed objective improves less than this (relative)"),
            ParamSpec("window", .int, default: .int(100), range: 1...10_000, doc: "iterations per window of the stopping rule"),
            ParamSpec("init", .float, default: .float(0.99), range: 0.5...0.9999, doc: "initial mask value (close to 1)"),
            ParamSpec("noise", .choice(["uniform", "normal"]), default: .string("uniform"), doc: "background noise (Appendix A: normal)"),
            ParamSpec("noise_low", .float, doc: "lower end of the noise range (default: the input's minimum per channel)"),
            ParamSpec("noise_high", .float, doc: "upper end of the noise range (default: the input's maximum per channel)"),
            ParamSpec("beta_draws", .int, default: .int(8), range: 1...256, doc: "noise draws averaged for beta0"),
        ]
    }

    /// The default feature layer: the graph output, or what a final Softmax reads.
    static func defaultLayer(_ g: Graph) -> String {
        let out = g.outputs[0]
        if let p = g.producer(of: out), p.opType == "Softmax" || p.opType == "LogSoftmax", let input = p.inputs.first { return input }
        return out
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        let p = ctx.params
        let g = ctx.model
        let x = ctx.images
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let layer = try p.string("layer").map { try g.resolveValue($0) } ?? NoiseMaskExplainer.defaultLayer(g)
        func features(_ input: Tensor) throws -> Tensor {
            try g.forward(input, options: ForwardOptions(stopAt: layer)).output
        }
        // Noise range per channel, [1, C, 1, 1].
        let (low, high) = noiseRange(x, p)
        let noiseKind = p.string("noise") ?? "uniform"
        func drawNoise(_ rng: inout RandomGenerator) -> Tensor {
            noise(shape: x.shape, low: low, high: high, kind: noiseKind, rng: &rng)
        }

        let target = try Autograd.noGrad { try features(x) }
        let perImage = target.count / n
        // beta0 per image from `beta_draws` pure-noise inputs.
        var noiseMSE = [Double](repeating: 0, count: n)
        let draws = p.int("beta_draws")
        for _ in 0..<draws {
            let f = try Autograd.noGrad { try features(drawNoise(&ctx.rng)) }
            let d = (f - target).squared().reshaped([n, perImage]).mean(axis: 1)
            for i in 0..<n { noiseMSE[i] += Double(d[flat: i]) / Double(draws) }
        }
        let beta0 = noiseMSE.map { $0 > 0 ? 1 / $0 : 0 }
        let beta = Tensor(shape: [n], data: beta0.map { Float($0 * p.float("multiplier")) })
        if beta0.contains(0) {
            throw PluginError.invalid("noise_mask: layer '\(layer)' gives the same features for noise as for the image, so the loss term is always zero; choose another layer")
        }

        let initValue = p.float("init")
        let v = Parameter(name: "V", value: Tensor.full([n, 1, h, w], Float(Foundation.log(initValue / (1 - initValue)))))
        let adam = Adam(parameters: [v], lr: Float(p.float("lr")))
        let maxIterations = p.int("max_iterations"), window = p.int("window")
        let tolerance = p.float("tolerance")
        var preservation = [[Double]](repeating: [], count: n), lossTerm = [[Double]](repeating: [], count: n)
        var objectiveHistory: [Double] = []
        let targetD = target.detached()
        for iteration in 0..<maxIterations {
            try ctx.cancellation.check()
            let m = v.value.sigmoid()
            let u = drawNoise(&ctx.rng)
            let blended = x * m + u * (1 - m)
            let f = try features(blended)
            let keep = m.reshaped([n, h * w]).mean(axis: 1)                        // [N]
            let mse = (f - targetD).squared().reshaped([n, perImage]).mean(axis: 1) // [N]
            let objective = keep + beta * mse
            adam.zeroGrad()
            objective.sum().backward()
            adam.step()
            var total = 0.0
            for i in 0..<n {
                preservation[i].append(Double(keep[flat: i]))
                lossTerm[i].append(Double(mse[flat: i]) * beta0[i])
                total += Double(objective[flat: i])
            }
            objectiveHistory.append(total)
            ctx.progress?(iteration + 1, maxIterations)
            if stalled(objectiveHistory, window: window, tolerance: tolerance) { break }
        }
        let mask = v.value.sigmoid().detached()
        return Explanation(
            map: mask,
            scalars: [
                "preservation": preservation.map { $0.last ?? 1 },
                "loss_term": lossTerm.map { $0.last ?? 0 },
                "iterations": [Double](repeating: Double(objectiveHistory.count), count: n),
                "beta0": beta0,
            ],
            curves: ["preservation": preservation, "loss_term": lossTerm])
    }

    /// Windowed stopping rule: the mean objective of the last window improved by less than
    /// `tolerance` (relative) on the window before it.
    func stalled(_ history: [Double], window: Int, tolerance: Double) -> Bool {
        guard tolerance > 0, history.count >= 2 * window else { return false }
        let recent = history.suffix(window).reduce(0, +) / Double(window)
        let before = history.dropLast(window).suffix(window).reduce(0, +) / Double(window)
        return (before - recent) < tolerance * Swift.abs(before)
    }

    func noiseRange(_ x: Tensor, _ p: Params) -> (low: [Float], high: [Float]) {
        let c = x.shape[1]
        if case let .float(lo)? = p["noise_low"], case let .float(hi)? = p["noise_high"] {
            return ([Float](repeating: Float(lo), count: c), [Float](repeating: Float(hi), count: c))
        }
        let perChannel = x.permuted([1, 0, 2, 3]).reshaped([c, -1])
        var low = perChannel.min(axis: 1).scalars, high = perChannel.max(axis: 1).scalars
        if case let .float(lo)? = p["noise_low"] { low = low.map { _ in Float(lo) } }
        if case let .float(hi)? = p["noise_high"] { high = high.map { _ in Float(hi) } }
        for i in 0..<c where high[i] <= low[i] { high[i] = low[i] + 1 }
        return (low, high)
    }

    /// Uniform noise over [low, high] per channel, or Appendix A's normal noise: natural-image
    /// channel statistics on the 0-255 scale mapped linearly onto [low, high].
    func noise(shape: [Int], low: [Float], high: [Float], kind: String, rng: inout RandomGenerator) -> Tensor {
        let (n, c, plane) = (shape[0], shape[1], shape[2] * shape[3])
        let means: [Float] = [122.46, 114.26, 101.374], stds: [Float] = [70.63, 68.61, 71.93]
        return Tensor(shape: shape) { b in
            for i in 0..<n {
                for ch in 0..<c {
                    let base = (i * c + ch) * plane, lo = low[ch], span = high[ch] - low[ch]
                    if kind == "normal" {
                        let mu = c == 3 ? means[ch] : means.reduce(0, +) / 3, sd = c == 3 ? stds[ch] : stds.reduce(0, +) / 3
                        for k in 0..<plane { b[base + k] = lo + span * Swift.min(Swift.max((mu + sd * rng.nextNormal()) / 255, 0), 1) }
                    } else {
                        for k in 0..<plane { b[base + k] = lo + span * rng.nextUniform() }
                    }
                }
            }
        }
    }
}
