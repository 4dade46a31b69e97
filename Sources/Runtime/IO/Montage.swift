/// The cell size that keeps pictures of side `size` legible in a montage: the smallest whole
/// multiple of `size` that is at least 140 px (28 -> 140, 32 -> 160, 64 -> 192; 140 px hold
/// 11 characters of label per line at the montage's 2x text, enough for "integrated_"),
/// `size` itself when larger. Whole multiples keep every source pixel the same size.
public func montageCellSize(forImageSize size: Int) -> Int {
    let minimum = 140
    guard size > 0, size < minimum else { return Swift.max(size, 1) }
    return size * ((minimum + size - 1) / size)
}

/// A labelled grid of RGB images: one row per input image, one column per method.
///
/// Layout (all in pixels, s = text scale: 2 when cells are at least 96 px, else 1; a text
/// line is 9s + s tall: the 5x7 glyphs, two rows of descender and one blank row):
/// - every cell is `cellH x cellW`: `cellSize x cellSize` when given, else the largest image
///   height and width; images are stretched to the cell by nearest resize;
/// - column labels are never cut: each wraps (after '_', '-', '/', '.' or a space, else where
///   the line ends) to the cell width, and the band above the cells is as tall as the label
///   with most lines, plus padding; it is absent when every column label is empty;
/// - a row-label band of width (longest row label) * 6s - s + padding sits left of the cells
///   when any row label is non-empty; row labels are vertically centred;
/// - `note`, when given, is one more band below the cells, wrapped to the montage's width
///   (what the picture leaves out, say);
/// - height = padding + top band + rows * (cellH + padding) + note band,
///   width = padding + left band + columns * (cellW + padding), columns = longest row.
/// White background, dark gray (0.1) text; missing cells of ragged rows stay white. Gray
/// images are replicated to RGB. Returns [3, H, W].
public func montage(rows: [[Tensor]], rowLabels: [String], columnLabels: [String],
                    cellSize: Int? = nil, padding: Int = 4, note: String? = nil) -> Tensor {
    let pad = Swift.max(0, padding)
    let planes = rows.map { $0.map(rgbPlanes) }
    let cols = rows.map(\.count).max() ?? 0
    let cellH: Int, cellW: Int
    if let c = cellSize, c > 0 {
        (cellH, cellW) = (c, c)
    } else {
        cellH = Swift.max(1, planes.joined().map(\.h).max() ?? 1)
        cellW = Swift.max(1, planes.joined().map(\.w).max() ?? 1)
    }
    let s = Swift.min(cellH, cellW) >= 96 ? 2 : 1
    let lineH = (BitmapFont.glyphHeight + 1) * s
    // A column label may run into the padding, but leaves one character's advance blank
    // before the next column's label (a label exactly as wide as its cell read as one word
    // with its neighbour: "input_x_gradientdeconvnet").
    let columnChars = BitmapFont.characters(fitting: cellW + pad - BitmapFont.advance * s, scale: s)
    let columnLines = columnLabels.prefix(cols).map {
        $0.isEmpty ? [] : BitmapFont.wrap($0, width: columnChars)
    }
    let hasRowLabels = rowLabels.contains { !$0.isEmpty }
    let maxColumnLines = columnLines.map(\.count).max() ?? 0
    let topBand = maxColumnLines > 0 ? maxColumnLines * lineH + pad : 0
    let longest = rowLabels.map(\.count).max() ?? 0
    let leftBand = hasRowLabels ? longest * BitmapFont.advance * s - s + pad : 0
    let width = pad + leftBand + cols * (cellW + pad)
    let noteLines = note.map { BitmapFont.wrap($0, width: BitmapFont.characters(fitting: Swift.max(width - 2 * pad, 1), scale: s)) } ?? []
    let gridBottom = pad + topBand + rows.count * (cellH + pad)
    let height = gridBottom + (noteLines.isEmpty ? 0 : noteLines.count * lineH + pad)
    let plane = height * width
    var canvas = [Float](repeating: 1, count: 3 * plane)

    func drawText(_ text: String, x0: Int, y0: Int) {
        let ink: Float = 0.1
        for (k, ch) in text.enumerated() {
            let gx = x0 + k * BitmapFont.advance * s
            for gy in 0..<BitmapFont.glyphHeight {
                for gxi in 0..<BitmapFont.glyphWidth where BitmapFont.isInk(ch, x: gxi, y: gy) {
                    for dy in 0..<s {
                        for dx in 0..<s {
                            let x = gx + gxi * s + dx, y = y0 + gy * s + dy
                            guard x >= 0, x < width, y >= 0, y < height else { continue }
                            for c in 0..<3 { canvas[c * plane + y * width + x] = ink }
                        }
                    }
                }
            }
        }
    }

    let cellsX = pad + leftBand
    let cellsY = pad + topBand
    for (j, lines) in columnLines.enumerated() {
        for (k, line) in lines.enumerated() { drawText(line, x0: cellsX + j * (cellW + pad), y0: pad + k * lineH) }
    }
    for (k, line) in noteLines.enumerated() { drawText(line, x0: pad, y0: gridBottom + k * lineH) }
    for (i, row) in planes.enumerated() {
        let y0 = cellsY + i * (cellH + pad)
        if hasRowLabels, i < rowLabels.count {
            // Vertically centred in the row (on the glyph body, not the descender rows).
            let ty = y0 + Swift.max(0, (cellH - BitmapFont.tableRows * s) / 2)
            drawText(rowLabels[i], x0: pad, y0: ty)
        }
        for (j, img) in row.enumerated() where !img.values.isEmpty {
            let x0 = cellsX + j * (cellW + pad)
            let cell = resizeNearest(img.values, channels: 3, h: img.h, w: img.w, toHeight: cellH, toWidth: cellW)
            for c in 0..<3 {
                for y in 0..<cellH {
                    let dst = c * plane + (y0 + y) * width + x0
                    let src = c * cellH * cellW + y * cellW
                    for x in 0..<cellW {
                        let v = cell[src + x]
                        canvas[dst + x] = v.isNaN ? 0 : Swift.min(Swift.max(v, 0), 1)
                    }
                }
            }
        }
    }
    return Tensor(shape: [3, height, width], data: canvas)
}
