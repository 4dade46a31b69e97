import Foundation
import Runtime

/// The engine behind deletion, insertion, MoRF, LeRF and ABPC: start from one image, copy
/// pixels (all channels) from a second image in a given order, `perStep` pixels per step, and
/// score the model's target class after every step.
///
/// The (image, step) states are cut into batches of `batchSize` in image-major order, so the
/// model sees full batches no matter how the steps fall across images. Batches are
/// independent: they run concurrently (`Threads.forEachItem`), each built into its own
/// buffer; within a batch each state is the previous one plus the step's pixels when both
/// belong to the same image (O(C·H·W) per state, no per-step allocation). Cancellation is
/// checked before each batch.
struct PerturbationCurve {
    let model: Graph
    let metric: String
    let batchSize: Int
    let probability: Bool
    let cancellation: CancellationToken

    /// Scores [N][steps + 1]: element s is the score after s steps (s = 0: the start image).
    /// `start` and `source` are [N, C, H, W]; `orders[i]` lists pixel indices of image i.
    func scores(start: Tensor, source: Tensor, orders: [[Int]], perStep: Int, steps: Int, targets: [Int]) throws -> [[Double]] {
        let (n, c, h, w) = (start.shape[0], start.shape[1], start.shape[2], start.shape[3])
        precondition(source.shape == start.shape && orders.count == n && perStep > 0)
        let hw = h * w, chw = c * hw, perImage = steps + 1
        let b = Swift.max(1, batchSize)
        let batches = chunks(n * perImage, b)
        var flat = [Double](repeating: .nan, count: n * perImage)
        try start.withUnsafeBufferPointer { st in
            try source.withUnsafeBufferPointer { src in
                try flat.withUnsafeMutableBufferPointer { outBuffer in
                    nonisolated(unsafe) let out = outBuffer
                    try Threads.forEachItem(batches.count, elementsPerItem: b * chw) { bi in
                        try cancellation.check()
                        let r = batches[bi]
                        let x = Tensor(shape: [r.count, c, h, w]) { buf in
                            for (j, slot) in r.enumerated() {
                                let (i, step) = (slot / perImage, slot % perImage)
                                let dst = buf.baseAddress! + j * chw
                                let order = orders[i]
                                // Pixels already copied in the state this one is built from.
                                let done: Int
                                if j > 0 && step > 0 {
                                    dst.update(from: dst - chw, count: chw)
                                    done = Swift.min((step - 1) * perStep, order.count)
                                } else {
                                    dst.update(from: st.baseAddress! + i * chw, count: chw)
                                    done = 0
                                }
                                let base = i * chw
                                for p in order[done..<Swift.min(step * perStep, order.count)] {
                                    for ch in 0..<c { dst[ch * hw + p] = src[base + ch * hw + p] }
                                }
                            }
                        }
                        let logits = try Autograd.noGrad { try model(x) }
                        let s = try MetricSupport.targetScores(logits, targets: ArraySlice(r.map { targets[$0 / perImage] }),
                                                               probability: probability, metric: metric)
                        for (k, slot) in r.enumerated() { out[slot] = s[k] }
                    }
                }
            }
        }
        return (0..<n).map { Array(flat[($0 * perImage)..<(($0 + 1) * perImage)]) }
    }
}

/// Pixel counts of the steps: x_s = min(s · perStep, H·W) / (H·W) for s = 0...steps.
func perturbationFractions(perStep: Int, steps: Int, pixels: Int) -> [Double] {
    (0...steps).map { Double(Swift.min($0 * perStep, pixels)) / Double(pixels) }
}
