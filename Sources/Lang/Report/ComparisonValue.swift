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
    /// final terms), one row per entry, only the columns some method filled with a finite
    /// number; nil when no method records any.
    public var diagnosticsTable: Table? {
        func mean(_ e: ComparisonMaps.Entry, _ k: String) -> Double? {
            guard let v = e.saliency.scalars[k] else { return nil }
            let m = v.reduce(0, +) / Double(max(v.count, 1))
            return m.isFinite ? m : nil
        }
        let keys = Set(maps.entries.flatMap { $0.saliency.scalars.keys }).sorted().filter { k in maps.entries.contains { mean($0, k) != nil } }
        guard !keys.isEmpty else { return nil }
        let multiModel = Set(maps.entries.map(\.model)).count > 1
        return Table(columns: ["method"] + keys, rows: maps.entries.map { e in
            [.string(multiModel ? "\(e.model)/\(e.method)" : e.method)] + keys.map { k in mean(e, k).map(Value.number) ?? .none }
        })
    }

    /// The montage's columns: the input, then each model/method's map over it (jet), each as
    /// a label and the picture of image i.
    func montageColumns() -> [(label: String, cell: (Int) -> Tensor)] {
        let shape = Array(maps.images.shape.dropFirst())
        let (h, w) = (maps.images.shape[2], maps.images.shape[3])
        let input = { (i: Int) in self.displayRGB(self.maps.images.select(axis: 0, i).reshaped(shape)) }
        let multiModel = Set(maps.entries.map(\.model)).count > 1
        var columns: [(label: String, cell: (Int) -> Tensor)] = [(label: "input", cell: input)]
        for e in maps.entries {
            columns.append((label: multiModel ? "\(e.model)/\(e.method)" : e.method, cell: { i in
                overlay(input(i), map: e.saliency.map.select(axis: 0, i).reshaped([1, h, w]), colormap: .jet, alpha: 0.55)
            }))
        }
        return columns
    }

    /// What each montage row names: the target class of image i (name when the model has labels).
    var montageTargets: [String]? {
        maps.entries.first.map { e in e.saliency.targetNames ?? e.saliency.targets.map(String.init) }
    }

    /// Images (rows: the first 8 unless `rows` says otherwise) x [input, one overlay per
    /// model/method] as one RGB picture, with a note under it when images are left out.
    public func montageImage(rows: MontageRows = .standard) throws -> (picture: Tensor, note: String?) {
        try Builtins.mapMontage(columns: montageColumns(), targets: montageTargets, total: maps.images.shape[0],
                                imageSize: Swift.max(maps.images.shape[2], maps.images.shape[3]), rows: rows)
    }

    /// Min-max scales an image [C, H, W] into [0, 1] for display (inputs may be normalised).
    func displayRGB(_ t: Tensor) -> Tensor {
        let lo = t.min().item, hi = t.max().item
        let scaled = hi > lo ? (t - lo) / (hi - lo) : t * 0
        return t.shape[0] == 1 ? Tensor.concat([scaled, scaled, scaled], axis: 0) : scaled
    }
}

