import Foundation
import Runtime

/// A self-contained HTML report (no external files): title, the pipeline text with its
/// parameters and seed, the summary table, images embedded as base64 PNG, curves as inline
/// SVG, per-method time, and the environment the numbers were measured on.
public struct HTMLReport {
    public var title: String
    public private(set) var sections: [String] = []

    public init(title: String) { self.title = title }

    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    public mutating func heading(_ text: String) { sections.append("<h2>\(HTMLReport.escape(text))</h2>") }
    public mutating func paragraph(_ text: String) { sections.append("<p>\(HTMLReport.escape(text))</p>") }
    public mutating func code(_ text: String) { sections.append("<pre>\(HTMLReport.escape(text))</pre>") }

    public mutating func keyValues(_ pairs: [(String, String)]) {
        let rows = pairs.map { "<tr><th>\(HTMLReport.escape($0.0))</th><td>\(HTMLReport.escape($0.1))</td></tr>" }
        sections.append("<table class=\"kv\">\(rows.joined())</table>")
    }

    public mutating func table(_ t: Table) {
        let head = "<tr>" + t.columns.map { "<th>\(HTMLReport.escape($0))</th>" }.joined() + "</tr>"
        let body = t.rows.map { r in
            "<tr>" + r.map { cell -> String in
                if case .number = cell { return "<td class=\"num\">\(HTMLReport.escape(cell.printed))</td>" }
                return "<td>\(HTMLReport.escape(cell.isNone ? "" : cell.printed))</td>"
            }.joined() + "</tr>"
        }.joined(separator: "\n")
        sections.append("<table>\n\(head)\n\(body)\n</table>")
    }

    /// An RGB or gray image tensor ([C,H,W] or [1,C,H,W]) embedded as a PNG.
    public mutating func image(_ t: Tensor, caption: String? = nil) throws {
        let png = try encodePNG(t)
        let b64 = Data(png).base64EncodedString()
        var s = "<figure><img alt=\"\(HTMLReport.escape(caption ?? "image"))\" src=\"data:image/png;base64,\(b64)\">"
        if let caption { s += "<figcaption>\(HTMLReport.escape(caption))</figcaption>" }
        sections.append(s + "</figure>")
    }

    /// Line chart of named series of (x, y) points as inline SVG.
    public mutating func curves(_ title: String, series: [(name: String, points: [(x: Double, y: Double)])],
                                xLabel: String, yLabel: String) {
        let (w, h, pad) = (520.0, 300.0, 44.0)
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }
        guard let x0 = xs.min(), let x1 = xs.max(), let y0r = ys.min(), let y1r = ys.max() else { return }
        let y0 = Swift.min(y0r, 0), y1 = y1r > y0 ? y1r : y0 + 1
        func px(_ x: Double) -> Double { pad + (x - x0) / Swift.max(x1 - x0, 1e-12) * (w - 2 * pad) }
        func py(_ y: Double) -> Double { h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad) }
        let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\">"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        svg += "<line x1=\"\(pad)\" y1=\"\(h - pad)\" x2=\"\(w - pad)\" y2=\"\(h - pad)\" stroke=\"#333\"/>"
        svg += "<line x1=\"\(pad)\" y1=\"\(pad)\" x2=\"\(pad)\" y2=\"\(h - pad)\" stroke=\"#333\"/>"
        svg += "<text x=\"\(w / 2)\" y=\"\(h - 8)\" text-anchor=\"middle\" font-size=\"12\">\(HTMLReport.escape(xLabel))</text>"
        svg += "<text x=\"12\" y=\"\(h / 2)\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 12 \(h / 2))\">\(HTMLReport.escape(yLabel))</text>"
        for (v, anchor) in [(y0, h - pad), (y1, pad)] {
            svg += "<text x=\"\(pad - 4)\" y=\"\(anchor + 4)\" text-anchor=\"end\" font-size=\"10\">\(formatNumber(v))</text>"
        }
        for (k, s) in series.enumerated() {
            let color = palette[k % palette.count]
            let pts = s.points.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.6\" points=\"\(pts)\"/>"
            svg += "<text x=\"\(w - pad + 4 - 120)\" y=\"\(pad + 14 * Double(k))\" font-size=\"11\" fill=\"\(color)\">\(HTMLReport.escape(s.name))</text>"
        }
        svg += "</svg>"
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
        pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
        figure { display: inline-block; margin: 1em; } img { image-rendering: pixelated; max-width: 100%; }
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
