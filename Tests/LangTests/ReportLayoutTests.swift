import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// Records a number only gradient-free methods would: NaN for every image, so the report's
/// "what the methods report about themselves" table must leave its column out.
struct NaNScalarExplainer: Explainer {
    let name = "test_nan_scalar"
    let summary = "|x| with an all-NaN diagnostic and a finite one (test)"
    let reference = "test"
    func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        let n = ctx.images.shape[0]
        return Explanation(map: ctx.images.abs().max(axis: 1, keepDims: true),
                           scalars: ["never_filled": Array(repeating: .nan, count: n), "filled": Array(repeating: 2, count: n)])
    }
}

/// The HTML report as a person reads it, and montages saved as PNG (issue 22).
@Suite("Report layout and montages")
struct ReportLayoutTests {
    func interpreter() -> (Interpreter, String, () -> [String]) {
        let r = langTestRegistry()
        r.register(GradientExplainer())
        r.register(NaNScalarExplainer())
        r.register(DeletionMetric())
        r.register(InsertionMetric())
        let i = Interpreter(registry: r)
        i.quiet = true
        let box = LinesBox()
        i.output = { item in if case let .text(s) = item { box.lines.append(s) } }
        let dir = NSTemporaryDirectory() + "report-layout-" + UUID().uuidString
        return (i, dir, { box.lines })
    }

    final class LinesBox: @unchecked Sendable { var lines: [String] = [] }

    /// Ten images, two methods, deletion and insertion with coarse steps (a few forward passes).
    static let prelude = """
        let d = dataset("test_squares", count: 10)
        let net = model("lenet5", seed: 3)
        let c = score(compare(net, d, ["gradient", "test_nan_scalar"]), [{deletion: {step: 98}}, {insertion: {step: 98}}])

        """

    @Test func resultsComeFirstWithTheBestMarkedAndEveryImageFolded() throws {
        let (i, dir, _) = interpreter()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try i.run(Self.prelude + "save(c, \"\(dir)/r.html\")")
        let html = try String(contentsOfFile: dir + "/r.html", encoding: .utf8)
        guard case let .comparison(c)? = i.globals.lookup("c"), let sc = c.scores else { Issue.record("no scored comparison"); return }
        // Order on the page: summary table, montage grid, curves, then the folded per-image
        // tables, then the session and environment.
        let marks = ["<table>\n<tr><th>model</th><th>method</th><th>deletion</th>", "<table class=\"grid\">", "<svg",
                     ": every image (10 image(s) x 2 method(s), one table per metric)</summary>",
                     "<h2>Session</h2>", "<h2>Environment</h2>"]
        let positions = marks.map { html.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "missing: \(zip(marks, positions).filter { $0.1 == nil }.map(\.0))")
        let found = positions.compactMap { $0 }
        #expect(found == found.sorted(), "sections out of order")
        // The best mean of each metric is bold: lowest deletion, highest insertion.
        let summary = Table(summaryOf: sc)
        func means(_ column: Int) -> [Double] { summary.rows.map { if case let .number(v) = $0[column] { return v }; return .nan } }
        let deletion = means(2), insertion = means(3)
        let bestDeletion = deletion.min()!, bestInsertion = insertion.max()!
        #expect(html.contains("<td class=\"num best\">\(Value.number(bestDeletion).printed)</td>"))
        #expect(html.contains("<td class=\"num best\">\(Value.number(bestInsertion).printed)</td>"))
        #expect(html.components(separatedBy: "class=\"num best\"").count - 1 == (deletion[0] == deletion[1] ? 2 : 1) + (insertion[0] == insertion[1] ? 2 : 1))
        #expect(html.contains("deletion: lower is better; insertion: higher is better"))
        // The montage: HTML labels in full, 8 of 10 rows with a note saying so.
        #expect(html.contains("<th></th><th>input</th><th>gradient</th><th>test_<wbr>nan_<wbr>scalar</th>"))
        #expect(html.components(separatedBy: "<th class=\"row\">").count - 1 == 8)
        #expect(html.contains("<th class=\"row\">#7 ") && !html.contains("<th class=\"row\">#8 "))
        #expect(html.contains("8 of 10 images shown"))
        // Curves: axes say what they are, legend entries carry the AUC.
        #expect(html.contains(">fraction of pixels deleted (most salient first)</text>") && html.contains(">class probability</text>"))
        #expect(html.contains(">gradient (AUC "))
        // Diagnostics: the all-NaN column is left out, the filled one stays.
        #expect(html.contains("<th>filled</th>") && !html.contains("never_filled"))
        // Every image: one wide table per metric, 10 image rows + 4 aggregate rows.
        #expect(html.contains("<th>image</th><th>target</th><th>gradient</th><th>test_nan_scalar</th>"))
        #expect(!html.contains("<th>ci95_low</th>"))
    }

    @Test func wideTablePerMetricWithAggregates() {
        let rows: [ComparisonScores.Row] = [
            .init(image: 4, model: "m", method: "a", metric: "iou", value: 1), .init(image: 5, model: "m", method: "a", metric: "iou", value: 3),
            .init(image: 4, model: "m", method: "b", metric: "iou", value: 2), .init(image: 5, model: "m", method: "b", metric: "iou", value: 2),
            .init(image: 4, model: "m", method: "a", metric: "other", value: 9),
        ]
        let t = Table(perImageOf: ComparisonScores(rows: rows, curves: [:], seconds: [:]), metric: "iou", targets: [4: "cat"])
        #expect(t.columns == ["image", "target", "a", "b"])
        #expect(t.rows.map { $0.map(\.printed) }.prefix(3) == [["4", "cat", "1", "2"], ["5", "none", "3", "2"], ["mean", "none", "2", "2"]])
        // std of [1, 3] is sqrt(2) (to rounding of the sum of squares); of [2, 2] exactly 0.
        if case let .number(sd) = t.rows[3][2] { #expect(Swift.abs(sd - 2.0.squareRoot()) < 1e-12) } else { Issue.record("no std") }
        #expect(t.rows[3][3].printed == "0")
        #expect(t.rows.map { $0[0].printed } == ["4", "5", "mean", "std", "ci95 low", "ci95 high"])
    }

    @Test func montagesTakeRowsAndSayWhatTheyLeaveOut() throws {
        let (i, dir, lines) = interpreter()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try i.run(Self.prelude + """
            let maps = explain(net, d, ["gradient", "test_nan_scalar"])
            save(maps, "\(dir)/maps.png")
            save(maps, "\(dir)/all.png", rows: 10)
            save(c, "\(dir)/one.png", rows: [9])
            """)
        let out = lines()
        #expect(out == ["note: maps.png: 8 of 10 images shown; rows: picks others",
                        "note: one.png: 1 of 10 images shown; rows: picks others"])
        let maps = try readPNG(path: dir + "/maps.png"), all = try readPNG(path: dir + "/all.png"), one = try readPNG(path: dir + "/one.png")
        // 28 px images in 140 px cells (5x), 4 px padding, text at 2x (12 px per character,
        // 20 px per line); row labels "#0 c7" (image, predicted class named by the dataset test_squares, c0...c9: lenet5 has no class names) are 5 characters; the column labels input,
        // gradient and test_nan_scalar take at most 2 lines of 11 characters ("test_nan_",
        // "scalar"); the note (40 characters) is one line of at most 41.
        let cell = 140, pad = 4, line = 20
        let width = pad + (5 * 12 - 2 + pad) + 3 * (cell + pad), top = pad + 2 * line + pad
        #expect(maps.shape == [3, top + 8 * (cell + pad) + line + pad, width])
        #expect(all.shape == [3, top + 10 * (cell + pad), width])
        #expect(one.shape == [3, top + (cell + pad) + line + pad, width])
        for bad in ["rows: 0", "rows: [10]", "rows: \"all\"", "rows: [1.5]"] {
            let r = run(Self.prelude + "save(c, \"\(dir)/bad.png\", \(bad))", interpreter: interpreter().0)
            #expect(r.error?.description.contains("'rows'") == true, "\(bad): \(r.error?.description ?? "no error")")
        }
        let r = run("save(zeros([1, 28, 28]), \"\(dir)/t.png\", rows: 2)", interpreter: interpreter().0)
        #expect(r.error?.description.contains("'rows' applies to montages (comparisons and records of maps), not to a tensor") == true,
                "\(r.error?.description ?? "no error")")
    }

    @Test func curveChartsKeepTwentyMethodsApartWithTheLegendOutside() throws {
        // Twenty methods: twenty different (colour, dash) pairs.
        let styles = (0..<20).map { CurveChart.style($0) }
        #expect(Set(styles.map { "\($0.color) \($0.dash)" }).count == 20)
        // Ticks are round numbers covering the data; labels have the step's decimals only.
        let t = CurveChart.ticks(0, 0.999284)
        #expect(t.values.map { CurveChart.tickLabel($0, step: t.step) } == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let big = CurveChart.ticks(120, 830)
        #expect(big.values.map { CurveChart.tickLabel($0, step: big.step) } == ["0", "200", "400", "600", "800", "1000"])
        // The area of y = x on [0, 1] is 1/2 by the trapezoid rule, exactly (binary fractions).
        #expect(CurveChart.area([(0, 0), (0.5, 0.5), (1, 1)]) == 0.5)
        let series = (0..<12).map { k in (name: "method_\(k)", points: [(x: 0.0, y: 1.0), (x: 1.0, y: Double(k) / 12)]) }
        let svg = CurveChart(series: series, xLabel: "fraction of pixels deleted", yLabel: "class probability", showArea: true).svg
        // The legend starts right of the plot frame: frame x + width < every legend entry's x.
        func attribute(_ name: String, of element: String) -> Double? {
            element.components(separatedBy: " \(name)=\"").dropFirst().first.flatMap { Double($0.prefix { $0 != "\"" }) }
        }
        let frame = try #require(svg.components(separatedBy: "<rect class=\"plot\"").dropFirst().first?.components(separatedBy: "/>").first)
        let right = try #require(attribute("x", of: frame)) + (try #require(attribute("width", of: frame)))
        let legendXs = svg.components(separatedBy: "<text class=\"legend\"").dropFirst().compactMap { attribute("x", of: String($0.prefix { $0 != ">" })) }
        #expect(legendXs.count == 12 && legendXs.allSatisfy { $0 > right }, "plot ends at \(right), legend at \(legendXs)")
        #expect(svg.contains(">method_0 (AUC 0.500)</text>") && svg.contains(">method_6 (AUC 0.750)</text>"))
        #expect(svg.contains(">fraction of pixels deleted</text>") && svg.contains(">class probability</text>"))
        // Series 10 and 11 reuse the first two colours, dashed: a polyline and a legend sample each.
        #expect(svg.components(separatedBy: "stroke-dasharray=\"7 3\"").count - 1 == 4)
    }

    @Test func montageGridCellsFitThePage() {
        // quick.yaml: 28 px images, 5 columns -> 4x; the demo's 15 columns -> 2x (28 px) or a
        // little under native (64 px); large images shrink to 128 px.
        #expect(Builtins.gridCellWidth(imageSize: 28, columns: 5) == 112)
        #expect(Builtins.gridCellWidth(imageSize: 28, columns: 15) == 56)
        #expect(Builtins.gridCellWidth(imageSize: 64, columns: 15) == 63)
        #expect(Builtins.gridCellWidth(imageSize: 224, columns: 3) == 128)
        #expect(Builtins.gridCellWidth(imageSize: 28, columns: 40) == 48)
    }
}
