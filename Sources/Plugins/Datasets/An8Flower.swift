import Foundation
import Runtime

/// an8Flower (VEbI, Oramas et al., §4.3): a synthetic flower whose discriminative feature is
/// controlled, so every image has a ground-truth mask of the region an explanation should
/// highlight.
///
/// The paper gives only the protocol: "an8Flower-single-6c and an8Flower-double-12c, with 6
/// and 12 classes. In the former, a fixed single part of the object is allowed to change
/// color. This color defines the classes. In the latter, a combination of color and the part
/// on which it is located defines the discriminative feature ... we generate masks that
/// overlap with the discriminative regions." Everything else is our choice, recorded here:
///
/// - Object: a centre disk (radius 0.30 R) and 8 elliptic petals (semi-axes 0.40 R x 0.17 R,
///   reaching radius R) at 45° steps, drawn petals first, centre on top.
/// - single-6c: the fixed part is the centre. Its colour is one of six saturated class hues
///   (red, yellow, green, cyan, blue, magenta; saturation and value >= 0.85, hue jitter
///   ±0.02), the label.
/// - double-12c: the class colour sits either on the centre or on one petal; label =
///   part * 6 + colour (0-5: centre, 6-11: petal). Under random rotation "which part" can
///   only be told by shape (disk vs elongated petal), so an explanation has to cover colour
///   and shape, as the paper wants.
/// - Nuisance: every other part gets its own low-saturation colour (saturation <= 0.25,
///   value 0.45-0.95), never a class colour, so the task is well posed; the background is
///   a dark low-saturation colour (value 0.08-0.35), plain or with low-contrast gratings
///   (`background`: mixed = half each).
/// - Pose: rotation uniform in [0, 2π), flower radius R uniform in [0.30, 0.44] x size,
///   centre uniform such that the flower stays inside the image.
/// - Mask: the visible part of the discriminative region (coverage after occlusion >= 0.5),
///   [1, H, W].
/// - Labels cycle with the index (index % classes), so every prefix is class-balanced; the
///   rest is drawn from a generator seeded by (seed, split, index). Train and test use
///   different split tags, hence disjoint random streams.
/// - Rendering: 4x4 supersampling per pixel (colours averaged over covered samples).
public struct An8FlowerDataset: Dataset {
    public enum Variant: String, Sendable, CaseIterable { case single6c = "single-6c", double12c = "double-12c" }

    public static let colourNames = ["red", "yellow", "green", "cyan", "blue", "magenta"]
    public let variant: Variant
    public let split: String
    public let size: Int
    public let count: Int
    public let seed: UInt64
    public let background: String

    public init(variant: Variant = .single6c, split: String = "train", size: Int = 112, count: Int? = nil,
                seed: UInt64 = 0, background: String = "mixed") throws {
        try checkSplit(split, dataset: "an8flower")
        guard size >= 16 else { throw PluginError.invalid("an8flower: size \(size) is too small (at least 16)") }
        guard ["mixed", "plain", "textured"].contains(background) else {
            throw PluginError.invalid("an8flower: background must be \"mixed\", \"plain\" or \"textured\", got \"\(background)\"")
        }
        self.variant = variant; self.split = split; self.size = size
        self.count = count ?? (split == "train" ? 2000 : 400)
        self.seed = seed; self.background = background
    }

    public var name: String { "an8flower-\(variant.rawValue)" }
    public var classNames: [String] {
        switch variant {
        case .single6c: return Self.colourNames
        case .double12c: return Self.colourNames.map { "centre-\($0)" } + Self.colourNames.map { "petal-\($0)" }
        }
    }

    public func example(_ index: Int) throws -> Example {
        try checkIndex(index, count: count, dataset: name)
        let classes = variant == .single6c ? 6 : 12
        let label = index % classes
        var rng = exampleRNG(seed: seed, split: split == "train" ? 1 : 2, index: index)
        let s = Double(size)

        // Background.
        let bg = hsvToRGB(rng.uniform(0, 1), rng.uniform(0, 0.25), rng.uniform(0.08, 0.35))
        var canvas = Canvas(size: size, background: bg)
        let textured = background == "textured" || (background == "mixed" && rng.nextUniform() < 0.5)
        if textured { addGratings(&canvas, rng: &rng) }

        // Pose.
        let radius = rng.uniform(0.30, 0.44) * s
        let cx = rng.uniform(radius + 1, s - radius - 1), cy = rng.uniform(radius + 1, s - radius - 1)
        let theta = rng.uniform(0, 2 * Double.pi)

        // Colours.
        let colourIndex = label % 6
        let classOnPetal = variant == .double12c && label >= 6
        let classColour = hsvToRGB(Double(colourIndex) / 6 + rng.uniform(-0.02, 0.02), rng.uniform(0.85, 1), rng.uniform(0.85, 1))
        func nuisance(_ rng: inout RandomGenerator) -> (Float, Float, Float) {
            hsvToRGB(rng.uniform(0, 1), rng.uniform(0, 0.25), rng.uniform(0.45, 0.95))
        }

        var visible = [Float](repeating: 0, count: size * size)
        func track(_ painted: [(Int, Float)], isClassPart: Bool) {
            for (p, a) in painted { visible[p] = isClassPart ? a + visible[p] * (1 - a) : visible[p] * (1 - a) }
        }

        let a = 0.40 * radius, b = 0.17 * radius, dist = radius - a
        for k in 0..<8 {
            let phi = theta + Double(k) * Double.pi / 4
            let (c, sn) = (Foundation.cos(phi), Foundation.sin(phi))
            let px = cx + dist * c, py = cy + dist * sn
            let colour = classOnPetal && k == 0 ? classColour : nuisance(&rng)
            let painted = canvas.paint(box: (px - a, py - a, px + a, py + a), inside: { x, y in
                let dx = x - px, dy = y - py
                let u = dx * c + dy * sn, v = -dx * sn + dy * c
                return (u * u) / (a * a) + (v * v) / (b * b) <= 1
            }, colour: { _, _ in colour })
            track(painted, isClassPart: classOnPetal && k == 0)
        }
        let rc = 0.30 * radius
        let centreColour = classOnPetal ? nuisance(&rng) : classColour
        let painted = canvas.paint(box: (cx - rc, cy - rc, cx + rc, cy + rc), inside: { x, y in
            (x - cx) * (x - cx) + (y - cy) * (y - cy) <= rc * rc
        }, colour: { _, _ in centreColour })
        track(painted, isClassPart: !classOnPetal)

        return Example(image: canvas.tensor(), label: label, mask: maskTensor(size: size, weights: visible),
                       box: boundingBox(size: size, weights: visible))
    }

    /// Two low-contrast sinusoidal gratings (amplitude <= 0.06 each) of random orientation
    /// and period: texture that is clearly background, never a class colour.
    private func addGratings(_ canvas: inout Canvas, rng: inout RandomGenerator) {
        let plane = size * size
        for _ in 0..<2 {
            let angle = rng.uniform(0, Double.pi), period = rng.uniform(4, Double(size) / 4)
            let amp = Float(rng.uniform(0.02, 0.06)), phase = rng.uniform(0, 2 * Double.pi)
            let (fx, fy) = (Foundation.cos(angle) * 2 * Double.pi / period, Foundation.sin(angle) * 2 * Double.pi / period)
            for y in 0..<size {
                for x in 0..<size {
                    let d = amp * Float(Foundation.sin(fx * (Double(x) + 0.5) + fy * (Double(y) + 0.5) + phase))
                    let p = y * size + x
                    canvas.rgb[p] += d; canvas.rgb[plane + p] += d; canvas.rgb[2 * plane + p] += d
                }
            }
        }
    }
}

/// `an8flower`: opens the generator with a variant, size, count and seed.
public struct An8FlowerProvider: DatasetProvider {
    public init() {}
    public var name: String { "an8flower" }
    public var summary: String {
        "Synthetic flowers whose class is the colour of a part (single-6c) or colour and part (double-12c), with ground-truth masks (VEbI §4.3)"
    }
    public var parameters: [ParamSpec] {
        [
            ParamSpec("variant", .choice(An8FlowerDataset.Variant.allCases.map(\.rawValue)), default: .string("single-6c"),
                      doc: "single-6c: the centre's colour is the class; double-12c: colour and part (centre or petal)"),
            ParamSpec("size", .int, default: .int(112), range: 16...512, doc: "image side in pixels"),
            ParamSpec("count", .int, range: 1...10_000_000, doc: "number of examples (default 2000 train, 400 test)"),
            ParamSpec("seed", .int, default: .int(0), range: 0...Double(Int32.max), doc: "generator seed; splits use disjoint streams"),
            ParamSpec("background", .choice(["mixed", "plain", "textured"]), default: .string("mixed"),
                      doc: "plain colour, low-contrast gratings, or half each"),
        ]
    }
    public func open(split: String, params given: Params) throws -> any Dataset {
        let params = try Params.resolve(given.values, schema: parameters, plugin: name)
        let variant = try An8FlowerDataset.Variant(rawValue: params.string("variant") ?? "single-6c") ?? .single6c
        return try An8FlowerDataset(variant: variant, split: split, size: params.int("size"),
                                    count: params["count"] == nil ? nil : params.int("count"),
                                    seed: UInt64(params.int("seed")), background: params.string("background") ?? "mixed")
    }
}
