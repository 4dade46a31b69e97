import Foundation
import Runtime

/// A self-contained HTML report (no external files): headings, tables, images embedded as
/// base64 PNG, image grids with HTML labels, curves as inline SVG (`CurveChart`), folded
/// sections (`<details>`), and the environment the numbers were measured on.
public struct HTMLReport {
    public var title: String
    public private(set) var sections: [String] = []

    public init(title: String) { self.title = title }

    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    public mutating func heading(_ text: String) { sections.append("<h2>\(HTMLReport.escape(text))</h2>") }
    public mutating func subheading(_ text: String) { sections.append("<h3>\(HTMLReport.escape(text))</h3>") }
    public mutating func paragraph(_ text: String) { sections.append("<p>\(HTMLReport.escape(text))</p>") }
    public mutating func code(_ text: String) { sections.append("<pre>\(HTMLReport.escape(text))</pre>") }

    public mutating func keyValues(_ pairs: [(String, String)]) {
        let rows = pairs.map { "<tr><th>\(HTMLReport.escape($0.0))</th><td>\(HTMLReport.escape($0.1))</td></tr>" }
        sections.append("<table class=\"kv\">\(rows.joined())</table>")
    }

    /// A table; cells for which `emphasized(row, column)` holds are bold on green (the best
    /// value of a column, say).
    public mutating func table(_ t: Table, emphasized: (Int, Int) -> Bool = { _, _ in false }) {
        let head = "<tr>" + t.columns.map { "<th>\(HTMLReport.escape($0))</th>" }.joined() + "</tr>"
        let body = t.rows.enumerated().map { i, r in
            "<tr>" + r.enumerated().map { j, cell -> String in
                let best = emphasized(i, j) ? " best" : ""
                if case .number = cell { return "<td class=\"num\(best)\">\(HTMLReport.escape(cell.printed))</td>" }
                return "<td\(best.isEmpty ? "" : " class=\"best\"")>\(HTMLReport.escape(cell.isNone ? "" : cell.printed))</td>"
            }.joined() + "</tr>"
        }.joined(separator: "\n")
        sections.append("<div class=\"scroll\"><table>\n\(head)\n\(body)\n</table></div>")
    }

    /// A folded section: `summary` shows, what `body` adds appears when it is opened.
    public mutating func folded(_ summary: String, _ body: (inout HTMLReport) throws -> Void) rethrows {
        var inner = HTMLReport(title: title)
        try body(&inner)
        sections.append("<details><summary>\(HTMLReport.escape(summary))</summary>\n\(inner.sections.joined(separator: "\n"))\n</details>")
    }

    /// Pictures in a grid with HTML labels (readable at any zoom, unlike text drawn into a
    /// PNG): a header row of column labels, a label per row, each picture enlarged without
    /// smoothing to `cellWidth` CSS pixels; a note under the grid when given.
    public mutating func imageGrid(columns: [String], rows: [(label: String, cells: [Tensor])], cellWidth: Int, note: String? = nil) throws {
        // Long snake_case names may break after an underscore or slash, never inside a word.
        let head = "<tr><th></th>" + columns.map {
            "<th>" + HTMLReport.escape($0).replacingOccurrences(of: "_", with: "_<wbr>").replacingOccurrences(of: "/", with: "/<wbr>") + "</th>"
        }.joined() + "</tr>"
        var body: [String] = []
        for (label, cells) in rows {
            var tr = "<tr><th class=\"row\">\(HTMLReport.escape(label))</th>"
            for (j, cell) in cells.enumerated() {
                let alt = "\(label), \(j < columns.count ? columns[j] : "")"
                tr += "<td><img alt=\"\(HTMLReport.escape(alt))\" width=\"\(cellWidth)\" src=\"data:image/png;base64,\(Data(try encodePNG(cell)).base64EncodedString())\"></td>"
            }
            body.append(tr + "</tr>")
        }
        sections.append("<div class=\"scroll\"><table class=\"grid\">\n\(head)\n\(body.joined(separator: "\n"))\n</table></div>")
        if let note { sections.append("<p class=\"note\">\(HTMLReport.escape(note))</p>") }
    }

    /// An RGB or gray image tensor ([C,H,W] or [1,C,H,W]) embedded as a PNG.
    public mutating func image(_ t: Tensor, caption: String? = nil) throws {
        let png = try encodePNG(t)
        let b64 = Data(png).base64EncodedString()
        var s = "<figure><img alt=\"\(HTMLReport.escape(caption ?? "image"))\" src=\"data:image/png;base64,\(b64)\">"
        if let caption { s += "<figcaption>\(HTMLReport.escape(caption))</figcaption>" }
        sections.append(s + "</figure>")
    }

    /// Line chart of named series of (x, y) points as inline SVG; `showArea` adds each
    /// curve's area under it to its legend entry.
    public mutating func curves(_ title: String, series: [(name: String, points: [(x: Double, y: Double)])],
                                xLabel: String, yLabel: String, showArea: Bool = false) {
        let svg = CurveChart(series: series, xLabel: xLabel, yLabel: yLabel, showArea: showArea).svg
        guard !svg.isEmpty else { return }
        sections.append("<figure>\(svg)<figcaption>\(HTMLReport.escape(title))</figcaption></figure>")
    }

    public var html: String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(HTMLReport.escape(title))</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
        table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
        th, td { border: 1px solid #ccc; padding: 3px 8px; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
        table.kv th { text-align: left; background: #f6f6f6; }
        td.best { font-weight: bold; background: #e3f1e3; }
        div.scroll { overflow-x: auto; max-width: 100%; }
        table.grid { border-collapse: separate; border-spacing: 3px; } table.grid td, table.grid th { border: none; padding: 0; text-align: center; }
        table.grid th { font-weight: 600; font-size: 13px; vertical-align: bottom; }
        table.grid th.row { text-align: right; padding-right: 6px; vertical-align: middle; white-space: nowrap; }
        p.note { color: #555; font-size: 13px; margin-top: 0; }
        details { margin: 1em 0; } summary { cursor: pointer; font-weight: 600; }
        pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
        figure { display: inline-block; margin: 1em 1em 1em 0; vertical-align: top; } figcaption { font-size: 13px; color: #444; }
        img { image-rendering: pixelated; max-width: 100%; } table.grid img { max-width: none; }
        </style></head><body>
        <h1>\(HTMLReport.escape(title))</h1>
        \(sections.joined(separator: "\n"))
        </body></html>

        """
    }

    public func write(to path: String) throws { try writeFileAtomically(Array(html.utf8), to: path) }

    /// Where and how the numbers were measured.
    public static func environment(threads: Int) -> [(String, String)] {
        let info = ProcessInfo.processInfo
        var uts = utsname()
        uname(&uts)
        let machine = withUnsafeBytes(of: &uts.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return [("saliency-repl", saliencyVersion), ("threads", String(threads)),
                ("cores", String(info.activeProcessorCount)), ("memory", String(format: "%.1f GiB", Double(info.physicalMemory) / 1_073_741_824)),
                ("machine", "\(machine), \(info.operatingSystemVersionString)"), ("date", ISO8601DateFormatter().string(from: Date()))]
    }
}
