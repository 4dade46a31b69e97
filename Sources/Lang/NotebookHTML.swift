import Foundation
import Runtime

/// Self-contained HTML (images inline as base64 PNG): `save(value, "x.html")` and the
/// REPL's `:save notebook.html` both write through here.
public enum NotebookHTML {
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    public static func image(_ rgb: Tensor, caption: String) throws -> String {
        let b64 = Data(try encodePNG(rgb)).base64EncodedString()
        // Small maps (28x28) are unreadable at 1:1; scale up without smoothing.
        let w = rgb.shape.last ?? 1
        let scale = max(1, 256 / max(w, 1))
        return "<figure><img src=\"data:image/png;base64,\(b64)\" width=\"\(w * scale)\" style=\"image-rendering: pixelated\"><figcaption>\(escape(caption))</figcaption></figure>"
    }

    public static func table(_ t: Table) -> String {
        "<table><tr>" + t.columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
            + t.rows.map { r in "<tr>" + r.map { "<td>\(escape($0.printed))</td>" }.joined() + "</tr>" }.joined(separator: "\n") + "</table>"
    }

    public static func item(_ o: OutputItem) throws -> String {
        switch o {
        case let .text(s): return "<pre>\(escape(s))</pre>"
        case let .image(t, caption): return try image(t, caption: caption)
        case let .table(t): return table(t)
        }
    }

    public static func value(_ v: Value) throws -> String {
        var parts = ["<p><code>\(escape(v.summary))</code></p>"]
        if let (pic, caption) = try Builtins.picture(v) { parts.append(try image(pic, caption: caption)) }
        if case let .table(t) = v { parts.append(table(t)) }
        return parts.joined(separator: "\n")
    }

    public static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font-family: -apple-system, Helvetica, Arial, sans-serif; max-width: 60em; margin: 2em auto; }
        pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; }
        .cell { border-top: 1px solid #ddd; padding: 0.5em 0; }
        .prompt { color: #307fc1; font-family: monospace; }
        .out { color: #bf5b3d; font-family: monospace; }
        table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
        figure { display: inline-block; margin: 0.5em; } figcaption { font-size: 0.8em; color: #555; }
        </style></head><body>
        \(body)
        </body></html>

        """
    }
}
