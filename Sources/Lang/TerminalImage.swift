import Runtime

/// Draws an RGB picture [3, H, W] (or gray [1, H, W]) in [0, 1] as terminal text.
public enum TerminalImage {
    /// 24-bit colour with the upper half block: one character is two pixels stacked (the
    /// foreground paints the top pixel, the background the bottom one). `maxColumns` is
    /// the terminal width; small images are enlarged (nearest) to at most twice their size
    /// so a 28x28 map stays legible, large ones shrink to fit.
    public static func color(_ rgb: Tensor, maxColumns: Int) -> String {
        let (px, h, w) = pixels(rgb)
        let cols = max(1, min(maxColumns, w <= 48 ? 2 * w : w))
        let rows = max(1, Int((Double(h) * Double(cols) / Double(w) / 2).rounded()))
        var out = ""
        for r in 0..<rows {
            for c in 0..<cols {
                let x = min(w - 1, c * w / cols)
                let top = px(min(h - 1, (2 * r) * h / (2 * rows)), x)
                let bottom = px(min(h - 1, (2 * r + 1) * h / (2 * rows)), x)
                out += "\u{1B}[38;2;\(top.0);\(top.1);\(top.2)m\u{1B}[48;2;\(bottom.0);\(bottom.1);\(bottom.2)m\u{2580}"
            }
            out += "\u{1B}[0m" + (r + 1 < rows ? "\n" : "")
        }
        return out
    }

    /// Plain shaded ASCII by luminance (for dumb terminals, pipes and files): one character
    /// per pixel column, one line per two pixel rows (characters are about twice as tall as wide).
    public static func ascii(_ rgb: Tensor, maxColumns: Int) -> String {
        let (px, h, w) = pixels(rgb)
        let ramp = Array(" .:-=+*#%@")
        let cols = max(1, min(maxColumns, w))
        let rows = max(1, Int((Double(h) * Double(cols) / Double(w) / 2).rounded()))
        var lines: [String] = []
        for r in 0..<rows {
            var line = ""
            for c in 0..<cols {
                let p = px(min(h - 1, (2 * r) * h / (2 * rows)), min(w - 1, c * w / cols))
                let y = (0.299 * Double(p.0) + 0.587 * Double(p.1) + 0.114 * Double(p.2)) / 255
                line.append(ramp[min(ramp.count - 1, Int(y * Double(ramp.count)))])
            }
            lines.append(String(line.reversed().drop(while: { $0 == " " }).reversed()))
        }
        return lines.joined(separator: "\n")
    }

    /// A pixel reader returning 8-bit RGB, for [3,H,W], [1,H,W] or [H,W] tensors.
    static func pixels(_ t: Tensor) -> ((Int, Int) -> (Int, Int, Int), Int, Int) {
        let shape = t.rank == 2 ? [1] + t.shape : Array(t.shape.suffix(3))
        let (c, h, w) = (shape[0], max(shape[1], 1), max(shape[2], 1))
        let s = t.scalars
        let plane = h * w
        func byte(_ v: Float) -> Int { v.isNaN ? 0 : Int((min(max(v, 0), 1) * 255).rounded()) }
        let read: (Int, Int) -> (Int, Int, Int) = { y, x in
            guard s.count >= c * plane, plane > 0 else { return (0, 0, 0) }
            let i = y * w + x
            if c >= 3 { return (byte(s[i]), byte(s[plane + i]), byte(s[2 * plane + i])) }
            let g = byte(s[i])
            return (g, g, g)
        }
        return (read, h, w)
    }
}
