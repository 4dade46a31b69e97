import Foundation
import Testing
@testable import Lang
import Runtime

@Suite("Result tables and reports")
struct ReportTests {
    var table: ResultTable {
        var t = ResultTable(columns: ["method", "metric", "value"])
        t.append([.text("gradcam"), .text("deletion"), .number(0.125)])
        t.append([.text("a,b \"q\""), .text("iou"), .number(2)])
        t.append([.text("rise"), .text("time"), .number(.nan)])
        return t
    }

    @Test func writers() {
        #expect(table.csv == "method,metric,value\ngradcam,deletion,0.125\n\"a,b \"\"q\"\"\",iou,2.0\nrise,time,nan\n")
        #expect(table.markdown == "| method | metric | value |\n|---|---|---|\n| gradcam | deletion | 0.125 |\n| a,b \"q\" | iou | 2 |\n| rise | time | nan |\n")
        #expect(table.text == """
        method   metric    value
        -------  --------  -----
        gradcam  deletion  0.125
        a,b "q"  iou           2
        rise     time        nan
        """)
        let json = try! JSONSerialization.jsonObject(with: Data(table.json.utf8)) as! [[String: Any]]
        #expect(json.count == 3 && json[0]["value"] as? Double == 0.125 && json[2]["value"] is NSNull)
        #expect(ResultTable.format(0.123456) == "0.1235" && ResultTable.format(3) == "3" && ResultTable.format(1.5e-5) == "1.5e-05")
    }

    @Test func tableFilesAreWrittenByExtension() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try table.write(to: dir + "/t.csv")
        #expect(try String(contentsOfFile: dir + "/t.csv", encoding: .utf8) == table.csv)
        #expect(throws: IOError.self) { try table.write(to: dir + "/t.xlsx") }
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
