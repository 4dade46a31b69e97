import Foundation
import Plugins
import Runtime

/// A comparison in the language: maps of several methods (and models) on the same images,
/// and, once scored, the metric values. `compare(...)` makes one, `score(...)` adds metrics,
/// `save(...)` writes its table (.csv/.json/.md), montage (.png), maps (.npy) or report (.html).
public struct ComparisonValue: Sendable {
    public var name: String
    public var maps: ComparisonMaps
    public var scores: ComparisonScores?

    public var summary: String {
        let methods = Set(maps.entries.map(\.method)).count, models = Set(maps.entries.map(\.model)).count
        var s = "comparison \(name): \(methods) method(s) x \(models) model(s) x \(maps.images.shape[0]) image(s)"
        if let sc = scores { s += ", \(Set(sc.rows.map(\.metric)).count) metric(s) scored" }
        return s
    }

    /// Per-image rows and aggregates when scored; otherwise maps' timing per method.
    public var table: Table {
        if let sc = scores { return Table(scores: sc) }
        return Table(columns: ["model", "method", "maps", "ms/map"], rows: maps.entries.map {
            [.string($0.model), .string($0.method), .number(Double($0.saliency.count)), .number($0.saliency.secondsPerMap * 1000)]
        })
    }

    /// One row per model x method with the mean of each metric and ms per map.
    public var summaryTable: Table {
        if let sc = scores { return Table(summaryOf: sc) }
        return table
    }

    /// Mean of each per-image number the methods record (IG's completeness gap, Noise Mask's
    /// final terms), one row per entry; nil when no method records any.
    public var diagnosticsTable: Table? {
        let keys = Set(maps.entries.flatMap { $0.saliency.scalars.keys }).sorted()
        guard !keys.isEmpty else { return nil }
        let multiModel = Set(maps.entries.map(\.model)).count > 1
        return Table(columns: ["method"] + keys, rows: maps.entries.map { e in
            [.string(multiModel ? "\(e.model)/\(e.method)" : e.method)] + keys.map { k in
                e.saliency.scalars[k].map { v in .number(v.reduce(0, +) / Double(max(v.count, 1))) } ?? .none
            }
        })
    }

    /// Images (rows, at most `maxRows`) x [input, one overlay per model/method] as one RGB picture.
    public func montageImage(maxRows: Int = 8) -> Tensor {
        let n = min(maps.images.shape[0], maxRows)
        let h = maps.images.shape[2]
        let cell = montageCellSize(forImageSize: h)
        var rows: [[Tensor]] = []
        for i in 0..<n {
            let img = displayRGB(maps.images.select(axis: 0, i).reshaped(Array(maps.images.shape.dropFirst())))
            var row = [img]
            for e in maps.entries {
                let m = e.saliency.map.select(axis: 0, i).reshaped([1, h, maps.images.shape[3]])
                row.append(overlay(img, map: m, colormap: .jet, alpha: 0.55))
            }
            rows.append(row)
        }
        let multiModel = Set(maps.entries.map(\.model)).count > 1
        let columns = ["input"] + maps.entries.map { multiModel ? "\($0.model)/\($0.method)" : $0.method }
        let labels = (0..<n).map { i -> String in
            let t = maps.entries.first?.saliency.targetNames?[i] ?? maps.entries.first.map { String($0.saliency.targets[i]) } ?? ""
            return "#\(i) \(t)"
        }
        return montage(rows: rows, rowLabels: labels, columnLabels: columns, cellSize: cell)
    }

    /// Min-max scales an image [C, H, W] into [0, 1] for display (inputs may be normalised).
    func displayRGB(_ t: Tensor) -> Tensor {
        let lo = t.min().item, hi = t.max().item
        let scaled = hi > lo ? (t - lo) / (hi - lo) : t * 0
        return t.shape[0] == 1 ? Tensor.concat([scaled, scaled, scaled], axis: 0) : scaled
    }
}

