import Runtime

/// Random training-time transformations of a batch.
public struct Augmentation: Sendable {
    /// Mirror each image left-right with probability 1/2.
    public var flipHorizontal: Bool
    /// Translate each image by up to this many pixels per axis (vacated pixels are zero).
    public var maxShift: Int
    public init(flipHorizontal: Bool = false, maxShift: Int = 0) {
        self.flipHorizontal = flipHorizontal; self.maxShift = maxShift
    }
    public static let none = Augmentation()
    var isNone: Bool { !flipHorizontal && maxShift == 0 }
}

extension Augmentation {
    /// Flips and shifts each image of a batch [N, C, H, W] independently, drawing from `rng`
    /// (inside the training loop: `step.rng`, so checkpoints cover it).
    public func apply(_ x: Tensor, rng: inout RandomGenerator) throws -> Tensor {
        guard !isNone else { return x }
        guard x.rank == 4 else { throw PluginError.invalid("augmentation needs image batches [N, C, H, W], got \(x.shape)") }
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var plans: [(flip: Bool, dy: Int, dx: Int)] = []
        for _ in 0..<n {
            let flip = flipHorizontal && rng.nextUniform() < 0.5
            let k = maxShift
            let dy = k > 0 ? Int(rng.next() % UInt64(2 * k + 1)) - k : 0
            let dx = k > 0 ? Int(rng.next() % UInt64(2 * k + 1)) - k : 0
            plans.append((flip, dy, dx))
        }
        return Tensor(shape: x.shape) { dst in
            x.withUnsafeBufferPointer { src in
                for i in 0..<n {
                    let p = plans[i]
                    for ch in 0..<c {
                        let base = (i * c + ch) * h * w
                        for y in 0..<h {
                            let sy = y - p.dy
                            for xx in 0..<w {
                                let sxShifted = xx - p.dx
                                let sx = p.flip ? w - 1 - sxShifted : sxShifted
                                dst[base + y * w + xx] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[base + sy * w + sx] : 0
                            }
                        }
                    }
                }
            }
        }
    }
}
