import Foundation
import Testing
@testable import Runtime

@Suite("Norm, resample, loss")
struct NormResampleLossTests {
    let gc = GradCheck()

    private func t(_ shape: [Int], _ data: [Float]) -> Tensor { Tensor(shape: shape, data: data) }

    // MARK: Linear

    @Test func linearForward() {
        let x = t([2, 3], [1, 2, 3, 4, 5, 6])
        let w = t([2, 3], [1, 0, -1, 0.5, 0.5, 0.5])
        let b = t([2], [10, -1])
        expectClose(x.linear(w), t([2, 2], [-2, 3, -2, 7.5]))
        expectClose(x.linear(w, bias: b), t([2, 2], [8, 2, 8, 6.5]))
        // Leading axes are rows.
        expectClose(x.reshaped([1, 2, 3]).linear(w, bias: b), t([1, 2, 2], [8, 2, 8, 6.5]))
    }

    @Test func linearGradients() {
        let x = randomTensor([3, 4], seed: 1), w = randomTensor([5, 4], seed: 2), b = randomTensor([5], seed: 3)
        gc.check([x, w, b]) { $0[0].linear($0[1], bias: $0[2]) }
        gc.check([x, w]) { $0[0].linear($0[1]) }
        gc.check([randomTensor([2, 2, 4], seed: 4), w]) { $0[0].linear($0[1]) }
        // Only the inputs that need a gradient get one.
        let wl = w.requiringGrad()
        let gw = gradient(of: x.linear(wl, bias: b).sum(), wrt: wl)
        expectClose(gw, Tensor.ones([5, 1]).matmul(x.sum(axis: 0, keepDims: true)))
    }

    // MARK: Batch norm

    @Test func batchNormInferenceForward() {
        let mean = t([2], [1, 2]), variance = t([2], [4, 0.25])
        let scale = t([2], [2, -1]), bias = t([2], [0.5, 1])
        // (x - mean) / sqrt(var) * scale + bias, by hand.
        expectClose(t([2, 2], [1, 2, 3, 4]).batchNorm(mean: mean, variance: variance, scale: scale, bias: bias, eps: 0),
                    t([2, 2], [0.5, 1, 2.5, -3]))
        expectClose(t([1, 2, 1, 2], [1, 3, 2, 4]).batchNorm(mean: mean, variance: variance, scale: scale, bias: bias, eps: 0),
                    t([1, 2, 1, 2], [0.5, 2.5, 1, -3]))
        expectClose(t([1, 2, 1, 2], [1, 3, 2, 4]).batchNorm(mean: mean, variance: variance, scale: nil, bias: nil, eps: 0),
                    t([1, 2, 1, 2], [0, 1, 0, 4]))
        // eps goes under the square root.
        expectClose(t([1, 1], [3]).batchNorm(mean: t([1], [0]), variance: t([1], [3]), scale: nil, bias: nil, eps: 1),
                    t([1, 1], [1.5]))
    }

    @Test func batchNormInferenceGradients() {
        let x = randomTensor([2, 3, 2, 2], seed: 10)
        let mean = randomTensor([3], seed: 11), variance = randomTensor([3], seed: 12, low: 0.5, high: 2)
        let scale = randomTensor([3], seed: 13), bias = randomTensor([3], seed: 14)
        gc.check([x, scale, bias]) { $0[0].batchNorm(mean: mean, variance: variance, scale: $0[1], bias: $0[2]) }
        gc.check([x, mean, variance, scale]) { $0[0].batchNorm(mean: $0[1], variance: $0[2], scale: $0[3], bias: nil) }
        gc.check([randomTensor([4, 3], seed: 15)]) { $0[0].batchNorm(mean: mean, variance: variance, scale: nil, bias: bias) }
    }

    @Test func batchNormTrainingForward() {
        // Reference values from PyTorch 2.13: F.batch_norm(x, running_mean=0, running_var=1,
        // weight, bias, training=True, momentum=1.0, eps=1e-5); running stats then hold the
        // batch mean and the unbiased batch variance.
        let x = t([2, 3, 2], [-1.5, 1.0, 0.0, -1.0, 1.5, 0.5, -0.5, -1.5, 1.0, 0.0, -1.0, 1.5])
        let r = x.batchNormTraining(scale: t([3], [1.5, -0.5, 2.0]), bias: t([3], [0.1, 0.2, -0.3]))
        expectClose(r.output, t([2, 3, 2], [-1.1827729940414429, 2.482292652130127, 0.20000000298023224,
                                            0.907099723815918, 1.4103641510009766, -0.5443376898765564,
                                            0.2832533121109009, -1.1827729940414429, -0.5070997476577759,
                                            0.20000000298023224, -3.4763903617858887, 1.4103641510009766]))
        expectClose(r.mean, t([3], [-0.625, 0.0, 0.625]))
        expectClose(r.variance, t([3], [1.3958333730697632, 0.6666666865348816, 1.3958333730697632]))

        // [N, C] by hand: columns [1, 3, 0] and [2, 5, -1].
        let y = t([3, 2], [1, 2, 3, 5, 0, -1]).batchNormTraining(scale: nil, bias: nil, eps: 0)
        expectClose(y.mean, t([2], [4.0 / 3, 2]))
        expectClose(y.variance, t([2], [7.0 / 3, 9]))
        let sd0 = Float((14.0 / 9).squareRoot()), sd1 = Float(6.0.squareRoot())
        expectClose(y.output, t([3, 2], [(1 - 4.0 / 3) / sd0, 0, (3 - 4.0 / 3) / sd0, 3 / sd1, (0 - 4.0 / 3) / sd0, -3 / sd1]))
        // The statistics carry no gradient.
        let z = x.requiringGrad().batchNormTraining(scale: nil, bias: nil)
        #expect(z.output.requiresGrad && !z.mean.requiresGrad && !z.variance.requiresGrad)
    }

    @Test func batchNormTrainingGradients() {
        let x = randomTensor([3, 2, 2, 2], seed: 20)
        let scale = randomTensor([2], seed: 21, low: 0.5, high: 1.5), bias = randomTensor([2], seed: 22)
        gc.check([x, scale, bias]) { $0[0].batchNormTraining(scale: $0[1], bias: $0[2]).output }
        gc.check([x]) { $0[0].batchNormTraining(scale: nil, bias: nil).output }
        gc.check([randomTensor([4, 3], seed: 23), randomTensor([3], seed: 24)]) {
            $0[0].batchNormTraining(scale: $0[1], bias: nil).output
        }
    }

    // MARK: Dropout

    @Test func dropout() {
        var rng = RandomGenerator(seed: 5)
        let x = randomTensor([4, 5], seed: 30)
        let eval = x.dropout(p: 0.5, training: false, rng: &rng)
        #expect(eval.scalars == x.scalars)
        #expect(x.dropout(p: 0, training: true, rng: &rng).scalars == x.scalars)

        let ones = Tensor.ones([20_000])
        let y = ones.dropout(p: 0.3, training: true, rng: &rng)
        let mean = y.scalars.reduce(0, +) / Float(y.count)
        let dropped = Float(y.scalars.filter { $0 == 0 }.count) / Float(y.count)
        #expect(Swift.abs(mean - 1) < 0.03, "mean \(mean)")
        #expect(Swift.abs(dropped - 0.3) < 0.02, "dropped fraction \(dropped)")
        #expect(y.scalars.allSatisfy { $0 == 0 || Swift.abs($0 - 1 / 0.7) < 1e-6 })
        #expect(Tensor.ones([3]).dropout(p: 1, training: true, rng: &rng).scalars == [0, 0, 0])

        // Same seed, same mask: the gradient is the mask scaled by 1 / (1 - p).
        gc.check([x]) { xs in
            var r = RandomGenerator(seed: 7)
            return xs[0].dropout(p: 0.4, training: true, rng: &r)
        }
    }

    // MARK: Resampling (reference values from PyTorch 2.13 F.interpolate, antialias off)

    let img22 = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
    let img33 = Tensor(shape: [1, 1, 3, 3], data: [1, 5, 2, 0, 3, 7, 4, -1, 6])
    /// (i * 37) mod 11 for i in 0..<35.
    let img57 = Tensor(shape: [1, 1, 5, 7], data: (0..<35).map { Float(($0 * 37) % 11) })

    @Test func nearestMatchesPyTorch() {
        expectClose(img22.upsampleNearest(size: [4, 4]),
                    t([1, 1, 4, 4], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]), tol: 0)
        expectClose(img33.upsampleNearest(size: [5, 7]),
                    t([1, 1, 5, 7], [1, 1, 1, 5, 5, 2, 2, 1, 1, 1, 5, 5, 2, 2, 0, 0, 0, 3, 3, 7, 7,
                                     0, 0, 0, 3, 3, 7, 7, 4, 4, 4, -1, -1, 6, 6]), tol: 0)
        expectClose(img57.upsampleNearest(size: [2, 3]), t([1, 1, 2, 3], [0, 8, 5, 1, 9, 6]), tol: 0)
    }

    @Test func bilinearMatchesPyTorch() {
        expectClose(img22.upsampleBilinear(size: [4, 4]),
                    t([1, 1, 4, 4], [1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0]))
        expectClose(img22.upsampleBilinear(size: [4, 4], alignCorners: true),
                    t([1, 1, 4, 4], [1.0, 1.3333332538604736, 1.6666667461395264, 2.0,
                                     1.6666666269302368, 2.0, 2.3333334922790527, 2.6666665077209473,
                                     2.3333334922790527, 2.6666665077209473, 3.0, 3.3333334922790527,
                                     3.0, 3.3333332538604736, 3.6666667461395264, 4.0]))
        expectClose(img33.upsampleBilinear(size: [5, 7]),
                    t([1, 1, 5, 7], [1.0, 1.5714285373687744, 3.2857143878936768, 5.0, 3.7142856121063232, 2.4285712242126465, 2.0,
                                     0.5999999642372131, 1.1142857074737549, 2.6571428775787354, 4.199999809265137, 4.114285469055176, 4.028571605682373, 4.0,
                                     0.0, 0.4285714626312256, 1.7142858505249023, 3.0, 4.714285850524902, 6.428571701049805, 7.0,
                                     2.40000057220459, 2.142857551574707, 1.371428370475769, 0.5999994277954102, 3.0857138633728027, 5.571428298950195, 6.399999618530273,
                                     4.0, 3.2857143878936768, 1.1428570747375488, -1.0, 2.000000238418579, 5.000000953674316, 6.0]), tol: 2e-6)
        expectClose(img33.upsampleBilinear(size: [5, 7], alignCorners: true),
                    t([1, 1, 5, 7], [1.0, 2.3333334922790527, 3.6666667461395264, 5.0, 4.0, 2.999999761581421, 2.0,
                                     0.5, 1.6666667461395264, 2.8333334922790527, 4.0, 4.1666669845581055, 4.333333492279053, 4.5,
                                     0.0, 1.0, 2.0, 3.0, 4.333333492279053, 5.6666669845581055, 7.0,
                                     2.0, 1.6666666269302368, 1.3333332538604736, 1.0, 2.8333334922790527, 4.6666669845581055, 6.5,
                                     4.0, 2.3333332538604736, 0.666666567325592, -1.0, 1.3333336114883423, 3.6666672229766846, 6.0]), tol: 2e-6)
        // Downsampling.
        expectClose(img57.upsampleBilinear(size: [2, 3]),
                    t([1, 1, 2, 3], [7.166666507720947, 5.5, 5.666666030883789, 2.9166669845581055, 6.75, 5.083332061767578]), tol: 2e-6)
        expectClose(img57.upsampleBilinear(size: [2, 3], alignCorners: true), t([1, 1, 2, 3], [0, 1, 2, 2, 3, 4]), tol: 2e-6)
        expectClose(img57.upsampleBilinear(size: [3, 4]),
                    t([1, 1, 3, 4], [3.5, 5.9166669845581055, 3.2916669845581055, 5.25, 2.5, 8.125, 5.5, 5.625,
                                     3.7916665077209473, 7.583332538604736, 4.958332538604736, 4.166667461395264]), tol: 2e-6)
        // Same size is the identity; planes are independent.
        let x = randomTensor([2, 3, 4, 5], seed: 40)
        expectClose(x.upsampleBilinear(size: [4, 5]), x, tol: 0)
        expectClose(x.upsampleBilinear(size: [7, 9]).slice(axis: 1, 1..<2), x.slice(axis: 1, 1..<2).upsampleBilinear(size: [7, 9]), tol: 0)
    }

    @Test func resampleGradients() {
        let x = randomTensor([2, 2, 3, 3], seed: 41)
        gc.check([x]) { $0[0].upsampleNearest(size: [5, 7]) }
        gc.check([x]) { $0[0].upsampleNearest(size: [2, 2]) }
        gc.check([x]) { $0[0].upsampleBilinear(size: [5, 7]) }
        gc.check([x]) { $0[0].upsampleBilinear(size: [5, 7], alignCorners: true) }
        gc.check([x]) { $0[0].upsampleBilinear(size: [2, 2]) }
        gc.check([randomTensor([1, 1, 5, 7], seed: 42)]) { $0[0].upsampleBilinear(size: [3, 4], alignCorners: true) }
        gc.check([randomTensor([1, 2, 4], seed: 43)]) { $0[0].upsampleBilinear(size: [7]) }
    }

    // MARK: Gaussian blur

    @Test func gaussianKernelMatchesTorchvision() {
        // torchvision's _get_gaussian_kernel1d(5, 1.5), evaluated with PyTorch 2.13.
        let k = Tensor.gaussianKernel1D(size: 5, sigma: 1.5)
        expectClose(t([5], k), t([5], [0.12007836997509003, 0.23388074338436127, 0.29208171367645264,
                                       0.23388074338436127, 0.12007836997509003]), tol: 1e-7)
        #expect(Swift.abs(Tensor.gaussianKernel1D(size: 11, sigma: 5).reduce(0, +) - 1) < 1e-6)
    }

    @Test func gaussianBlurForward() {
        // A constant image is unchanged (the kernel sums to 1, reflect padding keeps the constant).
        let c = Tensor.full([1, 2, 8, 9], 0.7)
        expectClose(c.gaussianBlur(kernelSize: 11, sigma: 5), c, tol: 1e-6)
        expectClose(Tensor.full([1, 1, 3, 2], -2).gaussianBlur(kernelSize: 11, sigma: 5), Tensor.full([1, 1, 3, 2], -2), tol: 1e-6)

        // A delta away from the border gives the normalised 2-D kernel (outer product).
        let k = Tensor.gaussianKernel1D(size: 11, sigma: 5)
        var delta = Tensor.zeros([1, 1, 15, 15])
        delta.withUnsafeMutableBufferPointer { $0[7 * 15 + 7] = 1 }
        let blurred = delta.gaussianBlur(kernelSize: 11, sigma: 5)
        let expected = Tensor(shape: [1, 1, 15, 15]) { b in
            for i in 0..<11 { for j in 0..<11 { b[(i + 2) * 15 + j + 2] = k[i] * k[j] } }
        }
        expectClose(blurred, expected, tol: 1e-7)

        // Reflect padding at the borders: reference is torchvision's recipe run in PyTorch 2.13
        // (F.pad(mode='reflect') then conv2d with the outer-product kernel), kernel 5, sigma 1.5.
        let d = t([1, 1, 6, 6], (0..<36).map { Float(($0 * 7) % 5) - 2 })
        expectClose(d.gaussianBlur(kernelSize: 5, sigma: 1.5),
                    t([1, 1, 6, 6], [0.38056284189224243, 0.30912601947784424, 0.10579557716846466, -0.0850459411740303, -0.31792229413986206, -0.4044695496559143,
                                     0.30912601947784424, 0.24153874814510345, 0.056398987770080566, -0.08404155820608139, -0.23423795402050018, -0.2684425413608551,
                                     0.10579559206962585, 0.056398987770080566, -0.03605726361274719, -0.0588744692504406, -0.020341716706752777, 0.011953365057706833,
                                     -0.08504591882228851, -0.08404155820608139, -0.0588744692504406, 1.1175870895385742e-08, 0.1068587526679039, 0.15716047585010529,
                                     -0.31792229413986206, -0.2342379242181778, -0.020341720432043076, 0.1068587601184845, 0.20411990582942963, 0.20512428879737854,
                                     -0.4044695496559143, -0.2684425413608551, 0.011953363195061684, 0.1571604460477829, 0.20512428879737854, 0.19287839531898499]),
                    tol: 1e-6)
    }

    @Test func gaussianBlurGradients() {
        gc.check([randomTensor([1, 2, 4, 5], seed: 50)]) { $0[0].gaussianBlur(kernelSize: 3, sigma: 0.8) }
        // Padding wider than the image (reflects back and forth).
        gc.check([randomTensor([1, 1, 3, 4], seed: 51)]) { $0[0].gaussianBlur(kernelSize: 11, sigma: 5) }
    }

    // MARK: Losses

    let logits = Tensor(shape: [2, 4], data: [1.0, 2.0, 0.5, -1.0, 0.3, -0.2, 2.5, 1.0])
    let teacher = Tensor(shape: [2, 4], data: [0.5, 1.0, 1.5, -0.5, 2.0, 0.0, 1.0, -1.0])

    @Test func crossEntropyValues() {
        #expect(Swift.abs(Tensor.crossEntropy(logits: Tensor.full([3, 5], 2.5), labels: [0, 4, 2]).item - Foundation.log(5)) < 1e-6)
        // References from PyTorch 2.13 F.cross_entropy.
        #expect(Swift.abs(Tensor.crossEntropy(logits: logits, labels: [1, 3]).item - 1.1662335395812988) < 1e-6)
        let soft = t([2, 4], [0.1, 0.6, 0.2, 0.1, 0.25, 0.25, 0.0, 0.5])
        #expect(Swift.abs(Tensor.crossEntropy(logits: logits, targetProbabilities: soft).item - 1.7537336349487305) < 1e-6)
        // One-hot targets give the hard-label loss; huge logits stay finite.
        let oneHot = t([2, 4], [0, 1, 0, 0, 0, 0, 0, 1])
        #expect(Swift.abs(Tensor.crossEntropy(logits: logits, targetProbabilities: oneHot).item - 1.1662335395812988) < 1e-6)
        let big = t([1, 3], [1000, 0, -1000])
        #expect(Swift.abs(Tensor.crossEntropy(logits: big, labels: [1]).item - 1000) < 1e-3)
        #expect(Tensor.crossEntropy(logits: big, labels: [0]).item == 0)
    }

    @Test func klDivergenceValues() {
        #expect(Swift.abs(Tensor.klDivergence(studentLogits: logits, teacherLogits: logits, temperature: 3).item) < 1e-7)
        // Reference from PyTorch 2.13: F.kl_div(log_softmax(s/T), log_softmax(t/T),
        // reduction='batchmean', log_target=True) * T^2 with T = 2.
        #expect(Swift.abs(Tensor.klDivergence(studentLogits: logits, teacherLogits: teacher, temperature: 2).item - 0.7441181540489197) < 1e-6)
    }

    @Test func regressionLossValues() {
        let a = t([2, 2], [1, 2, 3, 4]), b = t([2, 2], [0, 4, 3, 1])
        #expect(Tensor.mse(a, b).item == Float(1 + 4 + 0 + 9) / 4)
        #expect(Tensor.l1(a, b).item == Float(1 + 2 + 0 + 3) / 4)
    }

    @Test func lossGradients() {
        let x = randomTensor([3, 5], seed: 60, low: -2, high: 2)
        gc.check([x]) { Tensor.crossEntropy(logits: $0[0], labels: [4, 0, 2]) }
        let target = randomTensor([3, 5], seed: 61, low: 0, high: 1)
        gc.check([x, target]) { Tensor.crossEntropy(logits: $0[0], targetProbabilities: $0[1]) }
        let y = randomTensor([3, 5], seed: 62, low: -2, high: 2)
        gc.check([x, y]) { Tensor.klDivergence(studentLogits: $0[0], teacherLogits: $0[1], temperature: 2) }
        gc.check([x, y]) { Tensor.klDivergence(studentLogits: $0[0], teacherLogits: $0[1], temperature: 0.7) }
        gc.check([x, y]) { Tensor.mse($0[0], $0[1]) }
        let diff = awayFromZero([3, 5], seed: 63)
        gc.check([y + diff, y]) { Tensor.l1($0[0], $0[1]) }
        // The teacher gets no gradient unless it asks for one.
        let s = x.requiringGrad()
        let g = gradient(of: Tensor.klDivergence(studentLogits: s, teacherLogits: y, temperature: 2), wrt: s)
        let expected = (s.detached() * 0.5).softmax(axis: 1) - (y * 0.5).softmax(axis: 1)
        expectClose(g, expected * (2.0 / 3), tol: 1e-6)
    }
}
