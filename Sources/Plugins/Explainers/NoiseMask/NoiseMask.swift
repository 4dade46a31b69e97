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
/// - Output (`output`): the thesis keeps "the residual information ... as the saliency map" (§1)
///   and converts "the saliency map and the input image into grayscale" before SSIM (§4.2), which
///   a one-channel mask would not need, and Appendix A's maps have an "average noise color": so
///   its scored maps are most plausibly image content, not M. `mask` (default) is M itself;
///   `kept` is grayscale(X * M); `composite` is grayscale(X * M + mu_U * (1 - M)) with mu_U the
///   mid-point of the noise range per channel (the average colour of uniform noise; for
///   `noise: "normal"` the same mid-point, the normal noise being mapped onto that range).
///   Grayscale is BT.601 luma (`Tensor.grayscale`), as the ssim metric uses. All three come from
///   the same optimisation; only the returned plane differs.
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
            ParamSpec("output", .choice(["mask", "kept", "composite"]), default: .string("mask"),
                      doc: "the map returned: the mask M, grayscale(X * M), or grayscale(X * M + mean noise colour * (1 - M))"),
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
        let noiseKind = try p.string("noise") ?? "uniform"
        func drawNoise(_ rng: inout RandomGenerator) -> Tensor {
            noise(shape: x.shape, low: low, high: high, kind: noiseKind, rng: &rng)
        }

        let target = try Autograd.noGrad { try features(x) }
        let perImage = target.count / n
        // beta0 per image from `beta_draws` pure-noise inputs.
        var noiseMSE = [Double](repeating: 0, count: n)
        let draws = try p.int("beta_draws")
        for _ in 0..<draws {
            let f = try Autograd.noGrad { try features(drawNoise(&ctx.rng)) }
            let d = (f - target).squared().reshaped([n, perImage]).mean(axis: 1)
            for i in 0..<n { noiseMSE[i] += Double(d[flat: i]) / Double(draws) }
        }
        let beta0 = noiseMSE.map { $0 > 0 ? 1 / $0 : 0 }
        if beta0.contains(0) {
            throw PluginError.invalid("noise_mask: layer '\(layer)' gives the same features for noise as for the image, so the loss term is always zero; choose another layer")
        }

        let initValue = try p.float("init")
        let v = Parameter(name: "V", value: Tensor.full([n, 1, h, w], Float(Foundation.log(initValue / (1 - initValue)))))
        let adam = try Adam(parameters: [v], lr: Float(p.float("lr")))
        let maxIterations = try p.int("max_iterations"), window = try p.int("window")
        let tolerance = try p.float("tolerance")
        var preservation = [[Double]](repeating: [], count: n), lossTerm = [[Double]](repeating: [], count: n)
        for i in 0..<n { preservation[i].reserveCapacity(maxIterations); lossTerm[i].reserveCapacity(maxIterations) }
        var objectiveHistory: [Double] = []
        objectiveHistory.reserveCapacity(maxIterations)
        let targetD = target.detached()
        let blend = MaskedBlend(images: x)
        var mse = [Double](repeating: 0, count: n)
        let multiplier = try p.float("multiplier")
        let betaF = beta0.map { Float($0 * multiplier) }
        // The images' forward and backward passes are independent: the batch is cut into one
        // part per thread, each part's pass runs whole on its own thread (see
        // `Threads.forEachItem`), and the parts' input gradients are joined.
        let parts = chunks(n, (n + Threads.count - 1) / Swift.max(Threads.count, 1))
        let partTargets = parts.map { parts.count == 1 ? targetD : targetD.slice(axis: 0, $0) }
        for iteration in 0..<maxIterations {
            try ctx.cancellation.check()
            let u = drawNoise(&ctx.rng)
            // Mask, blend and preservation term in one taped op; the feature loss's gradient
            // is the seed of the model's backward pass. The model's forward and backward are
            // the only other work (see `MaskedBlend` for why).
            let blended = blend.apply(v.value, noise: u)
            let inputGradient = try Self.featureLossInputGradient(blended, parts: parts, targets: partTargets, beta: betaF,
                                                                  mse: &mse, features: features)
            adam.zeroGrad()
            blended.backward(seed: inputGradient)
            adam.step()
            var total = 0.0
            for i in 0..<n {
                let keep = blend.keep[i]
                preservation[i].append(keep)
                lossTerm[i].append(mse[i] * beta0[i])
                total += keep + Double(betaF[i]) * mse[i]
            }
            objectiveHistory.append(total)
            ctx.progress?(iteration + 1, maxIterations)
            if stalled(objectiveHistory, window: window, tolerance: tolerance) { break }
        }
        let mask = v.value.sigmoid().detached()
        let map: Tensor
        switch try p.string("output") ?? "mask" {
        case "kept": map = Self.content(x, mask: mask, fill: nil)
        case "composite": map = Self.content(x, mask: mask, fill: zip(low, high).map { ($0 + $1) / 2 })
        default: map = mask
        }
        return Explanation(
            map: map,
            scalars: [
                "preservation": preservation.map { $0.last ?? 1 },
                "undecided": Self.undecidedFraction(mask),
                "loss_term": lossTerm.map { $0.last ?? 0 },
                "iterations": [Double](repeating: Double(objectiveHistory.count), count: n),
                "beta0": beta0,
            ],
            curves: ["preservation": preservation, "loss_term": lossTerm])
    }

    /// grayscale(X * M + fill * (1 - M)) with `fill` per channel (nil: no fill, X * M): the image
    /// content a mask keeps, as one plane [N, 1, H, W].
    static func content(_ x: Tensor, mask: Tensor, fill: [Float]?) -> Tensor {
        let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        let blended = Tensor(shape: x.shape) { out in
            x.withUnsafeBufferPointer { xb in
                mask.withUnsafeBufferPointer { mb in
                    for i in 0..<n {
                        for ch in 0..<c {
                            let base = (i * c + ch) * hw, f = fill?[ch] ?? 0
                            for p in 0..<hw { let m = mb[i * hw + p]; out[base + p] = xb[base + p] * m + f * (1 - m) }
                        }
                    }
                }
            }
        }
        return blended.grayscale()
    }

    /// Per image, the share of pixels the mask has not decided on (0.1 < M < 0.9): near 0 for a
    /// converged, binary-looking mask.
    static func undecidedFraction(_ mask: Tensor) -> [Double] {
        let n = mask.shape[0], hw = mask.count / Swift.max(n, 1)
        return mask.withUnsafeBufferPointer { b in
            (0..<n).map { i in
                var k = 0
                for p in (i * hw)..<((i + 1) * hw) where b[p] > 0.1 && b[p] < 0.9 { k += 1 }
                return Double(k) / Double(hw)
            }
        }
    }

    /// The gradient of the feature loss (see `featureLossSeed`) with respect to the blended
    /// input `x` [N, C, H, W], by a forward and a backward pass of the model per part of the
    /// batch (`parts`, with their rows of the target features), the parts concurrently; the
    /// per-image MSE goes into `mse`.
    static func featureLossInputGradient(_ x: Tensor, parts: [Range<Int>], targets: [Tensor], beta: [Float], mse: inout [Double],
                                         features: (Tensor) throws -> Tensor) throws -> Tensor {
        let input = x.detached()
        var grads = [Tensor?](repeating: nil, count: parts.count)
        var partMSE = [[Double]](repeating: [], count: parts.count)
        try grads.withUnsafeMutableBufferPointer { gBuffer in
            try partMSE.withUnsafeMutableBufferPointer { mBuffer in
                nonisolated(unsafe) let (gOut, mOut) = (gBuffer, mBuffer)
                try Threads.forEachItem(parts.count, elementsPerItem: (parts.first?.count ?? 0) * (x.count / Swift.max(x.shape[0], 1))) { k in
                    let r = parts[k]
                    let xk = (parts.count == 1 ? input : input.slice(axis: 0, r)).requiringGrad()
                    let f = try features(xk)
                    var m = [Double](repeating: 0, count: r.count)
                    let seed = featureLossSeed(f, target: targets[k], beta: Array(beta[r]), mse: &m)
                    gOut[k] = gradient(of: f, wrt: xk, seed: seed)
                    mOut[k] = m
                }
            }
        }
        for (k, r) in parts.enumerated() { for (j, i) in r.enumerated() { mse[i] = partMSE[k][j] } }
        let g = grads.compactMap { $0 }
        return g.count == 1 ? g[0] : Tensor.concat(g, axis: 0)
    }

    /// The gradient of sum_i beta_i * mean_k (f_ik - t_ik)^2 with respect to the features f
    /// (2 beta_i (f - t) / K), and the per-image MSE into `mse`, in one pass with no tape.
    static func featureLossSeed(_ f: Tensor, target: Tensor, beta: [Float], mse: inout [Double]) -> Tensor {
        let n = beta.count, k = f.count / n
        return Tensor(shape: f.shape) { g in
            f.withUnsafeBufferPointer { fv in
                target.withUnsafeBufferPointer { tv in
                    for i in 0..<n {
                        var acc = 0.0
                        let scale = 2 * beta[i] / Float(k)
                        for j in (i * k)..<((i + 1) * k) {
                            let d = fv[j] - tv[j]
                            acc += Double(d * d)
                            g[j] = scale * d
                        }
                        mse[i] = acc / Double(k)
                    }
                }
            }
        }
    }

    /// Windowed stopping rule: the mean objective of the last window improved by less than
    /// `tolerance` (relative) on the window before it.
    func stalled(_ history: [Double], window: Int, tolerance: Double) -> Bool {
        guard tolerance > 0, history.count >= 2 * window else { return false }
        let c = history.count
        var recent = 0.0, before = 0.0
        for k in (c - window)..<c { recent += history[k] }
        for k in (c - 2 * window)..<(c - window) { before += history[k] }
        recent /= Double(window); before /= Double(window)
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

/// The input side of one Noise Mask iteration as a single taped op:
///
///     M = sigmoid(V),   out = X * M + U * (1 - M) = U + (X - U) * M     (eq. 3)
///     dV = M (1 - M) * (sum_c (X - U) * g  +  1 / (H W))
///
/// where g is the gradient arriving at `out` and the 1 / (H W) term is the gradient of the
/// preservation term mean(M) (eq. 5), folded in here so the whole objective's gradient reaches
/// V through one backward pass. Composed from tensor ops this was sigmoid, two products, a
/// subtraction, an addition, a reshape, a mean and the loss arithmetic — ten or more taped ops
/// per iteration, each with its own allocation and tape entry. On a small model at batch 1
/// that fixed cost made an iteration 1.6x a forward+backward pass (issue 9 allows 1.3x).
///
/// Buffers for M and X - U are allocated once and reused: iteration t's backward runs before
/// iteration t + 1's forward overwrites them (one iteration = one forward, one backward).
final class MaskedBlend: @unchecked Sendable {
    let images: Tensor
    let (n, c, hw): (Int, Int, Int)
    /// sigmoid(V) of the last `apply`, [N·H·W].
    private(set) var mask: [Float]
    /// X - U of the last `apply`, [N·C·H·W].
    private var diff: [Float]
    /// mean(M) per image of the last `apply` (the preservation term).
    private(set) var keep: [Double]

    init(images: Tensor) {
        self.images = images
        (n, c, hw) = (images.shape[0], images.shape[1], images.shape[2] * images.shape[3])
        mask = [Float](repeating: 0, count: n * hw)
        diff = [Float](repeating: 0, count: n * c * hw)
        keep = [Double](repeating: 0, count: n)
    }

    /// The blended input for mask logits `v` [N, 1, H, W] and noise `noise` [N, C, H, W].
    func apply(_ v: Tensor, noise: Tensor) -> Tensor {
        // Both come from this explainer's own loop, shaped from the images it was built with.
        precondition(v.shape == [n, 1, images.shape[2], images.shape[3]] && noise.shape == images.shape)
        let (n, c, hw) = (self.n, self.c, self.hw)
        return Tensor.customGradient(inputs: [v], op: "noise_mask_blend", forward: { inputs in
            Tensor(shape: self.images.shape) { out in
                inputs[0].withUnsafeBufferPointer { vb in
                    self.images.withUnsafeBufferPointer { xb in
                        noise.withUnsafeBufferPointer { ub in
                            self.mask.withUnsafeMutableBufferPointer { mb in
                                self.diff.withUnsafeMutableBufferPointer { db in
                                    for i in 0..<n {
                                        var sum = 0.0
                                        for p in (i * hw)..<((i + 1) * hw) {
                                            let m = 1 / (1 + Foundation.exp(-vb[p]))
                                            mb[p] = m
                                            sum += Double(m)
                                        }
                                        self.keep[i] = sum / Double(hw)
                                        for ch in 0..<c {
                                            let base = (i * c + ch) * hw, mbase = i * hw
                                            for p in 0..<hw {
                                                let d = xb[base + p] - ub[base + p]
                                                db[base + p] = d
                                                out[base + p] = ub[base + p] + d * mb[mbase + p]
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }, backward: { g in
            let dv = Tensor(shape: v.shape) { dvb in
                g.withUnsafeBufferPointer { gb in
                    self.mask.withUnsafeBufferPointer { mb in
                        self.diff.withUnsafeBufferPointer { db in
                            let keepGrad = 1 / Float(hw)
                            for i in 0..<n {
                                let mbase = i * hw
                                for p in 0..<hw { dvb[mbase + p] = keepGrad }
                                for ch in 0..<c {
                                    let base = (i * c + ch) * hw
                                    for p in 0..<hw { dvb[mbase + p] += db[base + p] * gb[base + p] }
                                }
                                for p in mbase..<(mbase + hw) { let m = mb[p]; dvb[p] *= m * (1 - m) }
                            }
                        }
                    }
                }
            }
            return [dv]
        })
    }
}
