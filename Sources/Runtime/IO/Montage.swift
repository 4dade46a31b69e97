/// A labelled grid of RGB images: one row per input image, one column per method.
///
/// Layout (all in pixels, s = text scale: 2 when cells are at least 128 px tall, else 1):
/// - every cell is `cellH x cellW`: `cellSize x cellSize` when given, else the largest image
///   height and width; images are stretched to the cell by nearest resize;
/// - a column-label band of height 7s + padding sits above the cells when any column label
///   is non-empty, and a row-label band of width (longest row label) * 6s - s + padding sits
///   left of the cells when any row label is non-empty;
/// - height = padding + band + rows * (cellH + padding),
///   width = padding + band + columns * (cellW + padding), columns = longest row.
/// White background, dark gray (0.1) text; column labels are cut to the cell width; missing
/// cells of ragged rows stay white. Gray images are replicated to RGB. Returns [3, H, W].
/// The cell size that keeps pictures of side `size` legible in a montage: small images are
/// enlarged 4x (28 -> 112, room for an 18-character column label), middling ones 2x.
public func montageCellSize(forImageSize size: Int) -> Int {
    size < 64 ? size * 4 : (size < 128 ? size * 2 : size)
}

public func montage(rows: [[Tensor]], rowLabels: [String], columnLabels: [String],
                    cellSize: Int? = nil, padding: Int = 4) -> Tensor {
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
    let s = cellH >= 128 ? 2 : 1
    let hasColumnLabels = columnLabels.contains { !$0.isEmpty }
    let hasRowLabels = rowLabels.contains { !$0.isEmpty }
    let topBand = hasColumnLabels ? BitmapFont.glyphHeight * s + pad : 0
    let longest = rowLabels.map(\.count).max() ?? 0
    let leftBand = hasRowLabels ? longest * BitmapFont.advance * s - s + pad : 0
    let height = pad + topBand + rows.count * (cellH + pad)
    let width = pad + leftBand + cols * (cellW + pad)
    let plane = height * width
    var canvas = [Float](repeating: 1, count: 3 * plane)

    func drawText(_ text: String, x0: Int, y0: Int, maxWidth: Int) {
        let ink: Float = 0.1
        for (k, ch) in text.enumerated() {
            let gx = x0 + k * BitmapFont.advance * s
            if gx + BitmapFont.glyphWidth * s > x0 + maxWidth { break }
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
    if hasColumnLabels {
        for (j, label) in columnLabels.prefix(cols).enumerated() {
            drawText(label, x0: cellsX + j * (cellW + pad), y0: pad, maxWidth: cellW)
        }
    }
    for (i, row) in planes.enumerated() {
        let y0 = cellsY + i * (cellH + pad)
        if hasRowLabels, i < rowLabels.count {
            // Vertically centred in the row.
            let ty = y0 + Swift.max(0, (cellH - BitmapFont.glyphHeight * s) / 2)
            drawText(rowLabels[i], x0: pad, y0: ty, maxWidth: leftBand)
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
