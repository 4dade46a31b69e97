import Foundation
import Runtime

/// Occlusion (Zeiler & Fergus 2014, sec. 4.2): slide a square of a constant value over the
/// image and record how much the target score drops; each pixel gets the AVERAGE drop over
/// all windows that cover it (Captum's `Occlusion` with a (C, window, window) sliding window,
/// so all channels are occluded together).
///
/// Window placement follows Captum: ceil((H - window) / stride) + 1 positions per axis,
/// starting at multiples of the stride, the last one clipped at the border, so every pixel is
/// covered (when stride <= window; with a larger stride, pixels between windows get 0). Defaults, chosen where the paper gives none for general sizes: window = 8 pixels
/// at 224 scaled with the image (round(8 * min(H, W) / 224), at least 2; 2 at 28x28), stride =
/// the window (non-overlapping; pass a smaller stride for smoother maps at quadratic cost),
/// occluding value 0 (Captum's default baseline; in a normalised input space 0 is the mean).
///
/// Attribution [N, C, H, W]: the average drop, equal across channels. Map: that value
/// (signed: positive where occluding lowers the score). One forward pass per window and
/// image, `batch_size` occluded images per pass.
public struct OcclusionExplainer: Explainer {
    public init() {}
    public var name: String { "occlusion" }
    public var summary: String { "average drop of the target score when a sliding square is occluded" }
    public var reference: String { "Zeiler, Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014" }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("window", .int, range: 1...4096, doc: "side of the occluding square; default round(8 * min(H, W) / 224), at least 2"),
            ParamSpec("stride", .int, range: 1...4096, doc: "step between window positions; default = window"),
            ParamSpec("value", .float, default: .float(0), doc: "value written into the occluded square (all channels)"),
            batchSizeSpec(),
        ]
    }
    public var capabilities: Capabilities { [.batched] }

    /// The default window for an image of h x w: 8 at 224, proportional, at least 2.
    public static func defaultWindow(height h: Int, width w: Int) -> Int {
        Swift.max(2, Int((8 * Double(Swift.min(h, w)) / 224).rounded()))
    }

    /// Start positions along an axis of length n (Captum's shift counts, last one clipped).
    public static func starts(_ n: Int, window: Int, stride: Int) -> [Int] {
        let count = n <= window ? 1 : Int(ceil(Double(n - window) / Double(stride))) + 1
        // With stride > window the ceil can place a last start past the border; drop it
        // (pixels between windows then stay uncovered and get 0).
        return (0..<count).map { $0 * stride }.filter { $0 < n }
    }

    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        try ctx.cancellation.check()
        let x = ctx.images
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let window = try ctx.params["window"] == nil ? Self.defaultWindow(height: h, width: w) : ctx.params.int("window")
        let stride = try ctx.params["stride"] == nil ? window : ctx.params.int("stride")
        let value = try Float(ctx.params.float("value"))
        let ys = Self.starts(h, window: window, stride: stride), xs = Self.starts(w, window: window, stride: stride)
        let windows = ys.flatMap { y in xs.map { (y, $0) } }
        // The unoccluded scores: from the host's pass that found the targets, when it ran one.
        let base = try ctx.targetLogits.map { l in Autograd.noGrad { ctx.targetScores(l, targets: ctx.targets) } }
            ?? scoresNoGrad(ctx, x, targets: ctx.targets)
        var drop = [Float](repeating: 0, count: n * h * w), count = [Float](repeating: 0, count: n * h * w)
        let plane = h * w, per = c * plane
        let ranges = try chunks(windows.count * n, ctx.params.int("batch_size"))
        // Batches are independent: they run concurrently (each on one thread, see
        // `Threads.forEachItem`), every score into its own slot; the drops are then summed
        // in item order, as a serial loop would.
        var scores = [Float](repeating: 0, count: windows.count * n)
        let progress = ProgressCounter(total: ranges.count, report: ctx.progress)
        let c0 = ctx
        try scores.withUnsafeMutableBufferPointer { outBuffer in
            nonisolated(unsafe) let out = outBuffer
            try Threads.forEachItem(ranges.count, elementsPerItem: (ranges.first?.count ?? 0) * per) { ci in
                try c0.cancellation.check()
                let r = ranges[ci]
                let batch = x.withUnsafeBufferPointer { xp in
                    Tensor(shape: [r.count, c, h, w]) { b in
                        for (j, item) in r.enumerated() {
                            let (wi, i) = (item / n, item % n)
                            let (y0, x0) = windows[wi]
                            let dst = b.baseAddress! + j * per
                            dst.update(from: xp.baseAddress! + i * per, count: per)
                            for ch in 0..<c {
                                for yy in y0..<Swift.min(y0 + window, h) {
                                    for xx in x0..<Swift.min(x0 + window, w) { dst[ch * plane + yy * w + xx] = value }
                                }
                            }
                        }
                    }
                }
                let s = try scoresNoGrad(c0, batch, targets: chunkTargets(r, c0.targets))
                for (j, item) in r.enumerated() { out[item] = s[j] }
                progress.step()
            }
        }
        drop.withUnsafeMutableBufferPointer { dp in
            count.withUnsafeMutableBufferPointer { cp in
                for item in 0..<(windows.count * n) {
                    let (wi, i) = (item / n, item % n)
                    let (y0, x0) = windows[wi]
                    let d = base[i] - scores[item]
                    for yy in y0..<Swift.min(y0 + window, h) {
                        let row = i * plane + yy * w
                        for xx in x0..<Swift.min(x0 + window, w) { dp[row + xx] += d; cp[row + xx] += 1 }
                    }
                }
            }
        }
        let avg = zip(drop, count).map { $1 > 0 ? $0 / $1 : 0 }
        let map = Tensor(shape: [n, 1, h, w], data: avg)
        return Explanation(map: map, attribution: map.expanded(to: [n, c, h, w]).detached())
    }
}
