import Foundation
import Runtime

/// Expected gradients (Erion, Janizek, Sturmfels, Lundberg & Lee 2021): integrated gradients
/// averaged over baselines drawn from the data instead of one hand-picked baseline,
///
///     EG(x) = E_{x' ~ D, alpha ~ U(0,1)} [ (x - x') * dF/dx (x' + alpha (x - x')) ],
///
/// estimated by Monte Carlo with `samples` (reference, alpha) draws per image. It is the
/// simplest method with a real fit phase: `fit` draws `references` images from the dataset
/// (uniformly, without replacement, seeded) and keeps them as the state, so the reference
/// distribution is fixed, cached, and shared by every later explain call.
///
/// Choices: the paper samples one reference and one alpha per draw (as SHAP's
/// GradientExplainer); we do the same, with 64 draws per image by default (the paper's
/// attribution experiments use more; `samples` trades noise for time). Completeness holds in
/// expectation: sum(EG) = F(x) - E_{x'}[F(x')]; the scalar `completeness_gap` compares the
/// attribution sum with F(x) minus the mean score of the references actually drawn, and
/// shrinks as `samples` grows. Map: channel sum of |attribution|, as for integrated gradients.
public struct ExpectedGradientsExplainer: Explainer {
    public init() {}
    public var name: String { "expected_gradients" }
    public var summary: String { "integrated gradients averaged over baselines drawn from the data (fit: draw references)" }
    public var reference: String {
        "Erion, Janizek, Sturmfels, Lundberg, Lee, Improving performance of deep learning models with axiomatic attribution priors and expected gradients, Nature Machine Intelligence 2021"
    }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("references", .int, default: .int(100), range: 1...100_000, phase: .fit,
                      doc: "dataset images kept as the reference distribution"),
            ParamSpec("samples", .int, default: .int(64), range: 1...100_000, doc: "(reference, alpha) draws per image"),
            batchSizeSpec(default: 32),
        ]
    }
    public var capabilities: Capabilities { [.needsGradients, .batched, .stochastic, .fits] }

    public func fit(_ ctx: FitContext) throws -> FitState {
        let n = ctx.dataset.count
        let k = Swift.min(try ctx.params.int("references"), n)
        // Partial Fisher-Yates: the first k of a seeded permutation.
        var rng = ctx.rng
        var order = Array(0..<n)
        for i in 0..<k {
            let j = i + Int(rng.next() % UInt64(n - i))
            order.swapAt(i, j)
        }
        var images: [Tensor] = []
        images.reserveCapacity(k)
        for (done, index) in order.prefix(k).enumerated() {
            try ctx.cancellation.check()
            images.append(try ctx.dataset.example(index).image)
            ctx.progress?(done + 1, k)
        }
        let shapes = Set(images.map(\.shape))
        guard shapes.count == 1 else {
            throw PluginError.invalid("'\(name)': the dataset's images have different shapes (\(shapes.map { "\($0)" }.sorted().joined(separator: ", "))); load it with size: to resize")
        }
        return FitState(method: name, tensors: ["references": Tensor.stack(images)],
                        notes: ["indices": order.prefix(k).map(String.init).joined(separator: ",")])
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        let refs = try ctx.fittedState().tensor("references")
        let x = ctx.images
        let (m, per) = (x.shape[0], x.count / x.shape[0])
        guard Array(refs.shape.dropFirst()) == Array(x.shape.dropFirst()) else {
            throw PluginError.invalid("'\(name)': the references are \(Array(refs.shape.dropFirst())) images but the input is \(Array(x.shape.dropFirst())); fit on data of the input's size")
        }
        let samples = try ctx.params.int("samples"), k = refs.shape[0]
        // Draws, copy-major (item = sample * m + image): a reference index and an alpha each.
        var refIndex = [Int](repeating: 0, count: samples * m), alpha = [Float](repeating: 0, count: samples * m)
        for i in 0..<(samples * m) {
            refIndex[i] = Int(ctx.rng.next() % UInt64(k))
            alpha[i] = ctx.rng.nextUniform()
        }
        var total = [Float](repeating: 0, count: x.count)
        let ranges = chunks(samples * m, try ctx.params.int("batch_size"))
        let c0 = ctx
        // Chunks run concurrently (`Threads.rounds`); their terms are summed in chunk order.
        try Threads.rounds(ranges.count, elementsPerItem: (ranges.first?.count ?? 0) * per, prepare: { _ in try c0.cancellation.check() }, compute: { ci, _ -> (g: Tensor, delta: Tensor) in
            let r = ranges[ci]
            let shape = [r.count] + Array(x.shape.dropFirst())
            // delta = x - x' per item, then the interpolated inputs x' + alpha * delta.
            let delta = x.withUnsafeBufferPointer { xp in
                refs.withUnsafeBufferPointer { rp in
                    Tensor(shape: shape) { out in
                        for (j, item) in r.enumerated() {
                            let (src, ref, dst) = (xp.baseAddress! + (item % m) * per, rp.baseAddress! + refIndex[item] * per, out.baseAddress! + j * per)
                            for e in 0..<per { dst[e] = src[e] - ref[e] }
                        }
                    }
                }
            }
            let batch = delta.withUnsafeBufferPointer { dp in
                refs.withUnsafeBufferPointer { rp in
                    Tensor(shape: shape) { out in
                        for (j, item) in r.enumerated() {
                            let (d, ref, dst, a) = (dp.baseAddress! + j * per, rp.baseAddress! + refIndex[item] * per, out.baseAddress! + j * per, alpha[item])
                            for e in 0..<per { dst[e] = ref[e] + a * d[e] }
                        }
                    }
                }
            }
            return (try inputGradient(c0, batch, targets: chunkTargets(r, c0.targets)).grad, delta)
        }, finish: { ci, t in
            try c0.cancellation.check()
            let r = ranges[ci]
            t.g.withUnsafeBufferPointer { gp in
                t.delta.withUnsafeBufferPointer { dp in
                    total.withUnsafeMutableBufferPointer { tp in
                        for (j, item) in r.enumerated() {
                            let (gs, ds, dst) = (gp.baseAddress! + j * per, dp.baseAddress! + j * per, tp.baseAddress! + (item % m) * per)
                            for e in 0..<per { dst[e] += gs[e] * ds[e] }
                        }
                    }
                }
            }
            c0.progress?(ci + 1, ranges.count)
        })
        let inv = 1 / Float(samples)
        let attribution = Tensor(shape: x.shape) { out in for i in 0..<out.count { out[i] = total[i] * inv } }
        // Completeness against the references drawn: F(x) - mean_j F(ref_j).
        let fx = try scoresNoGrad(ctx, x, targets: ctx.targets)
        // Score values (all classes) of the references actually drawn, in batched no-grad
        // passes (with one image and 64 samples most of the 100 references go unused).
        let used = Array(Set(refIndex)).sorted()
        var refValues = [Int: [Float]]()
        for r in chunks(used.count, try ctx.params.int("batch_size")) {
            let batch = Tensor.concat(r.map { refs.slice(axis: 0, used[$0]..<(used[$0] + 1)) }, axis: 0)
            let values = try Autograd.noGrad { ctx.scoreValues(try logitsChecked(ctx.model(batch), model: ctx.model)) }
            let classes = values.shape[1], flat = values.scalars
            for (j, item) in r.enumerated() { refValues[used[item]] = Array(flat[(j * classes)..<((j + 1) * classes)]) }
        }
        let sums = perImageSums(attribution)
        var gap: [Double] = []
        for i in 0..<m {
            var mean = 0.0
            let t = ctx.targets[i % ctx.targets.count]
            // unreachable from input: refValues holds every index in refIndex (`used` is their set).
            for s in 0..<samples { mean += Double(refValues[refIndex[s * m + i]]![t]) }
            mean /= Double(samples)
            gap.append(Swift.abs(sums[i] - (Double(fx[i]) - mean)))
        }
        return Explanation(map: channelSumAbs(attribution), attribution: attribution, scalars: ["completeness_gap": gap])
    }
}
