import Foundation
import Runtime

/// The engine behind deletion, insertion, MoRF, LeRF and ABPC: start from one image, copy
/// pixels (all channels) from a second image in a given order, `perStep` pixels per step, and
/// score the model's target class after every step.
///
/// Every (image, step) state is written into one reused batch buffer, so the model sees
/// batches of `batchSize` no matter how the steps fall across images; the state of an image
/// is updated incrementally (each step copies only its own pixels), so building a batch costs
/// O(batch · C·H·W) and no per-step allocation. Cancellation is checked between batches.
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
        let hw = h * w, chw = c * hw
        let b = Swift.max(1, batchSize)
        var buffer = [Float](repeating: 0, count: b * chw)
        var slots: [(image: Int, step: Int)] = []
        slots.reserveCapacity(b)
        var out = [[Double]](repeating: [Double](repeating: .nan, count: steps + 1), count: n)

        func flush() throws {
            guard !slots.isEmpty else { return }
            try cancellation.check()
            let x = Tensor(shape: [slots.count, c, h, w], data: slots.count == b ? buffer : Array(buffer[0..<(slots.count * chw)]))
            let logits = try Autograd.noGrad { try model(x) }
            let s = try MetricSupport.targetScores(logits, targets: ArraySlice(slots.map { targets[$0.image] }),
                                                   probability: probability, metric: metric)
            for (k, slot) in slots.enumerated() { out[slot.image][slot.step] = s[k] }
            slots.removeAll(keepingCapacity: true)
        }

        var state = [Float](repeating: 0, count: chw)
        try start.withUnsafeBufferPointer { st in
            try source.withUnsafeBufferPointer { src in
                for i in 0..<n {
                    let base = i * chw
                    for k in 0..<chw { state[k] = st[base + k] }
                    let order = orders[i]
                    for step in 0...steps {
                        if step > 0 {
                            let lo = Swift.min((step - 1) * perStep, order.count), hi = Swift.min(step * perStep, order.count)
                            for p in order[lo..<hi] {
                                for ch in 0..<c { state[ch * hw + p] = src[base + ch * hw + p] }
                            }
                        }
                        let slot = slots.count
                        buffer.withUnsafeMutableBufferPointer { dst in
                            state.withUnsafeBufferPointer { s in
                                _ = UnsafeMutableBufferPointer(rebasing: dst[(slot * chw)..<((slot + 1) * chw)]).update(fromContentsOf: s)
                            }
                        }
                        slots.append((i, step))
                        if slots.count == b { try flush() }
                    }
                }
            }
        }
        try flush()
        return out
    }
}

/// Pixel counts of the steps: x_s = min(s · perStep, H·W) / (H·W) for s = 0...steps.
func perturbationFractions(perStep: Int, steps: Int, pixels: Int) -> [Double] {
    (0...steps).map { Double(Swift.min($0 * perStep, pixels)) / Double(pixels) }
}
