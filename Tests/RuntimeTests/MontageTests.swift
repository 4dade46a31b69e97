import Testing
@testable import Runtime

/// Montage labels a person can read: upscaled cells, full column labels wrapped instead of
/// cut, descenders that tell g from 9, and a note band for what the montage leaves out.
@Suite("Montage labels")
struct MontageTests {
    @Test func labelsWrapAtSeparatorsAndAreNeverShortened() {
        #expect(BitmapFont.wrap("integrated_gradients", width: 11) == ["integrated_", "gradients"])
        #expect(BitmapFont.wrap("lenet-fmnist/gradient", width: 11) == ["lenet-", "fmnist/", "gradient"])
        #expect(BitmapFont.wrap("abcdefghijklmnop", width: 5) == ["abcde", "fghij", "klmno", "p"])
        #expect(BitmapFont.wrap("gradcam", width: 11) == ["gradcam"])
        #expect(BitmapFont.wrap("", width: 4) == [""])
        for (text, width) in [("guided_gradcam", 9), ("excitation_backprop", 11), ("a_b_c_d", 1), ("8 of 2000 images shown", 10)] {
            let lines = BitmapFont.wrap(text, width: width)
            #expect(lines.allSatisfy { $0.count <= width }, "\(lines)")
            #expect(lines.joined().filter { $0 != " " } == text.filter { $0 != " " }, "\(lines) lost characters of \(text)")
        }
    }

    @Test func smallImagesGetCellsOfAtLeast140Pixels() {
        #expect([28, 32, 64, 100, 140, 224].map(montageCellSize(forImageSize:)) == [140, 160, 192, 200, 140, 224])
        // 140 px at the 2x text hold 11 characters: "integrated_" on one line.
        #expect(BitmapFont.characters(fitting: 140, scale: 2) == 11)
    }

    @Test func descendersHangBelowTheBaseline() {
        func inkRows(_ c: Character) -> Set<Int> {
            Set((0..<BitmapFont.glyphHeight).filter { y in (0..<5).contains { BitmapFont.isInk(c, x: $0, y: y) } })
        }
        for c: Character in ["g", "j", "p", "q", "y"] { #expect(inkRows(c).contains(8), "\(c) has no descender") }
        for c: Character in ["9", "a", "P", "i", "_"] { #expect(inkRows(c).isDisjoint(with: [7, 8]), "\(c) reaches below the baseline") }
        #expect((0..<BitmapFont.glyphHeight).contains { y in (0..<5).contains { BitmapFont.isInk("g", x: $0, y: y) != BitmapFont.isInk("9", x: $0, y: y) } })
    }

    @Test func longColumnLabelsTakeMoreLinesAndTheNoteItsOwnBand() {
        let img = Tensor.zeros([1, 28, 28]), pad = 4, cell = 140, line = 20
        let m = montage(rows: [[img, img]], rowLabels: [], columnLabels: ["input", "integrated_gradients"], cellSize: cell, padding: pad,
                        note: "1 of 9 images shown")
        let top = pad + 2 * line + pad, width = pad + 2 * (cell + pad)
        #expect(m.shape == [3, top + cell + pad + line + pad, width])
        let v = m.scalars
        func dark(_ ys: Range<Int>, _ xs: Range<Int>) -> Int { ys.reduce(0) { n, y in n + xs.filter { v[y * width + $0] < 0.3 }.count } }
        let x1 = pad + cell + pad
        // "integrated_" on the first line, "gradients" on the second; "input" has one line.
        #expect(dark(pad..<(pad + line), x1..<(x1 + cell)) > 40)
        #expect(dark((pad + line)..<(pad + 2 * line), x1..<(x1 + cell)) > 40)
        #expect(dark((pad + line)..<(pad + 2 * line), pad..<(pad + cell)) == 0)
        // The note below the cells.
        let noteY = top + cell + pad
        #expect(dark(noteY..<(noteY + line), 0..<width) > 40)
        let plain = montage(rows: [[img, img]], rowLabels: [], columnLabels: ["input", "gradcam"], cellSize: cell, padding: pad)
        #expect(plain.shape == [3, pad + line + pad + cell + pad, width])
    }

    /// Neighbouring column labels never touch: at 192 px cells (the demo's 64 px images),
    /// "input_x_gradient" (16 characters, 190 px at 2x) would end 6 px before "deconvnet"; it
    /// wraps instead, and a character's advance (12 px) stays blank before the next label.
    @Test func columnLabelsKeepACharacterApart() {
        let img = Tensor.zeros([1, 64, 64]), pad = 4, cell = 192, line = 20, advance = BitmapFont.advance * 2
        let m = montage(rows: [[img, img]], rowLabels: [], columnLabels: ["input_x_gradient", "deconvnet"], cellSize: cell, padding: pad)
        let width = pad + 2 * (cell + pad)
        #expect(m.shape == [3, pad + 2 * line + pad + cell + pad, width])
        let v = m.scalars
        let nextLabel = pad + cell + pad
        let ink = (pad..<(pad + 2 * line)).reduce(0) { n, y in n + ((nextLabel - advance)..<nextLabel).filter { v[y * width + $0] < 0.3 }.count }
        #expect(ink == 0)
    }
}
