import Foundation
import Runtime

/// A table of results: named columns, rows of cells. Comparison runs produce one row per
/// image x model x method x metric, then aggregate rows (mean, std, 95% CI) per group.
/// Writers: CSV (RFC 4180 quoting), JSON (array of objects), Markdown, aligned text.
public struct ResultTable: Sendable, Equatable {
    public enum Cell: Sendable, Equatable, CustomStringConvertible {
        case text(String), number(Double), empty
        public var description: String {
            switch self {
            case let .text(s): return s
            case let .number(v): return ResultTable.format(v)
            case .empty: return ""
            }
        }
    }

    public var columns: [String]
    public var rows: [[Cell]]

    public init(columns: [String], rows: [[Cell]] = []) {
        self.columns = columns
        self.rows = rows
    }

    public mutating func append(_ row: [Cell]) {
        precondition(row.count == columns.count, "row has \(row.count) cells for \(columns.count) columns")
        rows.append(row)
    }

    public func column(_ name: String) -> [Cell]? {
        columns.firstIndex(of: name).map { i in rows.map { $0[i] } }
    }

    /// Numbers with up to 4 significant decimals, no trailing zeros; integers plainly.
    public static func format(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if v == v.rounded() && Swift.abs(v) < 1e12 { return String(Int(v)) }
        let mag = Swift.abs(v)
        let s = mag >= 1000 || mag < 1e-3 ? String(format: "%.4g", v) : String(format: "%.4f", v)
        guard s.contains("."), !s.contains("e") else { return s }
        var t = s
        while t.hasSuffix("0") { t.removeLast() }
        if t.hasSuffix(".") { t.removeLast() }
        return t
    }

    // MARK: writers

    public var csv: String {
        func quote(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var lines = [columns.map(quote).joined(separator: ",")]
        for r in rows {
            lines.append(r.map { cell -> String in
                if case let .number(v) = cell { return v.isFinite ? String(v) : (v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf")) }
                return quote(cell.description)
            }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public var json: String {
        let objects: [[String: Any]] = rows.map { r in
            var o: [String: Any] = [:]
            for (c, cell) in zip(columns, r) {
                switch cell {
                case let .text(s): o[c] = s
                case let .number(v): o[c] = v.isFinite ? v : NSNull()
                case .empty: o[c] = NSNull()
                }
            }
            return o
        }
        let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    public var markdown: String {
        let esc = { (s: String) in s.replacingOccurrences(of: "|", with: "\\|") }
        var lines = ["| " + columns.map(esc).joined(separator: " | ") + " |",
                     "|" + columns.map { _ in "---" }.joined(separator: "|") + "|"]
        for r in rows { lines.append("| " + r.map { esc($0.description) }.joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Aligned plain text (numbers right-aligned), for the terminal.
    public var text: String {
        let cells = rows.map { $0.map(\.description) }
        let widths = columns.indices.map { i in ([columns[i]] + cells.map { $0[i] }).map(\.count).max() ?? 0 }
        func line(_ values: [String], numeric: [Bool]) -> String {
            values.indices.map { i in
                let pad = String(repeating: " ", count: widths[i] - values[i].count)
                return numeric[i] ? pad + values[i] : values[i] + pad
            }.joined(separator: "  ")
        }
        var out = [line(columns, numeric: columns.map { _ in false }),
                   widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        for (r, c) in zip(rows, cells) {
            out.append(line(c, numeric: r.map { if case .number = $0 { return true }; return false }))
        }
        return out.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }.joined(separator: "\n")
    }

    /// Writes by extension (.csv, .json, .md, .txt), atomically.
    public func write(to path: String) throws {
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        let body: String
        switch ext {
        case "csv": body = csv
        case "json": body = json
        case "md", "markdown": body = markdown
        case "txt": body = text + "\n"
        default: throw IOError(path: path, message: "a table saves as .csv, .json, .md or .txt, not .\(ext)")
        }
        try writeFileAtomically(Array(body.utf8), to: path)
    }
}
