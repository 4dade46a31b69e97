import Plugins
import Runtime

/// What `c.NAME` reads from a comparison: the raw maps by method (numpy-ready through
/// `save(c.maps["gradcam"], "gc.npy")`), the images and the tables.
extension ComparisonValue {
    public static let fieldNames = ["name", "maps", "methods", "models", "images", "targets", "metrics", "table", "summary"]

    /// An entry's key in `maps`: its method label, prefixed with the model when several models take part.
    var entryKeys: [String] {
        let multiModel = Set(maps.entries.map(\.model)).count > 1
        return maps.entries.map { multiModel ? "\($0.model)/\($0.method)" : $0.method }
    }

    /// Maps by entry key, each with the images it explains.
    public var mapRecord: Record {
        Record(zip(entryKeys, maps.entries).map { key, e in (key, Value.saliency(MapValue(map: e.saliency, images: maps.images))) })
    }

    func field(_ name: String) -> Value? {
        func strings(_ a: [String]) -> Value { .list(a.map { .string($0) }) }
        var seen = Set<String>()
        func unique(_ a: [String]) -> [String] { a.filter { seen.insert($0).inserted } }
        switch name {
        case "name": return .string(self.name)
        case "maps": return .record(mapRecord)
        case "methods": seen = []; return strings(unique(maps.entries.map(\.method)))
        case "models": seen = []; return strings(unique(maps.entries.map(\.model)))
        case "images": return .tensor(maps.images)
        case "targets": return .list(maps.entries.first.map { $0.saliency.targets.map { .number(Double($0)) } } ?? [])
        case "metrics": seen = []; return strings(unique(scores?.rows.map(\.metric) ?? []))
        case "table": return .table(table)
        case "summary": return .table(summaryTable)
        default: return nil
        }
    }
}
