import Foundation
import Testing
@testable import Lang
import Runtime

@Suite("Result tables and reports")
struct ReportTests {
    var table: Table {
        Table(columns: ["method", "metric", "value"], rows: [
            [.string("gradcam"), .string("deletion"), .number(0.125)], [.string("rise"), .string("time"), .none],
        ])
    }

    @Test func reportEmbedsImagesAndCurves() throws {
        var r = HTMLReport(title: "a <b> report")
        r.table(table)
        try r.image(Tensor.ones([3, 2, 2]), caption: "white")
        r.curves("deletion", series: [("gradcam", [(0, 1), (0.5, 0.2), (1, 0)])], xLabel: "fraction", yLabel: "p")
        let html = r.html
        #expect(html.contains("<title>a &lt;b&gt; report</title>"))
        #expect(html.contains("data:image/png;base64,iVBORw0KGgo"))
        #expect(html.contains("<polyline"))
        #expect(html.contains("<td class=\"num\">0.125</td>"))
    }
}
