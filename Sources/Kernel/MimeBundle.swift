import Foundation
import Lang
import Runtime

/// The Jupyter mime bundles of values and outputs: the REPL's pictures as `image/png`
/// (enlarged so a 28x28 map is readable), tables as `text/html`, always `text/plain`.
public enum MimeBundle {
    /// The bundle of a cell's value (`execute_result`): its one-line summary, plus the
    /// table or the picture the REPL would draw after `Out[n]:`.
    public static func value(_ v: Value) throws -> JSONObject {
        if case let .table(t) = v {
            return ["text/plain": v.summary + "\n" + t.rendered(),
                    "text/html": "<p><code>\(NotebookHTML.escape(v.summary))</code></p>\n" + NotebookHTML.table(t)]
        }
        var bundle: JSONObject = ["text/plain": v.summary]
        if let (pic, _) = try Builtins.picture(v) { bundle["image/png"] = try png(pic) }
        return bundle
    }

    /// A table shown by `show(...)` or `print(table)` (`display_data`).
    public static func table(_ t: Table) -> JSONObject {
        ["text/plain": t.rendered(), "text/html": NotebookHTML.table(t)]
    }

    /// A picture shown by `show(...)`: the PNG with its caption as the plain-text fallback.
    public static func image(_ rgb: Tensor, caption: String) throws -> JSONObject {
        ["image/png": try png(rgb), "text/plain": caption.isEmpty ? "<image \(rgb.shape.last ?? 0) px wide>" : caption]
    }

    /// Base64 PNG of an RGB/gray picture, enlarged without smoothing by `readableScale`.
    public static func png(_ rgb: Tensor) throws -> String {
        let h = rgb.rank >= 2 ? rgb.shape[rgb.rank - 2] : 1, w = rgb.shape.last ?? 1
        let k = readableScale(height: h, width: w)
        let big = k == 1 ? rgb : rgb.upsampleNearest(size: [h * k, w * k])
        return Data(try encodePNG(big)).base64EncodedString()
    }

    /// A whole-number enlargement (pixels stay square and sharp: browsers smooth PNGs they
    /// scale themselves) that brings the shorter side to about 320 px, as long as the picture
    /// stays within 960 x 1200, a notebook column's width and a screen and a half of height.
    public static func readableScale(height: Int, width: Int) -> Int {
        guard height > 0, width > 0 else { return 1 }
        let wanted = (320 + min(height, width) - 1) / min(height, width)
        return max(1, min(wanted, 960 / width, 1200 / height))
    }
}
