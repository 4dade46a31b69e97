import Foundation
import Runtime

/// RISE (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for Explanation of
/// Black-box Models"): the saliency of pixel x is the expected score of randomly masked
/// copies of the image given that x is kept, estimated as sum_i score(I * M_i) M_i(x) / (N p).
///
/// Masks as in the paper (sec. 3.2) and the authors' code: an s x s grid of Bernoulli(p)
/// cells, upsampled bilinearly to (s + 1) * cell with cell = ceil(H / s) (per axis), then
/// cropped to H x W at a random shift in [0, cell) per axis. Our bilinear resize uses
/// PyTorch's half-pixel convention with edge clamping (the authors use skimage's `resize`,
/// which differs only in the outermost half cell). The same masks serve every image of the
/// batch, like the authors' batched explainer.
///
/// The score is the context's (`logit` by default); the paper uses class probabilities, so
/// pass `score: prob` to reproduce it exactly. Masks are drawn from the seeded generator
/// chunk by chunk and never all held in memory (4000 masks at 224 would be 800 MB).
public struct RISEExplainer: Explainer {
    public init() {}
    public var name: String { "rise" }
    public var summary: String { "score-weighted average of random upsampled binary masks (black box)" }
    public var reference: String { "Petsiuk, Das, Saenko, RISE: Randomized Input Sampling for Explanation of Black-box Models, BMVC 2018" }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("masks", .int, default: .int(4000), range: 1...1_000_000, doc: "number of random masks N (the paper: 4000 for ResNet-50 at 224)"),
            ParamSpec("grid", .int, default: .int(7), range: 1...1024, doc: "grid size s of the low-resolution masks"),
            ParamSpec("p", .float, default: .float(0.5), range: 0.001...1, doc: "probability that a grid cell is kept"),
            batchSizeSpec(default: 32),
        ]
    }
    public var capabilities: Capabilities { [.batched, .stochastic] }

    /// `count` masks [count, H * W] drawn from `rng` (grid values first, then the shifts).
    static func masks(count: Int, grid s: Int, p: Float, h: Int, w: Int, rng: inout RandomGenerator) -> Tensor {
        let (cellH, cellW) = ((h + s - 1) / s, (w + s - 1) / s)
        let (upH, upW) = ((s + 1) * cellH, (s + 1) * cellW)
        let g = Tensor.bernoulli([count, 1, s, s], p: p, rng: &rng)
        let up = Autograd.noGrad { g.upsampleBilinear(size: [upH, upW], alignCorners: false) }
        let shifts = (0..<count).map { _ in (Int(rng.next() % UInt64(cellH)), Int(rng.next() % UInt64(cellW))) }
        return Tensor(shape: [count, h * w]) { out in
            up.withUnsafeBufferPointer { u in
                for k in 0..<count {
                    let (dy, dx) = shifts[k]
                    for y in 0..<h {
                        let src = u.baseAddress! + k * upH * upW + (y + dy) * upW + dx
                        (out.baseAddress! + k * h * w + y * w).update(from: src, count: w)
                    }
                }
            }
        }
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let x = ctx.images
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let total = try ctx.params.int("masks"), s = try ctx.params.int("grid"), p = Float(try ctx.params.float("p"))
        let batchSize = try ctx.params.int("batch_size")
        let perChunk = Swift.max(1, batchSize / n)
        let plane = h * w, per = c * plane
        var saliency = Tensor.zeros([n, plane])
        let maskChunks = chunks(total, perChunk)
        let c0 = ctx
        // Masks are drawn chunk by chunk on this thread, in order (the same masks at any thread
        // count); the chunks' forward passes run concurrently; the weighted masks are summed
        // in chunk order.
        try Threads.rounds(maskChunks.count, elementsPerItem: perChunk * n * per, prepare: { ci -> Tensor in
            try ctx.cancellation.check()
            return Self.masks(count: maskChunks[ci].count, grid: s, p: p, h: h, w: w, rng: &ctx.rng)
        }, compute: { ci, m -> (masks: Tensor, scores: [Float]) in
            let count = maskChunks[ci].count
            // Masked copies, mask-major: item j * n + i = image i under mask j.
            let masked = Tensor(shape: [count * n, c, h, w]) { b in
                m.withUnsafeBufferPointer { mp in
                    x.withUnsafeBufferPointer { xp in
                        for j in 0..<count {
                            for i in 0..<n {
                                let dst = b.baseAddress! + (j * n + i) * per, mask = mp.baseAddress! + j * plane
                                for ch in 0..<c {
                                    let src = xp.baseAddress! + i * per + ch * plane, d = dst + ch * plane
                                    for e in 0..<plane { d[e] = src[e] * mask[e] }
                                }
                            }
                        }
                    }
                }
            }
            var scores: [Float] = []
            for r in chunks(count * n, batchSize) {
                scores += try scoresNoGrad(c0, masked.slice(axis: 0, r), targets: chunkTargets(r, c0.targets))
            }
            return (m, scores)
        }, finish: { ci, r in
            try c0.cancellation.check()
            let count = maskChunks[ci].count
            // saliency[i, :] += sum_j score[j, i] * mask[j, :]
            var st = [Float](repeating: 0, count: n * count)
            for j in 0..<count { for i in 0..<n { st[i * count + j] = r.scores[j * n + i] } }
            saliency = Autograd.noGrad { saliency + Tensor(shape: [n, count], data: st).matmul(r.masks) }
            c0.progress?(ci + 1, maskChunks.count)
        })
        let map = Autograd.noGrad { saliency * (1 / (Float(total) * p)) }.reshaped([n, 1, h, w])
        return Explanation(map: map)
    }
}
