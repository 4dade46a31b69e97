import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// VEbI's fitted state in the language: `f.features` is the table of selected (layer,
/// channel) features per class, kept by save/load (FitState.tables).
struct VEbIStateTests {
    @Test func theFeatureTableReadsAndSurvivesSaveAndLoad() throws {
        let dir = NSTemporaryDirectory() + "vebi-lang-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = langTestRegistry()
        r.register(VEbIExplainer())
        let i = Interpreter(registry: r)
        i.fitCache = FitCache(directory: dir + "/cache")
        i.quiet = true
        try i.run("""
        let d = dataset("test_squares", count: 20)
        let m = model("lenet5")
        let f = fit(m, d, "vebi", mu: 2, max_iterations: 300)
        """)
        func v(_ e: String) throws -> String { try i.run(e).summary }
        #expect(try v("f").contains(", 1 table (features), "))
        #expect(try v("f.features.columns") == "[\"class\", \"class_name\", \"layer\", \"channel\", \"weight\"]")
        guard case let .fitted(state) = try i.run("f"), let table = state.tables["features"] else {
            Issue.record("f is not a vebi state with a feature table"); return
        }
        // One row per non-zero weight, every row naming a layer of the pool.
        #expect(Double(table.rows.count) == state.scalars["nonzeros"])
        #expect(table.rows.count > 0)
        let layers = Set(state.notes["layers"]?.split(separator: "\n").map(String.init) ?? [])
        for row in table.rows { if case let .string(l) = row[2] { #expect(layers.contains(l)) } else { Issue.record("layer cell \(row[2])") } }
        #expect(try v("f.params") == "{features: \"all\", max_iterations: 300, mu: 2, response: \"l2_squared\"}")
        try i.run("save(f, \"\(dir)/v.salfit\")")
        guard case let .fitted(loaded) = try i.run("load(\"\(dir)/v.salfit\")") else { Issue.record("not a state"); return }
        #expect(loaded.tables == state.tables)
        #expect(try v("load(\"\(dir)/v.salfit\").features.count") == String(table.rows.count))
    }
}
