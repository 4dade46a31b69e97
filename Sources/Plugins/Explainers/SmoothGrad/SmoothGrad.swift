import Runtime

/// Shared by SmoothGrad and VarGrad: the mean and the variance of a gradient-based
/// attribution over noisy copies x + N(0, sigma^2), sigma = noise * (max(x) - min(x)) per
/// image (Smilkov et al. sec. 3: "noise level ... sigma / (x_max - x_min)"), as Captum's
/// `NoiseTunnel` with `nt_type` "smoothgrad" / "vargrad" (variance = E[a^2] - E[a]^2).
///
/// Noise is drawn from the context's seeded generator in a fixed order (copy-major, chunk by
/// chunk), so a seed reproduces every map. Copies are made `batch_size` at a time.
enum NoiseTunnel {
    static func parameters(defaultSamples: Int) -> [ParamSpec] {
        [
            ParamSpec("base", .choice(GradientBase.allCases.map(\.rawValue)), default: .string(GradientBase.gradient.rawValue),
                      doc: "the gradient-based attribution to average over noisy copies"),
            ParamSpec("samples", .int, default: .int(defaultSamples), range: 1...100_000, doc: "noisy copies per image (Captum's nt_samples)"),
            ParamSpec("noise", .float, default: .float(0.15), range: 0...10,
                      doc: "noise standard deviation as a fraction of each image's value range (max - min)"),
            ParamSpec("steps", .int, default: .int(16), range: 2...10_000,
                      doc: "integration steps when base = integrated_gradients (zero baseline, riemann_trapezoid)"),
            batchSizeSpec(),
        ]
    }

    static func run(_ ctx: inout ExplainContext, variance: Bool) throws -> Explanation {
        try ctx.cancellation.check()
        let base = try GradientBase(rawValue: ctx.params.string("base") ?? "") ?? .gradient
        let samples = try ctx.params.int("samples"), batchSize = try ctx.params.int("batch_size"), steps = try ctx.params.int("steps")
        let x = ctx.images
        let n = x.shape[0], per = x.count / Swift.max(n, 1)
        let noise = Float(try ctx.params.float("noise"))
        let sigmas = perImageRange(x).map { noise * ($0.max - $0.min) }
        var sum = [Double](repeating: 0, count: x.count), sumSq = [Double](repeating: 0, count: variance ? x.count : 0)
        let ranges = chunks(samples * n, batchSize)
        let c0 = ctx
        // Noise is drawn batch by batch on this thread, in order; the batches' attributions run
        // concurrently; the sums accumulate in batch order (`Threads.rounds`).
        try Threads.rounds(ranges.count, elementsPerItem: (ranges.first?.count ?? 0) * per, prepare: { ci -> Tensor in
            try ctx.cancellation.check()
            let r = ranges[ci]
            return x.withUnsafeBufferPointer { xp in
                Tensor(shape: [r.count] + Array(x.shape.dropFirst())) { b in
                    // The noise of the whole chunk in one call (its transcendentals run on every
                    // thread), then each copy's image added to its noise scaled by its sigma.
                    ctx.rng.fillNormal(b)
                    for (j, item) in r.enumerated() {
                        let i = item % n, s = sigmas[i]
                        let (src, dst) = (xp.baseAddress! + i * per, b.baseAddress! + j * per)
                        for e in 0..<per { dst[e] = src[e] + s * dst[e] }
                    }
                }
            }
        }, compute: { ci, noisy in
            try base.attribute(c0, noisy, targets: chunkTargets(ranges[ci], c0.targets), igSteps: steps, batchSize: batchSize)
        }, finish: { ci, a in
            try c0.cancellation.check()
            let r = ranges[ci]
            a.withUnsafeBufferPointer { ap in
                sum.withUnsafeMutableBufferPointer { sp in
                    sumSq.withUnsafeMutableBufferPointer { qp in
                        for (j, item) in r.enumerated() {
                            let i = item % n
                            let (src, s1) = (ap.baseAddress! + j * per, sp.baseAddress! + i * per)
                            for e in 0..<per { s1[e] += Double(src[e]) }
                            if variance {
                                let s2 = qp.baseAddress! + i * per
                                for e in 0..<per { let v = Double(src[e]); s2[e] += v * v }
                            }
                        }
                    }
                }
            }
            c0.progress?(ci + 1, ranges.count)
        })
        let k = Double(samples)
        let out: [Float] = variance
            ? (0..<x.count).map { e in let m = sum[e] / k; return Float(Swift.max(sumSq[e] / k - m * m, 0)) }
            : sum.map { Float($0 / k) }
        let a = Tensor(shape: x.shape, data: out)
        return Explanation(map: base.map(a), attribution: a)
    }
}

/// SmoothGrad (Smilkov et al. 2017): the mean of a gradient-based attribution over noisy
/// copies of the image (see `NoiseTunnel`). Map: the base method's own reduction of the mean
/// (channel max |.| for gradient and guided backprop, signed channel sum for input x
/// gradient, channel sum |.| for integrated gradients).
public struct SmoothGradExplainer: Explainer {
    public init() {}
    public var name: String { "smoothgrad" }
    public var summary: String { "mean of a gradient attribution over noisy copies of the input" }
    public var reference: String { "Smilkov, Thorat, Kim, Viegas, Wattenberg, SmoothGrad: removing noise by adding noise, ICML Workshop 2017" }
    public var parameters: [ParamSpec] { NoiseTunnel.parameters(defaultSamples: 50) }
    public var capabilities: Capabilities { [.needsGradients, .batched, .stochastic] }
    public func explain(_ ctx: inout ExplainContext) throws -> Explanation { try NoiseTunnel.run(&ctx, variance: false) }
}
