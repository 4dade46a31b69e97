import Foundation
import Testing
@testable import Runtime

/// RISE's insertion blur: `conv2d(x, gkern(11, 5), padding=5)` — gkern's kernel (scipy's
/// gaussian_filter of a delta) with zero padding — and the reflect alternative.
@Suite("RISE blur")
struct RISEBlurTests {
    /// scipy 1.17.1: `gaussian_filter1d(delta, 5)` for an 11-long delta at index 5 (gkern's
    /// 1-D factor; gkern(11, 5) is its outer product to 2e-18).
    static let scipyKernel: [Float] = [0.08795815, 0.08889612, 0.0904742, 0.09219112, 0.09348939, 0.09398206,
                                       0.09348939, 0.09219112, 0.0904742, 0.08889612, 0.08795815]

    @Test func kernelIsScipysGaussianFilterOfADelta() {
        let k = Tensor.riseGaussianKernel1D(size: 11, sigma: 5)
        // The scipy values are printed to 8 significant digits.
        for (a, b) in zip(k, Self.scipyKernel) { #expect(abs(a - b) <= 1e-8) }
        #expect(abs(k.reduce(0, +) - 1) <= 1e-6)  // reflection folds the tails back: mass is kept
        // A narrow Gaussian inside the window is just the truncated, normalised Gaussian.
        expectClose(Tensor(shape: [5], data: Tensor.riseGaussianKernel1D(size: 5, sigma: 0.5)),
                    Tensor(shape: [5], data: Tensor.gaussianKernel1D(size: 5, sigma: 0.5)), tol: 1e-6)
    }

    /// The blurred value at (y, x) by the 2-D definition: Σ K[a][b] · img[y + a − 5][x + b − 5]
    /// over the 11 x 11 outer-product kernel, zero outside the image.
    static func handBlur(_ img: [Float], h: Int, w: Int, y: Int, x: Int) -> Double {
        let k = scipyKernel.map(Double.init)
        var s = 0.0
        for a in 0..<11 {
            for b in 0..<11 {
                let (i, j) = (y + a - 5, x + b - 5)
                if i >= 0 && i < h && j >= 0 && j < w { s += k[a] * k[b] * Double(img[i * w + j]) }
            }
        }
        return s
    }

    @Test func zeroPaddingDarkensTheBorderByHand() {
        let (h, w) = (16, 14)
        let img = (0..<(h * w)).map { Float(sin(Double($0) * 0.37) * 0.5 + 0.5) }
        let k = Tensor.riseGaussianKernel1D(size: 11, sigma: 5)
        let blurred = Tensor(shape: [1, 1, h, w], data: img).separableBlur(kernel: k, padding: .zero).scalars
        // A border pixel (row 0, column 3: 5 rows and 2 columns of the kernel fall outside) and
        // an interior one (the whole kernel inside). Float separable sums of 121 terms of size
        // 0.01 against a Double direct sum: 1e-6.
        for (y, x) in [(0, 3), (8, 7), (15, 13)] {
            #expect(abs(Double(blurred[y * w + x]) - Self.handBlur(img, h: h, w: w, y: y, x: x)) <= 1e-6, "pixel (\(y), \(x))")
        }
        // A constant image: the corner keeps only the kernel's lower-right quadrant,
        // (k5 + ... + k10)² = 0.54699104² = 0.29919920; an interior pixel keeps everything.
        let ones = Tensor.ones([1, 1, h, w]).separableBlur(kernel: k, padding: .zero).scalars
        #expect(abs(ones[0] - 0.29919920) <= 1e-6)
        #expect(abs(ones[8 * w + 7] - 1) <= 1e-6)
        // Reflect padding keeps a constant image constant everywhere.
        let reflected = Tensor.ones([1, 1, h, w]).separableBlur(kernel: k, padding: .reflect).scalars
        #expect(reflected.allSatisfy { abs($0 - 1) <= 1e-6 })
    }

    @Test func blurGradients() {
        let gc = GradCheck()
        gc.check([randomTensor([1, 2, 4, 5], seed: 60)]) { $0[0].separableBlur(kernel: Tensor.riseGaussianKernel1D(size: 3, sigma: 1), padding: .zero) }
        // Kernel wider than the image.
        gc.check([randomTensor([1, 1, 3, 4], seed: 61)]) { $0[0].separableBlur(kernel: Tensor.riseGaussianKernel1D(size: 11, sigma: 5), padding: .zero) }
        gc.check([randomTensor([1, 1, 3, 4], seed: 62)]) { $0[0].separableBlur(kernel: Tensor.riseGaussianKernel1D(size: 5, sigma: 2), padding: .reflect) }
    }
}
