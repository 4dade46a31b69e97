import Testing
@testable import Lang
import Plugins

@Suite("Comparison tables")
struct ComparisonTableTests {
    @Test func perImageRowsThenAggregates() {
        let rows: [ComparisonScores.Row] = [
            .init(image: 0, model: "m", method: "a", metric: "iou", value: 1),
            .init(image: 1, model: "m", method: "a", metric: "iou", value: 3),
            .init(image: 0, model: "m", method: "b", metric: "iou", value: 2),
            .init(image: 1, model: "m", method: "b", metric: "iou", value: 2),
        ]
        let scores = ComparisonScores(rows: rows, curves: [:], seconds: ["m/a": 0.0015, "m/b": 0.25])
        let t = Table(scores: scores)
        #expect(t.rows.count == 6)
        #expect(t.rows[4][0].printed == "mean" && t.rows[4][4].printed == "2" && t.rows[4][5].printed == "2")
        // std of [1, 3] is sqrt(2); the t-interval with 1 degree of freedom is wide.
        if case let .number(sd) = t.rows[4][6] { #expect(Swift.abs(sd - 2.0.squareRoot()) < 1e-9) } else { Issue.record("no std") }
        let s = Table(summaryOf: scores)
        #expect(s.columns == ["model", "method", "iou", "ms/map"])
        #expect(s.rows.map { $0.map(\.printed) } == [["m", "a", "2", "1.5"], ["m", "b", "2", "250"]])
    }
}
