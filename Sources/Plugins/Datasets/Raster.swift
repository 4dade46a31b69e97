import Foundation
import Runtime

/// A small anti-aliased rasteriser for the synthetic datasets (an8flower, shapes-loc).
///
/// Shapes are given as inside tests in continuous image coordinates (pixel centres at
/// i + 0.5). Coverage of a pixel is estimated by supersampling a regular `ss` x `ss` grid
/// inside it, which is exact enough for smooth edges (16 levels with ss = 4) and works for
/// every shape, including ones without a closed-form distance (stars, hearts). Painting is
/// "over" compositing with the coverage as alpha, restricted to the shape's bounding box,
/// so cost is proportional to the shape's area, not the image's.
struct Canvas {
    let size: Int
    /// Planar RGB, [3, size, size].
    var rgb: [Float]
    /// Supersampling factor per axis.
    let ss: Int

    init(size: Int, background: (Float, Float, Float), ss: Int = 4) {
        self.size = size
        self.ss = ss
        let plane = size * size
        rgb = [Float](repeating: 0, count: 3 * plane)
        for p in 0..<plane { rgb[p] = background.0; rgb[plane + p] = background.1; rgb[2 * plane + p] = background.2 }
    }

    /// Pixel rectangle (clamped to the image) covering the continuous box.
    func pixelRange(minX: Double, minY: Double, maxX: Double, maxY: Double) -> (Range<Int>, Range<Int>)? {
        let x0 = Swift.max(0, Int(Foundation.floor(minX))), y0 = Swift.max(0, Int(Foundation.floor(minY)))
        let x1 = Swift.min(size, Int(Foundation.ceil(maxX)) + 1), y1 = Swift.min(size, Int(Foundation.ceil(maxY)) + 1)
        guard x0 < x1, y0 < y1 else { return nil }
        return (x0..<x1, y0..<y1)
    }

    /// Fractional coverage of pixel (x, y) by `inside`.
    @inline(__always)
    func coverage(x: Int, y: Int, _ inside: (Double, Double) -> Bool) -> Float {
        var hits = 0
        let step = 1.0 / Double(ss)
        for sy in 0..<ss {
            let py = Double(y) + (Double(sy) + 0.5) * step
            for sx in 0..<ss where inside(Double(x) + (Double(sx) + 0.5) * step, py) { hits += 1 }
        }
        return Float(hits) / Float(ss * ss)
    }

    /// Paints a shape with a per-sample colour function (textures) over the box. Returns the
    /// coverage it painted, as (pixel index, alpha) pairs, so callers can track visibility.
    @discardableResult
    mutating func paint(box: (Double, Double, Double, Double), inside: (Double, Double) -> Bool,
                        colour: (Double, Double) -> (Float, Float, Float)) -> [(Int, Float)] {
        guard let (xr, yr) = pixelRange(minX: box.0, minY: box.1, maxX: box.2, maxY: box.3) else { return [] }
        let plane = size * size
        var painted: [(Int, Float)] = []
        let step = 1.0 / Double(ss)
        let n = Float(ss * ss)
        for y in yr {
            for x in xr {
                // Average the colour over covered samples, so textures are anti-aliased too.
                var hits = 0
                var r: Float = 0, g: Float = 0, b: Float = 0
                for sy in 0..<ss {
                    let py = Double(y) + (Double(sy) + 0.5) * step
                    for sx in 0..<ss {
                        let px = Double(x) + (Double(sx) + 0.5) * step
                        guard inside(px, py) else { continue }
                        hits += 1
                        let c = colour(px, py)
                        r += c.0; g += c.1; b += c.2
                    }
                }
                guard hits > 0 else { continue }
                let a = Float(hits) / n
                let inv = 1 / Float(hits)
                let p = y * size + x
                rgb[p] = rgb[p] * (1 - a) + r * inv * a
                rgb[plane + p] = rgb[plane + p] * (1 - a) + g * inv * a
                rgb[2 * plane + p] = rgb[2 * plane + p] * (1 - a) + b * inv * a
                painted.append((p, a))
            }
        }
        return painted
    }

    /// The image as a [3, size, size] tensor, clamped to [0, 1].
    func tensor() -> Tensor {
        Tensor(shape: [3, size, size]) { out in
            for i in 0..<out.count { out[i] = Swift.min(1, Swift.max(0, rgb[i])) }
        }
    }
}

/// HSV (all in [0, 1]) to RGB.
func hsvToRGB(_ h: Double, _ s: Double, _ v: Double) -> (Float, Float, Float) {
    let hh = (h - Foundation.floor(h)) * 6
    let i = Int(hh) % 6, f = hh - Foundation.floor(hh)
    let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
    let (r, g, b): (Double, Double, Double)
    switch i {
    case 0: (r, g, b) = (v, t, p)
    case 1: (r, g, b) = (q, v, p)
    case 2: (r, g, b) = (p, v, t)
    case 3: (r, g, b) = (p, q, v)
    case 4: (r, g, b) = (t, p, v)
    default: (r, g, b) = (v, p, q)
    }
    return (Float(r), Float(g), Float(b))
}

/// A generator seeded from (dataset seed, split, index) by SplitMix64-style mixing, so every
/// example is reproducible on its own (random access, any order, any thread) and the
/// streams of different splits or indices do not overlap in any practical sense.
func exampleRNG(seed: UInt64, split: UInt64, index: Int) -> RandomGenerator {
    func mix(_ z0: UInt64) -> UInt64 {
        var z = z0 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    return RandomGenerator(seed: mix(mix(mix(seed) ^ split) ^ UInt64(truncatingIfNeeded: index)))
}

extension RandomGenerator {
    /// Uniform Double in [lo, hi).
    mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * Double(nextUniform()) }
    /// Uniform Int in range.
    mutating func int(_ r: Range<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.count)) }
}

/// Binary mask [1, size, size] from per-pixel visible weights (>= 0.5 counts as inside).
func maskTensor(size: Int, weights: [Float]) -> Tensor {
    Tensor(shape: [1, size, size]) { out in
        for i in 0..<out.count { out[i] = weights[i] >= 0.5 ? 1 : 0 }
    }
}

/// Tight box [x0, y0, x1, y1] of a mask's pixels, x1 and y1 exclusive (so width = x1 - x0),
/// or nil for an empty mask.
func boundingBox(size: Int, weights: [Float]) -> [Int]? {
    var x0 = size, y0 = size, x1 = -1, y1 = -1
    for y in 0..<size {
        for x in 0..<size where weights[y * size + x] >= 0.5 {
            x0 = Swift.min(x0, x); x1 = Swift.max(x1, x); y0 = Swift.min(y0, y); y1 = Swift.max(y1, y)
        }
    }
    return x1 < 0 ? nil : [x0, y0, x1 + 1, y1 + 1]
}

/// Shared check for a dataset's split name.
func checkSplit(_ split: String, dataset: String) throws {
    guard split == "train" || split == "test" else {
        throw PluginError.invalid("dataset '\(dataset)' has splits \"train\" and \"test\", got \"\(split)\""
            + (closestName(to: split, in: ["train", "test"]).map { "; did you mean \"\($0)\"?" } ?? ""))
    }
}

/// Shared index check.
func checkIndex(_ index: Int, count: Int, dataset: String) throws {
    guard index >= 0 && index < count else {
        throw PluginError.invalid("dataset '\(dataset)': index \(index) is outside 0..<\(count)")
    }
}
