import Foundation
import Plugins
import Runtime

/// What `save` writes for maps beyond a picture: one overlay PNG per image (pytorch-grad-cam's
/// `show_cam_on_image`, Captum's `visualize_image_attr` options) and the raw maps of a
/// comparison or a record of maps as numpy arrays.
extension Builtins {
    /// How the sign of a map is shown (Captum's `sign`): every value about zero on a
    /// diverging scale, only the positive or only the negative part, or magnitudes.
    enum MapSign: String, CaseIterable {
        case all, positive, negative, absolute_value

        func apply(_ m: Tensor) -> Tensor {
            switch self {
            case .all: return m
            case .positive: return m.clamped(min: 0)
            case .negative: return (-m).clamped(min: 0)
            case .absolute_value: return m.abs()
            }
        }
    }

    /// The named maps a comparison or a record of maps holds, in order.
    static func namedMaps(_ v: Value) -> [(name: String, map: MapValue)]? {
        switch v {
        case let .comparison(c): return namedMaps(.record(c.mapRecord))
        case let .saliency(m): return [(m.map.method, m)]
        case let .record(r) where !r.keys.isEmpty:
            let maps = r.pairs.compactMap { k, v -> (String, MapValue)? in if case let .saliency(m) = v { return (k, m) }; return nil }
            return maps.count == r.keys.count ? maps : nil
        default: return nil
        }
    }

    /// Raw maps as .npy: one map as [N, 1, H, W]; several (a comparison, a record of maps)
    /// stacked as [maps, N, 1, H, W] in the order of `c.methods` (`keys(maps)`); .npz keeps
    /// each under its name.
    static func saveMaps(_ v: Value, path: String, npz: Bool) throws -> Bool {
        guard let maps = namedMaps(v) else { return false }
        if npz {
            try writeNPZ(maps.map { ($0.name, $0.map.map.map) }, path: path)
            return true
        }
        let shapes = Set(maps.map { $0.map.map.map.shape })
        guard shapes.count == 1 else {
            throw LangError.message("the maps have different shapes (\(shapes.map(formatShape).sorted().joined(separator: ", "))), so they do not stack into one .npy; save as .npz (one array per method)")
        }
        try writeNPY(maps.count == 1 ? maps[0].map.map.map : Tensor.stack(maps.map { $0.map.map.map }), path: path)
        return true
    }

    /// `save(map, "gc.png", over: images, cmap:, alpha:, sign:)`: one overlay PNG per image,
    /// `gc-0.png`, `gc-1.png`, ... (just `gc.png` for one image). Returns the paths written.
    static func saveOverlays(_ v: Value, path: String, over: Value, a: CallArguments) throws -> [String] {
        guard case let .saliency(m) = v else {
            throw LangError.arguments("over: overlays a saliency map on its images; got \(v.typeName) (save a comparison's maps one at a time: c.maps[\"gradcam\"])")
        }
        let base = try batch(over, what: "over").images
        let (n, h, w) = (m.map.count, m.map.map.shape[2], m.map.map.shape[3])
        guard [1, 3].contains(base.shape[1]), base.shape[2] == h, base.shape[3] == w, base.shape[0] == n || base.shape[0] == 1 else {
            throw LangError.arguments("'over' must be \(n) gray or RGB image(s) of the map's size \(h)x\(w), got \(formatShape(base.shape))")
        }
        let sign = try a["sign"].map { s -> MapSign in
            guard case let .string(name) = s, let sign = MapSign(rawValue: name) else {
                throw LangError.arguments("sign must be one of \(MapSign.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), got \(s.summary)")
            }
            return sign
        }
        let cmap = try a["cmap"].map { c -> Colormap in
            guard case let .string(name) = c, let cmap = Colormap(rawValue: name) else {
                throw LangError.arguments("cmap must be one of \(Colormap.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), got \(c.summary)")
            }
            return cmap
        } ?? (sign == .all ? .diverging : .jet)
        let alpha = a["alpha"] == nil ? 0.5 : try a.number("alpha")
        guard alpha >= 0 && alpha <= 1 else { throw LangError.arguments("alpha must be in 0...1, got \(formatNumber(alpha))") }
        let stem = (path as NSString).deletingPathExtension
        let digits = String(max(n - 1, 0)).count
        var written: [String] = []
        for k in 0..<n {
            let plane = (sign ?? .all).apply(m.map.map.slice(axis: 0, k..<(k + 1)))
            let image = displayable(base.slice(axis: 0, (k % base.shape[0])..<(k % base.shape[0] + 1)))
            let pic = overlay(image, map: plane, colormap: cmap, alpha: Float(alpha), signed: sign == .all)
            let index = String(k)
            let file = n == 1 ? path : "\(stem)-\(String(repeating: "0", count: digits - index.count) + index).png"
            try writePNG(pic, path: file)
            written.append(file)
        }
        return written
    }

    /// Scored comparisons as two CSV tables pandas and numpy read as they are: the per-image
    /// values, and the aggregates (n, mean, std, 95% CI) per model x method x metric. nil
    /// when `v` is not scored comparisons.
    static func scoreTables(_ v: Value) -> (perImage: Table, summary: Table)? {
        let items: [Value]
        if case let .list(l) = v { items = l } else { items = [v] }
        let scores = items.compactMap { item -> ComparisonScores? in if case let .comparison(c) = item { return c.scores }; return nil }
        guard !scores.isEmpty, scores.count == items.count else { return nil }
        let perImage = scores.map { Table(perImageScores: $0) }, summary = scores.map { Table(aggregatesOf: $0) }
        return (Table(columns: perImage[0].columns, rows: perImage.flatMap(\.rows)), Table(columns: summary[0].columns, rows: summary.flatMap(\.rows)))
    }

    /// Where the aggregates of `scores.csv` go: `scores-summary.csv`.
    static func summaryPath(_ path: String) -> String {
        (path as NSString).deletingPathExtension + "-summary.csv"
    }
}
