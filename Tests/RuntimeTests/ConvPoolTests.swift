import Testing
@testable import Runtime

/// Straightforward 7-loop convolution used as the reference for the optimised paths.
/// `pads` is (top, left, bottom, right).
private func naiveConv(_ x: Tensor, _ w: Tensor, bias: Tensor?, stride: (Int, Int), pads: (Int, Int, Int, Int),
                       dilation: (Int, Int), groups: Int) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let ho = (h + pads.0 + pads.2 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
    let wo = (wd + pads.1 + pads.3 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
    let og = o / groups
    var out = [Float](repeating: 0, count: n * o * ho * wo)
    for s in 0..<n { for oc in 0..<o { for i in 0..<ho { for j in 0..<wo {
        var acc: Float = bias.map { $0[flat: oc] } ?? 0
        for ci in 0..<cg { for a in 0..<kh { for b in 0..<kw {
            let ih = i * stride.0 - pads.0 + a * dilation.0, iw = j * stride.1 - pads.1 + b * dilation.1
            guard ih >= 0, ih < h, iw >= 0, iw < wd else { continue }
            let ch = (oc / og) * cg + ci
            acc += w[flat: ((oc * cg + ci) * kh + a) * kw + b] * x[flat: ((s * c + ch) * h + ih) * wd + iw]
        } } }
        out[((s * o + oc) * ho + i) * wo + j] = acc
    } } } }
    return Tensor(shape: [n, o, ho, wo], data: out)
}

private func dot(_ a: Tensor, _ b: Tensor) -> Double {
    var acc = 0.0
    for i in 0..<a.count { acc += Double(a[flat: i]) * Double(b[flat: i]) }
    return acc
}

/// Distinct values at least 0.1 apart in random order (max pooling stays differentiable
/// under GradCheck's +-0.01 perturbations).
private func distinctTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    let n = shape.reduce(1, *)
    var v = (0..<n).map { Float($0) * 0.1 - Float(n) * 0.05 }
    v.shuffle(using: &rng)
    return Tensor(shape: shape, data: v)
}

@Suite("Conv and pooling")
struct ConvPoolTests {
    let gc = GradCheck()
    /// 4x4 single-channel image 1...16 and a 3x3 kernel with known outputs.
    let x16 = Tensor(shape: [1, 1, 4, 4], data: (1...16).map(Float.init))
    let k3 = Tensor(shape: [1, 1, 3, 3], data: [1, 2, 0, 0, 1, -1, 1, 0, 1])

    // MARK: conv forward

    @Test func convHandCases() {
        expectClose(x16.conv2d(k3), Tensor(shape: [1, 1, 2, 2], data: [24, 29, 44, 49]))
        expectClose(x16.conv2d(k3, stride: [2, 2], padding: [1, 1]), Tensor(shape: [1, 1, 2, 2], data: [5, 13, 23, 49]))
        expectClose(x16.conv2d(k3, padding: [1, 1], dilation: [2, 2]), Tensor(shape: [1, 1, 2, 2], data: [14, 20, 2, 18]))
        // ONNX pads order: top 1, left 0, bottom 0, right 1.
        expectClose(x16.conv2d(k3, padding: [1, 0, 0, 1]),
                    Tensor(shape: [1, 1, 3, 3], data: [11, 13, 11, 24, 29, 30, 44, 49, 50]))
        expectClose(x16.conv2d(k3, bias: Tensor(shape: [1], data: [0.5])),
                    Tensor(shape: [1, 1, 2, 2], data: [24.5, 29.5, 44.5, 49.5]))
    }

    @Test func groupedConvHandCase() {
        // Channel 0 = 1...16, channel 1 = -(rows flipped); group 0 uses k3, group 1 a ones kernel.
        let flipped = (0..<4).reversed().flatMap { r in (1...4).map { -Float(r * 4 + $0) } }
        let x = Tensor(shape: [1, 2, 4, 4], data: x16.scalars + flipped)
        let w = Tensor(shape: [2, 1, 3, 3], data: k3.scalars + [Float](repeating: 1, count: 9))
        let y = x.conv2d(w, bias: Tensor(shape: [2], data: [10, -1]), groups: 2)
        expectClose(y, Tensor(shape: [1, 2, 2, 2], data: [34, 39, 54, 59, -91, -100, -55, -64]))
    }

    @Test func convMatchesNaiveReference() {
        // (input, weight, stride, pads, dilation, groups): exercises the general im2col path,
        // batch scatter, 1x1 pointwise GEMM, 1x1 strided, grouped and depthwise loops.
        let cases: [([Int], [Int], (Int, Int), (Int, Int, Int, Int), (Int, Int), Int)] = [
            ([2, 3, 7, 6], [4, 3, 3, 3], (1, 1), (1, 1, 1, 1), (1, 1), 1),
            ([3, 2, 9, 8], [5, 2, 3, 2], (2, 3), (2, 0, 1, 1), (1, 2), 1),
            ([2, 4, 6, 6], [6, 2, 3, 3], (1, 2), (0, 1, 2, 0), (2, 1), 2),
            ([2, 5, 5, 4], [3, 5, 1, 1], (1, 1), (0, 0, 0, 0), (1, 1), 1),
            ([2, 4, 7, 7], [6, 4, 1, 1], (2, 2), (0, 0, 0, 0), (1, 1), 1),
            ([2, 4, 4, 5], [4, 2, 1, 1], (1, 1), (0, 0, 0, 0), (1, 1), 2),
            ([2, 3, 8, 7], [3, 1, 3, 3], (2, 1), (1, 1, 1, 0), (1, 1), 3),
            ([1, 3, 6, 6], [6, 1, 3, 2], (1, 2), (2, 1, 0, 1), (2, 1), 3),
            ([1, 1, 5, 5], [2, 1, 5, 5], (1, 1), (0, 0, 0, 0), (1, 1), 1),
            // Stride 2 along rows wider than 16: im2col's eight-at-a-time copy, its scalar
            // tail, and rows where a 16-wide load would pass the row end (ResNet's conv1 shape).
            ([1, 3, 23, 41], [4, 3, 7, 7], (2, 2), (3, 3, 3, 3), (1, 1), 1),
            ([2, 3, 9, 37], [5, 3, 3, 3], (1, 2), (1, 0, 1, 2), (1, 1), 1),
        ]
        for (i, (xs, ws, s, p, d, g)) in cases.enumerated() {
            let x = randomTensor(xs, seed: UInt64(10 + i)), w = randomTensor(ws, seed: UInt64(40 + i))
            let b = randomTensor([ws[0]], seed: UInt64(70 + i))
            let y = x.conv2d(w, bias: b, stride: [s.0, s.1], padding: [p.0, p.1, p.2, p.3], dilation: [d.0, d.1], groups: g)
            expectClose(y, naiveConv(x, w, bias: b, stride: s, pads: p, dilation: d, groups: g), tol: 1e-4)
        }
    }

    @Test func batchChunkingGivesTheSameResults() {
        let x = randomTensor([5, 4, 6, 5], seed: 1), w = randomTensor([6, 2, 3, 3], seed: 2)
        let gy = randomTensor([5, 6, 3, 5], seed: 3)
        var geo = Tensor.convGeometry(op: "t", input: x.shape, weight: w.shape, outChannels: 6, weightInChannels: 2,
                                      stride: [2, 1], padding: [1, 1], dilation: [1, 1], groups: 2)
        let full = (Tensor.convForwardRaw(geo, x: x, weight: w, bias: nil, outShape: gy.shape),
                    Tensor.convBackwardDataRaw(geo, gy: gy, weight: w, outShape: x.shape),
                    Tensor.convBackwardWeightRaw(geo, gy: gy, x: x, outShape: w.shape))
        for budget in [1, geo.k * geo.outPlane * 2] {  // one sample per chunk; 2, 2, 1
            geo.chunkBudget = budget
            expectClose(Tensor.convForwardRaw(geo, x: x, weight: w, bias: nil, outShape: gy.shape), full.0, tol: 1e-5)
            expectClose(Tensor.convBackwardDataRaw(geo, gy: gy, weight: w, outShape: x.shape), full.1, tol: 1e-5)
            expectClose(Tensor.convBackwardWeightRaw(geo, gy: gy, x: x, outShape: w.shape), full.2, tol: 1e-4)
        }
    }

    @Test(arguments: [ConvAlgorithm.winograd, .winograd4])
    func winogradMatchesTheDirectConvolution(_ algorithm: ConvAlgorithm) {
        // 3x3 stride-1 geometries through Winograd F(2x2, 3x3) and F(4x4, 3x3): odd and even
        // sizes (partial edge tiles), paddings 0-2 incl. asymmetric, batch chunking, rows of
        // many tiles.
        // (input, output channels, pads (top, left, bottom, right), chunk budget in floats)
        let cases: [([Int], Int, [Int], Int)] = [
            ([1, 16, 7, 7], 16, [1, 1, 1, 1], 16 << 20),
            ([2, 17, 6, 9], 20, [0, 0, 0, 0], 16 << 20),
            ([3, 16, 5, 8], 24, [2, 1, 0, 2], 16 << 20),
            ([3, 24, 8, 5], 16, [1, 1, 1, 1], 1),
            ([1, 16, 11, 37], 16, [1, 1, 1, 1], 16 << 20),
            ([2, 16, 6, 33], 17, [2, 2, 0, 1], 16 << 20),
            ([1, 16, 9, 32], 16, [0, 0, 2, 2], 16 << 20),
            ([1, 16, 14, 14], 16, [1, 1, 1, 1], 16 << 20),
        ]
        for (i, (xs, o, p, budget)) in cases.enumerated() {
            var (x, w, gy, geo) = winogradCase(input: xs, outChannels: o, pads: p, budget: budget, algorithm: algorithm,
                                               seed: UInt64(200 + i))
            let yShape = gy.shape
            let fast = (Tensor.convForwardRaw(geo, x: x, weight: w, bias: nil, outShape: yShape),
                        Tensor.convBackwardDataRaw(geo, gy: gy, weight: w, outShape: xs))
            geo.algorithm = .im2col
            #expect(!geo.usesWinograd)
            let direct = (Tensor.convForwardRaw(geo, x: x, weight: w, bias: nil, outShape: yShape),
                          Tensor.convBackwardDataRaw(geo, gy: gy, weight: w, outShape: xs))
            // Sums of up to 9 * 24 products of values in [-1, 1] (magnitudes up to ~20); the
            // transforms reorder the additions (F(4x4, 3x3) also scales by up to 8 and divides by
            // 6 and 24), so only float rounding separates the paths: measured max |diff| 8.6e-6
            // (F2) and 5.5e-5 (F4) over these cases; bounds ~3.5x that.
            let tol: Float = algorithm == .winograd4 ? 2e-4 : 3e-5
            expectClose(fast.0, direct.0, tol: tol)
            expectClose(fast.1, direct.1, tol: tol)
            expectClose(fast.0, naiveConv(x, w, bias: nil, stride: (1, 1), pads: (p[0], p[1], p[2], p[3]), dilation: (1, 1), groups: 1),
                        tol: tol)
        }
    }

    // MARK: conv transpose

    @Test func convTransposeHandCases() {
        let x = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        let w = Tensor(shape: [1, 1, 2, 2], data: [1, -1, 2, 0.5])
        expectClose(x.convTranspose2d(w, stride: [2, 2]),
                    Tensor(shape: [1, 1, 4, 4], data: [1, -1, 2, -2, 2, 0.5, 4, 1, 3, -3, 4, -4, 6, 1.5, 8, 2]))
        let w3 = Tensor(shape: [1, 1, 3, 3], data: [1, 0, 2, 0, 1, 0, -1, 0, 1])
        expectClose(x.convTranspose2d(w3, stride: [2, 2], padding: [1, 1], outputPadding: [1, 1]),
                    Tensor(shape: [1, 1, 4, 4], data: [1, 0, 2, 0, 0, 9, 0, 10, 3, 0, 4, 0, 0, -1, 0, 4]))
        // Stride 1, no padding: the full correlation, plus bias.
        let y = x.convTranspose2d(w, bias: Tensor(shape: [1], data: [1]))
        expectClose(y, Tensor(shape: [1, 1, 3, 3], data: [2, 2, -1, 6, 6.5, -2, 7, 10.5, 3]))
    }

    @Test func convTransposeIsTheAdjointOfConv() {
        // (input, weight [O, C/g, kh, kw] for conv, stride, pads, dilation, groups)
        let cases: [([Int], [Int], [Int], [Int], [Int], Int)] = [
            ([2, 3, 7, 6], [4, 3, 3, 3], [2, 2], [1, 1], [1, 1], 1),
            ([1, 4, 8, 9], [6, 2, 3, 2], [2, 3], [1, 0, 2, 1], [2, 1], 2),
            ([2, 3, 5, 5], [6, 1, 3, 3], [1, 2], [1, 1], [1, 1], 3),
            ([1, 4, 6, 6], [3, 4, 1, 1], [1, 1], [0, 0], [1, 1], 1),
        ]
        for (i, (xs, ws, s, p, d, g)) in cases.enumerated() {
            let x = randomTensor(xs, seed: UInt64(100 + i)), w = randomTensor(ws, seed: UInt64(200 + i))
            let y = x.conv2d(w, stride: s, padding: p, dilation: d, groups: g)
            let r = randomTensor(y.shape, seed: UInt64(300 + i))
            let pq = p.count == 2 ? [p[0], p[1], p[0], p[1]] : p
            // outputPadding recovers the rows/columns that the conv's floor division dropped.
            var op: [Int] = []
            for a in 0..<2 {
                let span: Int = xs[2 + a] + pq[a] + pq[a + 2] - d[a] * (ws[2 + a] - 1) - 1
                op.append(span % s[a])
            }
            let xt = r.convTranspose2d(w, stride: s, padding: p, outputPadding: op, dilation: d, groups: g)
            #expect(xt.shape == x.shape)
            let lhs = dot(y, r), rhs = dot(x, xt)
            #expect(Swift.abs(lhs - rhs) <= 1e-4 * Swift.max(1, Swift.abs(lhs)), "case \(i): \(lhs) vs \(rhs)")
        }
    }

    // MARK: conv gradients

    @Test func convGradients() {
        let x = randomTensor([2, 2, 5, 4], seed: 1), w = randomTensor([3, 2, 3, 3], seed: 2), b = randomTensor([3], seed: 3)
        gc.check([x, w, b]) { $0[0].conv2d($0[1], bias: $0[2], padding: [1, 1]) }
        gc.check([x, w, b]) { $0[0].conv2d($0[1], bias: $0[2], stride: [2, 1], padding: [1, 0, 2, 1]) }
        gc.check([x, w]) { $0[0].conv2d($0[1], stride: [1, 2], padding: [2, 1], dilation: [2, 1]) }
        // Only some inputs needing gradients.
        gc.check([x]) { $0[0].conv2d(w, bias: b, padding: [1, 1]) }
        gc.check([w]) { x.conv2d($0[0], stride: [2, 2], padding: [1, 1]) }
    }

    @Test func convGradientsGroupedPointwiseDepthwise() {
        let x = randomTensor([2, 4, 4, 4], seed: 4)
        gc.check([x, randomTensor([6, 2, 3, 2], seed: 5), randomTensor([6], seed: 6)]) {
            $0[0].conv2d($0[1], bias: $0[2], stride: [1, 2], padding: [1, 1], groups: 2)
        }
        gc.check([x, randomTensor([3, 4, 1, 1], seed: 7), randomTensor([3], seed: 8)]) { $0[0].conv2d($0[1], bias: $0[2]) }
        gc.check([x, randomTensor([4, 2, 1, 1], seed: 9)]) { $0[0].conv2d($0[1], stride: [2, 2], groups: 2) }
        gc.check([x, randomTensor([8, 1, 3, 3], seed: 10), randomTensor([8], seed: 11)]) {
            $0[0].conv2d($0[1], bias: $0[2], stride: [2, 1], padding: [1, 1, 0, 1], dilation: [1, 2], groups: 4)
        }
    }

    @Test func convTransposeGradients() {
        let x = randomTensor([2, 2, 3, 3], seed: 12)
        gc.check([x, randomTensor([2, 3, 3, 3], seed: 13), randomTensor([3], seed: 14)]) {
            $0[0].convTranspose2d($0[1], bias: $0[2], stride: [2, 2], padding: [1, 1], outputPadding: [1, 0])
        }
        gc.check([x, randomTensor([2, 2, 2, 3], seed: 15), randomTensor([4], seed: 16)]) {
            $0[0].convTranspose2d($0[1], bias: $0[2], stride: [1, 2], padding: [0, 1, 1, 0], dilation: [2, 1], groups: 2)
        }
        gc.check([x, randomTensor([2, 1, 3, 3], seed: 17)]) { $0[0].convTranspose2d($0[1], padding: [1, 1], groups: 2) }
    }

    // MARK: pooling forward

    @Test func maxPoolHandCases() {
        expectClose(x16.maxPool2d(kernel: [2, 2]), Tensor(shape: [1, 1, 2, 2], data: [6, 8, 14, 16]))
        expectClose(x16.maxPool2d(kernel: [3, 3], stride: [2, 2]), Tensor(shape: [1, 1, 1, 1], data: [11]))
        expectClose(x16.maxPool2d(kernel: [3, 3], stride: [2, 2], ceilMode: true),
                    Tensor(shape: [1, 1, 2, 2], data: [11, 12, 15, 16]))
        // Dilation 2: window cells {0, 2} x {0, 2} from each start.
        expectClose(x16.maxPool2d(kernel: [2, 2], stride: [1, 1], dilation: [2, 2]),
                    Tensor(shape: [1, 1, 2, 2], data: [11, 12, 15, 16]))
        // Padded cells never win, even against negative values.
        let neg = -x16
        expectClose(neg.maxPool2d(kernel: [2, 2], stride: [2, 2], padding: [1, 1]),
                    Tensor(shape: [1, 1, 3, 3], data: [-1, -2, -4, -5, -6, -8, -13, -14, -16]))
        // Asymmetric padding: top 1, left 0, bottom 0, right 1.
        expectClose(neg.maxPool2d(kernel: [2, 2], stride: [2, 2], padding: [1, 0, 0, 1]),
                    Tensor(shape: [1, 1, 2, 2], data: [-1, -3, -5, -7]))
        expectClose(neg.maxPool2d(kernel: [2, 2], stride: [1, 1], padding: [1, 0, 0, 1]),
                    Tensor(shape: [1, 1, 4, 4], data: [-1, -2, -3, -4, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12]))
    }

    @Test func ceilModeOutputSizes() {
        // Floor vs ceil, and the rule that the last window starts inside input or left padding.
        #expect(PoolGeometry.outSize(4, kernel: 3, stride: 2, padBegin: 0, padEnd: 0, dilation: 1, ceilMode: false) == 1)
        #expect(PoolGeometry.outSize(4, kernel: 3, stride: 2, padBegin: 0, padEnd: 0, dilation: 1, ceilMode: true) == 2)
        #expect(PoolGeometry.outSize(5, kernel: 2, stride: 2, padBegin: 1, padEnd: 1, dilation: 1, ceilMode: true) == 3)
        #expect(PoolGeometry.outSize(112, kernel: 3, stride: 2, padBegin: 1, padEnd: 1, dilation: 1, ceilMode: true) == 57)
        #expect(PoolGeometry.outSize(112, kernel: 3, stride: 2, padBegin: 1, padEnd: 1, dilation: 1, ceilMode: false) == 56)
        #expect(PoolGeometry.outSize(13, kernel: 3, stride: 2, padBegin: 0, padEnd: 0, dilation: 1, ceilMode: true) == 6)
        let x = randomTensor([1, 2, 5, 5], seed: 3)
        #expect(x.maxPool2d(kernel: [2, 2], stride: [2, 2], padding: [1, 1], ceilMode: true).shape == [1, 2, 3, 3])
        #expect(x.avgPool2d(kernel: [2, 2], stride: [2, 2], padding: [1, 1], ceilMode: true).shape == [1, 2, 3, 3])
    }

    @Test func avgPoolHandCases() {
        expectClose(x16.avgPool2d(kernel: [2, 2]), Tensor(shape: [1, 1, 2, 2], data: [3.5, 5.5, 11.5, 13.5]))
        // Ceil mode: the overhang past the input is not counted.
        expectClose(x16.avgPool2d(kernel: [3, 3], stride: [2, 2], ceilMode: true),
                    Tensor(shape: [1, 1, 2, 2], data: [6, 7.5, 12, 13.5]))
        expectClose(x16.avgPool2d(kernel: [2, 2], padding: [1, 1]),
                    Tensor(shape: [1, 1, 3, 3], data: [0.25, 1.25, 1, 3.5, 8.5, 5, 3.25, 7.25, 4]))
        expectClose(x16.avgPool2d(kernel: [2, 2], padding: [1, 1], countIncludePad: false),
                    Tensor(shape: [1, 1, 3, 3], data: [1, 2.5, 4, 7, 8.5, 10, 13, 14.5, 16]))
        // Ceil mode with padding: the window past the bottom padding counts only padded cells.
        let y = x16.avgPool2d(kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true)
        #expect(y.shape == [1, 1, 3, 3])
        // Last row window: rows 3...5 of the padded input -> input row 3 and bottom pad (2 rows counted).
        #expect(Swift.abs(y[flat: 8] - (16 + 0) / 4) < 1e-5)
    }

    /// NICE's block-mean fill (Eq. 12's x_b at full resolution), by hand on a 5 x 5 plane in
    /// blocks of 2 (ceil mode: the last row and column of blocks are 1 px wide).
    @Test func blockMeanFillHandCase() {
        let x = Tensor(shape: [1, 1, 5, 5], data: (0..<25).map(Float.init))
        let y = x.blockMeanFilled(block: 2)
        // Block (0,0): 0,1,5,6 -> 3; (0,2): 2,3,7,8 -> 5; (0,4): 4,9 -> 6.5;
        // (2,0): 10,11,15,16 -> 13; (2,2) -> 15; (2,4): 14,19 -> 16.5; (4,0): 20,21 -> 20.5; (4,2) -> 22.5; (4,4): 24.
        let expected: [Float] = [3, 3, 5, 5, 6.5, 3, 3, 5, 5, 6.5, 13, 13, 15, 15, 16.5, 13, 13, 15, 15, 16.5,
                                 20.5, 20.5, 22.5, 22.5, 24]
        // Sums of at most four small integers: exact in float32 up to the final division.
        expectClose(y, Tensor(shape: [1, 1, 5, 5], data: expected))
        // Block 1 is the identity; a block past the size is the plane mean.
        expectClose(x.blockMeanFilled(block: 1), x)
        expectClose(x.blockMeanFilled(block: 8), Tensor(shape: [1, 1, 5, 5], repeating: 12))
    }

    @Test func blockMeanFillGradient() {
        GradCheck().check([randomTensor([2, 2, 5, 6], seed: 41)]) { $0[0].blockMeanFilled(block: 4) }
        GradCheck().check([randomTensor([1, 3, 4, 4], seed: 42)]) { $0[0].blockMeanFilled(block: 2) }
    }

    @Test func adaptiveAndGlobalPool() {
        let x = Tensor(shape: [1, 1, 5, 4], data: (1...20).map(Float.init))
        // Rows bins [0,2), [1,4), [3,5); column bins [0,2), [2,4).
        expectClose(x.adaptiveAvgPool2d([3, 2]), Tensor(shape: [1, 1, 3, 2], data: [3.5, 5.5, 9.5, 11.5, 15.5, 17.5]))
        let r = randomTensor([2, 3, 4, 5], seed: 5)
        expectClose(r.globalAvgPool2d(), r.mean(axes: [2, 3], keepDims: true))
        expectClose(r.adaptiveAvgPool2d([2, 5]), r.avgPool2d(kernel: [2, 1]))
        // Upsampling bins (output larger than input) repeat input cells.
        let up = r.adaptiveAvgPool2d([8, 5])
        #expect(up.shape == [2, 3, 8, 5])
        #expect(up[flat: 0] == r[flat: 0] && up[flat: 5] == r[flat: 0] && up[flat: 10] == r[flat: 5])
    }

    // MARK: switches and unpooling

    @Test func switchesAndUnpool() {
        let x = Tensor(shape: [1, 1, 4, 4], data: [1, 9, 2, 0,
                                                   3, 4, 8, 7,
                                                   5, 6, 1, 2,
                                                   0, 2, 3, 9])
        let (y, sw) = x.maxPool2dWithSwitches(kernel: [2, 2])
        #expect(y.scalars == [9, 8, 6, 9])
        #expect(sw.indices == [1, 6, 9, 15])
        #expect(sw.inputShape == [1, 1, 4, 4])
        expectClose(y.maxUnpool2d(sw), Tensor(shape: [1, 1, 4, 4], data: [0, 9, 0, 0, 0, 0, 8, 0, 0, 6, 0, 0, 0, 0, 0, 9]))

        // Random multi-plane input with overlapping windows and padding: every switch points
        // at its window's maximum, and unpooling puts the maxima back where they came from.
        let r = distinctTensor([2, 3, 7, 6], seed: 8)
        let (ry, rsw) = r.maxPool2dWithSwitches(kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true)
        #expect(rsw.indices.count == ry.count)
        let up = ry.maxUnpool2d(rsw)
        #expect(up.shape == r.shape)
        for i in 0..<ry.count {
            let plane = i / (ry.shape[2] * ry.shape[3])
            #expect(r[flat: plane * 42 + Int(rsw.indices[i])] == ry[flat: i])
        }
        // Overlapping windows may share a switch; unpooling then adds their values.
        var hits = [Float](repeating: 0, count: r.count)
        for i in 0..<ry.count { hits[i / (ry.shape[2] * ry.shape[3]) * 42 + Int(rsw.indices[i])] += 1 }
        for j in 0..<r.count { #expect(up[flat: j] == hits[j] * r[flat: j]) }
        #expect(hits.contains(where: { $0 > 1 }))
    }

    @Test func maxPoolSpecialValues() {
        // NaN wins its window (as PyTorch); an all -inf window still picks an in-plane cell.
        let x = Tensor(shape: [1, 1, 2, 4], data: [1, .nan, -.infinity, -.infinity, 3, 2, -.infinity, -.infinity])
        let (y, sw) = x.maxPool2dWithSwitches(kernel: [2, 2])
        #expect(y[flat: 0].isNaN && sw.indices[0] == 1)
        #expect(y[flat: 1] == -.infinity && sw.indices[1] >= 2 && x[flat: Int(sw.indices[1])] == -.infinity)
    }

    @Test func maxPoolSwitchesAreFirstMaximaWithTies() {
        // Post-ReLU activations tie often (all-zero windows). The fast path finds the switch by
        // searching for the window's maximum; it must be the scan's: the first maximum in
        // row-major order. Reference: a plain scan here. Values are small integers, so every
        // comparison is exact (structural equality).
        // 40 columns: wide enough for the eight-window SIMD step between the border windows.
        var rng = RandomGenerator(seed: 41)
        let (h, w) = (9, 40)
        let x = Tensor(shape: [2, 3, h, w], data: (0..<(6 * h * w)).map { _ in Swift.max(0, Float(rng.next() % 5) - 2) })
        for (k, s, p, d) in [([3, 3], [2, 2], [1, 1], [1, 1]), ([2, 3], [1, 2], [1, 0, 0, 1], [2, 1]), ([2, 2], [2, 2], [0, 0], [1, 1])] {
            let (y, sw) = x.maxPool2dWithSwitches(kernel: k, stride: s, padding: p, dilation: d)
            let (ho, wo) = (y.shape[2], y.shape[3])
            let (pt, pl) = (p[0], p[1])  // top and left in both padding forms
            for plane in 0..<6 {
                for oh in 0..<ho {
                    for ow in 0..<wo {
                        var best = -Float.infinity, at = -1
                        for ki in 0..<k[0] {
                            for kj in 0..<k[1] {
                                let (r, c) = (oh * s[0] - pt + ki * d[0], ow * s[1] - pl + kj * d[1])
                                guard r >= 0, r < h, c >= 0, c < w else { continue }
                                let v = x[flat: plane * h * w + r * w + c]
                                if v > best { best = v; at = r * w + c }
                            }
                        }
                        let i = (plane * ho + oh) * wo + ow
                        #expect(y[flat: i] == best && Int(sw.indices[i]) == at, "kernel \(k) plane \(plane) output (\(oh), \(ow))")
                    }
                }
            }
            // Inference (no switches) gives the same values.
            let plain = Autograd.noGrad { x.maxPool2d(kernel: k, stride: s, padding: p, dilation: d) }
            #expect(plain.scalars == y.scalars)
        }
    }

    @Test func maxPoolNaNPlaneKeepsScanSemantics() {
        // A plane holding a NaN takes the scan; the other planes the fast path, in one call.
        var data = (0..<32).map { Float($0 % 7) }
        data[16 + 5] = .nan
        let x = Tensor(shape: [1, 2, 4, 4], data: data)
        let (y, sw) = x.maxPool2dWithSwitches(kernel: [2, 2])
        #expect(y[flat: 4 + 0].isNaN && sw.indices[4] == 5)
        #expect(Array(y.scalars[0..<4]) == [5, 6, 6, 4] && Array(sw.indices[0..<4]) == [5, 6, 13, 11])
        #expect(!y[flat: 5].isNaN)
        // Inference (no switches, 2x2 at stride 2: the four-input path) keeps the scan's values.
        let plain = Autograd.noGrad { x.maxPool2d(kernel: [2, 2]) }
        #expect(plain[flat: 4].isNaN && Array(plain.scalars[0..<4]) == [5, 6, 6, 4] && !plain[flat: 5].isNaN)
    }

    @Test func inferencePoolingOfSignedZerosKeepsTheFirst() {
        // -0 and +0 tie under the scan's strict >, so the first in row-major order stays: its sign
        // shows which one the 2x2 / stride-2 inference path kept.
        let x = Tensor(shape: [1, 1, 2, 4], data: [-0.0, 0.0, 0.0, -0.0, 0.0, -0.0, -0.0, 0.0])
        let y = Autograd.noGrad { x.maxPool2d(kernel: [2, 2]) }
        #expect(y.scalars.map { $0.sign } == [.minus, .plus])
    }

    @Test func invalidArgumentsFail() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([1, 3, 5, 5]).conv2d(Tensor.zeros([4, 2, 3, 3]))
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([1, 4, 5, 5]).conv2d(Tensor.zeros([3, 2, 3, 3]), groups: 2)
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([1, 1, 2, 2]).maxPool2d(kernel: [3, 3])
        }
    }

    // MARK: pooling gradients

    @Test func poolGradients() {
        let x = distinctTensor([2, 2, 5, 6], seed: 21)
        gc.check([x]) { $0[0].maxPool2d(kernel: [2, 2]) }
        gc.check([x]) { $0[0].maxPool2d(kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true) }
        gc.check([x]) { $0[0].maxPool2d(kernel: [2, 3], stride: [1, 2], padding: [1, 0, 0, 1], dilation: [2, 1]) }
        gc.check([x]) { $0[0].avgPool2d(kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true) }
        gc.check([x]) { $0[0].avgPool2d(kernel: [3, 2], stride: [2, 2], padding: [1, 0, 0, 1], ceilMode: true, countIncludePad: false) }
        gc.check([x]) { $0[0].adaptiveAvgPool2d([3, 4]) }
        gc.check([x]) { $0[0].globalAvgPool2d() }
    }

    @Test func unpoolGradient() {
        let x = distinctTensor([1, 2, 6, 5], seed: 22)
        let (y, sw) = x.maxPool2dWithSwitches(kernel: [3, 3], stride: [2, 2], padding: [1, 1])
        gc.check([randomTensor(y.shape, seed: 23)]) { $0[0].maxUnpool2d(sw) }
    }

    @Test func poolingIsParallelSafeOnManyPlanes() {
        // Enough planes for the parallel loops to split; compare with per-plane results.
        let x = randomTensor([4, 32, 9, 9], seed: 30)
        let y = x.maxPool2d(kernel: [3, 3], stride: [2, 2], padding: [1, 1])
        let a = x.avgPool2d(kernel: [3, 3], stride: [2, 2], padding: [1, 1])
        for p in [0, 37, 127] {
            let plane = Tensor(shape: [1, 1, 9, 9], data: Array(x.scalars[(p * 81)..<(p * 81 + 81)]))
            #expect(Array(y.scalars[(p * 25)..<(p * 25 + 25)]) == plane.maxPool2d(kernel: [3, 3], stride: [2, 2], padding: [1, 1]).scalars)
            #expect(Array(a.scalars[(p * 25)..<(p * 25 + 25)]) == plane.avgPool2d(kernel: [3, 3], stride: [2, 2], padding: [1, 1]).scalars)
        }
    }
}
