import Foundation
import Plugins
import Runtime

extension Builtins {
    /// The image [C, H, W] of the first item of a batch, rescaled to [0, 1] when its values
    /// fall outside (normalised model inputs) so it can be drawn.
    static func displayable(_ t: Tensor) -> Tensor {
        var x = t
        if x.rank == 4 { x = x.slice(axis: 0, 0..<1).reshaped(Array(x.shape.dropFirst())) }
        if x.rank == 2 { x = x.reshaped([1] + x.shape) }
        let s = x.scalars
        if let lo = s.min(), let hi = s.max(), lo < 0 || hi > 1 {
            let r = hi - lo
            x = Tensor(shape: x.shape, data: s.map { r > 0 ? ($0 - lo) / r : 0 })
        }
        return x
    }

    /// A value as an RGB picture [3, H, W] with a caption, when it has one: images,
    /// saliency maps (jet; over an image when given; one column per image), image-like
    /// tensors, and records of maps (a montage: one row per image, one column per method).
    public static func picture(_ v: Value, over: Value? = nil) throws -> (Tensor, String)? {
        if let m = try montagePicture(v, rows: .standard) { return (m.picture, m.caption) }
        switch v {
        case let .image(i) where i.tensor.rank == 4 && [1, 3].contains(i.tensor.shape[1]): return (displayable(i.tensor), i.source)
        case let .saliency(m):
            let base = try over.map { try batch($0, what: "over").images }
            if let b = base, ![1, 3].contains(b.shape[1]) || b.shape[2] != m.map.map.shape[2] || b.shape[3] != m.map.map.shape[3] {
                throw LangError.arguments("'over' must be gray or RGB images of the map's size \(m.map.map.shape[2])x\(m.map.map.shape[3]), got \(formatShape(b.shape))")
            }
            var cells: [Tensor] = []
            for k in 0..<m.map.count {
                let plane = m.map.map.slice(axis: 0, k..<(k + 1))
                if let b = base {
                    cells.append(overlay(displayable(b.slice(axis: 0, (k % b.shape[0])..<(k % b.shape[0] + 1))), map: plane, colormap: .jet))
                } else {
                    cells.append(renderMap(plane, colormap: .jet))
                }
            }
            let caption = "\(m.map.method) target " + (m.map.targetNames ?? m.map.targets.map(String.init)).joined(separator: ", ")
            let cell = montageCellSize(forImageSize: max(m.map.map.shape[2], m.map.map.shape[3]))
            return (cells.count == 1 ? cells[0] : montage(rows: [cells], rowLabels: [""], columnLabels: cells.indices.map(String.init), cellSize: cell), caption)
        case let .tensor(t) where (t.rank == 3 || t.rank == 4) && [1, 3].contains(t.shape[t.rank - 3]):
            return (displayable(t), "tensor\(formatShape(t.shape))")
        case let .tensor(t) where t.rank == 2 && t.count > 0:
            return (renderMap(t, colormap: .jet), "tensor\(formatShape(t.shape))")
        default: return nil
        }
    }

    /// The file extensions `save` writes (pipelines check theirs before anything runs).
    public static let saveExtensions = ["png", "npy", "npz", "csv", "json", "md", "onnx", "salfit", "html"]

    static let outputs: [Builtin] = [
        Builtin("show", [BuiltinParam("value"), BuiltinParam("over", optional: true)],
                doc: "Draws images and saliency maps (over: an image to overlay the map on), tables as text, other values as one line.") { a in
            let v = try a.value("value")
            if let (pic, caption) = try picture(v, over: a["over"]) {
                a.interpreter.output(.image(pic, caption: caption))
            } else if case let .table(t) = v {
                a.interpreter.output(.table(t))
            } else {
                a.interpreter.output(.text(v.printed))
            }
            return .none
        },
        Builtin("save", [BuiltinParam("value"), BuiltinParam("path"), BuiltinParam("over", optional: true), BuiltinParam("cmap", optional: true),
                         BuiltinParam("alpha", optional: true), BuiltinParam("sign", optional: true),
                         BuiltinParam("rows", optional: true)],
                doc: "Saves by extension: .png (images, maps, records of maps and comparisons as montages: rows: a count, 8 by default, or image indices; a map with over: images writes one overlay per image, NAME-0.png, ..., with cmap: (jet, viridis, inferno, gray, diverging), alpha: (0.5) and sign: (all, positive, negative, absolute_value)), .npy (tensors; maps of a comparison or record stacked [methods, N, 1, H, W]), .npz (maps by method name), .csv/.json/.md (tables; a scored comparison's .csv holds the per-image values, NAME-summary.csv the n, mean, std and 95% CI), .onnx (models), .salfit (fitted states), .html (a report); missing folders are made.") { a in
            let v = try a.value("value")
            let p = try a.path("path")
            let ext = (p as NSString).pathExtension.lowercased()
            // Missing folders are made (a training recipe should not fail at its last line).
            let folder = (p as NSString).deletingLastPathComponent
            if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            if a["over"] == nil, let k = ["cmap", "alpha", "sign"].first(where: { a[$0] != nil }) {
                throw LangError.arguments("\(k): styles overlays; give over: the images to draw the map on")
            }
            if let over = a["over"] {
                guard ext == "png" else { throw LangError.arguments("over: writes overlay pictures; save them as .png, not .\(ext)") }
                _ = try saveOverlays(v, path: p, over: over, a: a)
                return .none
            }
            switch ext {
            case "png" where a["rows"] != nil || isMontage(v):
                guard let m = try montagePicture(v, rows: MontageRows(a["rows"])) else {
                    throw LangError.arguments("'rows' applies to montages (comparisons and records of maps), not to \(v.typeName)")
                }
                try writePNG(m.picture, path: p)
                if let note = m.note { a.interpreter.output(.text("note: \((p as NSString).lastPathComponent): \(note)")) }
            case "png":
                guard let (pic, _) = try picture(v) else { throw LangError.message("cannot save \(v.typeName) as .png") }
                try writePNG(pic, path: p)
            case "npy", "npz":
                if try saveMaps(v, path: p, npz: ext == "npz") { break }
                guard ext == "npy", let t = v.asTensor else {
                    throw LangError.message("cannot save \(v.typeName) as .\(ext); it takes \(ext == "npy" ? "tensors, images, maps, " : "")comparisons and records of maps")
                }
                try writeNPY(t, path: p)
            case "csv" where scoreTables(v) != nil:
                // Per-image rows and aggregates apart, so each reads as one numeric table.
                if let (perImage, summary) = scoreTables(v) {
                    try writeFileAtomically(Array(perImage.csv.utf8), to: p)
                    try writeFileAtomically(Array(summary.csv.utf8), to: summaryPath(p))
                }
            case "csv", "json", "md":
                let t = try makeTable(v)
                let text = ext == "csv" ? t.csv : ext == "json" ? t.json : t.markdown
                try writeFileAtomically(Array(text.utf8), to: p)
            case "onnx":
                guard case let .model(m) = v else { throw LangError.message("cannot save \(v.typeName) as .onnx; it takes models") }
                try m.graph.saveONNX(path: p)
            case "salfit":
                guard case let .fitted(f) = v else { throw LangError.message("cannot save \(v.typeName) as .salfit; it takes fitted states from fit(...)") }
                try f.save(path: p)
            case "html" where isComparison(v):
                try comparisonReport(v, interpreter: a.interpreter).write(to: p)
            case "html":
                let html = try NotebookHTML.page(title: (p as NSString).lastPathComponent, body: NotebookHTML.value(v))
                try writeFileAtomically(Array(html.utf8), to: p)
            default:
                throw LangError.message("cannot save to '.\(ext)' files; use \(saveExtensions.map { "." + $0 }.joined(separator: ", "))")
            }
            return .none
        },
    ]
}

extension Table {
    /// RFC 4180 CSV that numpy and pandas read: missing values are empty cells, numbers keep
    /// full precision (the shortest text that reads back to the same double).
    public var csv: String {
        func cell(_ v: Value) -> String {
            let s: String
            switch v {
            case .none: return ""
            case let .number(n): s = n.isFinite && (n != n.rounded() || Swift.abs(n) >= 1e15) ? "\(n)" : formatNumber(n)
            default: s = v.printed
            }
            return s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        return ([columns.map { cell(.string($0)) }] + rows.map { $0.map(cell) }).map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    public var json: String {
        func enc(_ v: Value) -> String {
            switch v {
            case let .number(n): return n.isFinite ? formatNumber(n) : "null"
            case let .bool(b): return b ? "true" : "false"
            case .none: return "null"
            case let .list(l): return "[" + l.map(enc).joined(separator: ", ") + "]"
            default:
                let s = v.printed
                let escaped = s.unicodeScalars.map { c -> String in
                    switch c {
                    case "\"": return "\\\""
                    case "\\": return "\\\\"
                    case "\n": return "\\n"
                    case _ where c.value < 0x20: return String(format: "\\u%04x", c.value)
                    default: return String(c)
                    }
                }.joined()
                return "\"" + escaped + "\""
            }
        }
        return "[\n" + rows.map { r in "  {" + columns.indices.map { i in enc(.string(columns[i])) + ": " + enc(i < r.count ? r[i] : .none) }.joined(separator: ", ") + "}" }.joined(separator: ",\n") + "\n]\n"
    }

    public var markdown: String {
        func cell(_ v: Value) -> String { v.printed.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        var lines = ["| " + columns.joined(separator: " | ") + " |", "|" + columns.map { _ in " --- |" }.joined()]
        for r in rows { lines.append("| " + r.map(cell).joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n") + "\n"
    }
}
