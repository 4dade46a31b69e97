import Foundation
import Runtime

/// `shapes-loc`: one textured object on a cluttered background, with its mask and bounding
/// box, for weakly supervised localisation (CHIP's box protocol) and the pointing game.
///
/// Choices (no paper prescribes this set):
/// - 8 classes, each a distinct shape AND a texture in the object's own frame (so both cues
///   rotate with it): disk/solid, square/checker, triangle/stripes, star/solid,
///   cross/checker, ring/stripes, hexagon/dots, heart/dots. Textures alternate the object
///   colour with a 55 % darker tone.
/// - Object: circumradius uniform in [0.14, 0.30] x size, rotation uniform, centre uniform
///   with the object inside the image; a saturated colour of random hue whose value differs
///   from the background by at least 0.35.
/// - Clutter: 8-14 soft blobs and 3-6 thin lines in colours within ±0.12 of the background
///   (low contrast), drawn before the object, so the object is never occluded.
/// - Size 64 by default: large enough for 8 distinguishable shapes after rotation, small
///   enough that a small ResNet trains in minutes on 2 cores.
/// - Box = tight box of the mask, [x0, y0, x1, y1] with x1, y1 exclusive.
/// - Labels cycle with the index (balanced prefixes); all else from (seed, split, index).
/// - 4x4 supersampling per pixel.
public struct ShapesLocDataset: Dataset {
    public static let shapeNames = ["disk", "square", "triangle", "star", "cross", "ring", "hexagon", "heart"]
    public let split: String
    public let size: Int
    public let count: Int
    public let seed: UInt64

    public init(split: String = "train", size: Int = 64, count: Int? = nil, seed: UInt64 = 0) throws {
        try checkSplit(split, dataset: "shapes-loc")
        guard size >= 16 else { throw PluginError.invalid("shapes-loc: size \(size) is too small (at least 16)") }
        self.split = split; self.size = size; self.count = count ?? (split == "train" ? 4000 : 800); self.seed = seed
    }

    public var name: String { "shapes-loc" }
    public var classNames: [String] { Self.shapeNames }

    /// Inside test in the object's frame, unit circumradius.
    static func inside(_ shape: Int, _ u: Double, _ v: Double) -> Bool {
        switch shape {
        case 0: return u * u + v * v <= 1
        case 1: return Swift.max(Swift.abs(u), Swift.abs(v)) <= 0.75
        case 2: return halfPlanes(u, v, sides: 3, apothem: 0.55, offset: -Double.pi / 2)
        case 3: return star(u, v)
        case 4: return (Swift.abs(u) <= 0.3 && Swift.abs(v) <= 0.95) || (Swift.abs(v) <= 0.3 && Swift.abs(u) <= 0.95)
        case 5: let r2 = u * u + v * v; return r2 <= 1 && r2 >= 0.36
        case 6: return halfPlanes(u, v, sides: 6, apothem: 0.85, offset: 0)
        default:
            // (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, scaled to fit the unit circle, point up.
            let x = u * 1.25, y = -v * 1.25 + 0.15
            let q = x * x + y * y - 1
            return q * q * q - x * x * y * y * y <= 0
        }
    }

    /// Regular polygon as intersection of half-planes with outward normals at
    /// offset + π/sides + k 2π/sides.
    static func halfPlanes(_ u: Double, _ v: Double, sides: Int, apothem: Double, offset: Double) -> Bool {
        for k in 0..<sides {
            let a = offset + Double.pi / Double(sides) + Double(k) * 2 * Double.pi / Double(sides)
            if u * Foundation.cos(a) + v * Foundation.sin(a) > apothem { return false }
        }
        return true
    }

    /// Five-pointed star (outer radius 1, inner 0.42) by the even-odd crossing test.
    static let starVertices: [(Double, Double)] = (0..<10).map { k in
        let r = k % 2 == 0 ? 1.0 : 0.42, a = -Double.pi / 2 + Double(k) * Double.pi / 5
        return (r * Foundation.cos(a), r * Foundation.sin(a))
    }
    static func star(_ u: Double, _ v: Double) -> Bool {
        var inside = false
        var j = starVertices.count - 1
        for i in 0..<starVertices.count {
            let (xi, yi) = starVertices[i], (xj, yj) = starVertices[j]
            if (yi > v) != (yj > v) && u < (xj - xi) * (v - yi) / (yj - yi) + xi { inside.toggle() }
            j = i
        }
        return inside
    }

    /// Texture in the object frame: 1 = full colour, 0 = darker tone.
    static func texture(_ shape: Int, _ u: Double, _ v: Double) -> Bool {
        switch shape {
        case 1, 4: return (Int(Foundation.floor(u * 3.5 + 10)) + Int(Foundation.floor(v * 3.5 + 10))) % 2 == 0
        case 2, 5: return Int(Foundation.floor(u * 4 + 10)) % 2 == 0
        case 6, 7:
            let fu = u * 3.5 - Foundation.floor(u * 3.5) - 0.5, fv = v * 3.5 - Foundation.floor(v * 3.5) - 0.5
            return fu * fu + fv * fv > 0.09
        default: return true
        }
    }

    public func example(_ index: Int) throws -> Example {
        try checkIndex(index, count: count, dataset: name)
        let label = index % 8
        var rng = exampleRNG(seed: seed, split: split == "train" ? 3 : 4, index: index)
        let s = Double(size)
        let bgValue = rng.uniform(0.15, 0.85)
        let bg = hsvToRGB(rng.uniform(0, 1), rng.uniform(0, 0.4), bgValue)
        var canvas = Canvas(size: size, background: bg)

        // Low-contrast clutter.
        func near(_ rng: inout RandomGenerator) -> (Float, Float, Float) {
            (bg.0 + Float(rng.uniform(-0.12, 0.12)), bg.1 + Float(rng.uniform(-0.12, 0.12)), bg.2 + Float(rng.uniform(-0.12, 0.12)))
        }
        for _ in 0..<rng.int(8..<15) {
            let bx = rng.uniform(0, s), by = rng.uniform(0, s), ra = rng.uniform(0.03, 0.15) * s, rb = rng.uniform(0.03, 0.15) * s
            let ang = rng.uniform(0, Double.pi), (c, sn) = (Foundation.cos(ang), Foundation.sin(ang))
            let colour = near(&rng), r = Swift.max(ra, rb)
            canvas.paint(box: (bx - r, by - r, bx + r, by + r), inside: { x, y in
                let dx = x - bx, dy = y - by, u = dx * c + dy * sn, v = -dx * sn + dy * c
                return (u * u) / (ra * ra) + (v * v) / (rb * rb) <= 1
            }, colour: { _, _ in colour })
        }
        for _ in 0..<rng.int(3..<7) {
            let x0 = rng.uniform(0, s), y0 = rng.uniform(0, s), x1 = rng.uniform(0, s), y1 = rng.uniform(0, s)
            let half = rng.uniform(0.4, 1.0), colour = near(&rng)
            let dx = x1 - x0, dy = y1 - y0, len2 = Swift.max(dx * dx + dy * dy, 1e-9)
            canvas.paint(box: (Swift.min(x0, x1) - 1, Swift.min(y0, y1) - 1, Swift.max(x0, x1) + 1, Swift.max(y0, y1) + 1), inside: { x, y in
                let t = Swift.min(1, Swift.max(0, ((x - x0) * dx + (y - y0) * dy) / len2))
                let ex = x - x0 - t * dx, ey = y - y0 - t * dy
                return ex * ex + ey * ey <= half * half
            }, colour: { _, _ in colour })
        }

        // The object.
        let radius = rng.uniform(0.14, 0.30) * s
        let cx = rng.uniform(radius + 1, s - radius - 1), cy = rng.uniform(radius + 1, s - radius - 1)
        let rot = rng.uniform(0, 2 * Double.pi), (c, sn) = (Foundation.cos(rot), Foundation.sin(rot))
        let value = bgValue > 0.5 ? rng.uniform(0.1, bgValue - 0.35) : rng.uniform(bgValue + 0.35, 1.0)
        let colour = hsvToRGB(rng.uniform(0, 1), rng.uniform(0.5, 1), Swift.max(0.05, value))
        let dark = (colour.0 * 0.45, colour.1 * 0.45, colour.2 * 0.45)
        func local(_ x: Double, _ y: Double) -> (Double, Double) {
            let dx = (x - cx) / radius, dy = (y - cy) / radius
            return (dx * c + dy * sn, -dx * sn + dy * c)
        }
        let painted = canvas.paint(box: (cx - radius, cy - radius, cx + radius, cy + radius), inside: { x, y in
            let (u, v) = local(x, y); return Self.inside(label, u, v)
        }, colour: { x, y in
            let (u, v) = local(x, y); return Self.texture(label, u, v) ? colour : dark
        })
        var visible = [Float](repeating: 0, count: size * size)
        for (p, a) in painted { visible[p] = a }
        guard let box = boundingBox(size: size, weights: visible) else {
            throw PluginError.invalid("shapes-loc: example \(index) rendered an empty object (size \(size) too small?)")
        }
        return Example(image: canvas.tensor(), label: label, mask: maskTensor(size: size, weights: visible), box: box)
    }
}

/// `shapes-loc`: opens the localisation set.
public struct ShapesLocProvider: DatasetProvider {
    public init() {}
    public var name: String { "shapes-loc" }
    public var summary: String { "One textured shape of 8 classes on clutter, with its mask and box (localisation, pointing game)" }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("size", .int, default: .int(64), range: 16...512, doc: "image side in pixels"),
            ParamSpec("count", .int, range: 1...10_000_000, doc: "number of examples (default 4000 train, 800 test)"),
            ParamSpec("seed", .int, default: .int(0), range: 0...Double(Int32.max), doc: "generator seed; splits use disjoint streams"),
        ]
    }
    public func open(split: String, params given: Params) throws -> any Dataset {
        let params = try Params.resolve(given.values, schema: parameters, plugin: name)
        return try ShapesLocDataset(split: split, size: params.int("size"),
                                    count: params["count"] == nil ? nil : params.int("count"), seed: UInt64(params.int("seed")))
    }
}
