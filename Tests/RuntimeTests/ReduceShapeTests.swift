import Testing
@testable import Runtime

@Suite("Reductions, softmax, shape ops, matmul")
struct ReduceShapeTests {
    let gc = GradCheck()

    @Test func reductionsForward() {
        let a = Tensor(shape: [2, 3], data: [1, 5, 3, 4, 2, 6])
        #expect(a.sum().item == 21)
        #expect(a.sum(axis: 0).scalars == [5, 7, 9])
        #expect(a.sum(axis: 1, keepDims: true).shape == [2, 1])
        #expect(a.mean(axis: 1).scalars == [3, 4])
        #expect(a.max(axis: 1).scalars == [5, 6])
        #expect(a.argmax(axis: 1) == [1, 2])
        #expect(a.argmax(axis: 0) == [1, 0, 1])
        #expect(a.min().item == 1)
    }

    @Test func reductionGradients() {
        let x = randomTensor([2, 3, 4], seed: 11)
        gc.check([x]) { $0[0].sum(axes: [0, 2]) }
        gc.check([x]) { $0[0].mean(axis: 1, keepDims: true) }
        gc.check([x]) { $0[0].max(axis: 2) }
        gc.check([x]) { $0[0].softmax(axis: 1) }
        gc.check([x]) { $0[0].logSoftmax(axis: -1) }
    }

    @Test func softmaxIsStableAndNormalised() {
        let x = Tensor(shape: [1, 3], data: [1000, 1001, 1002])
        let p = x.softmax()
        #expect(Swift.abs(p.sum().item - 1) < 1e-6)
        #expect(p.scalars.allSatisfy { $0.isFinite })
        expectClose(x.logSoftmax().exp(), p, tol: 1e-5)
    }

    @Test func shapeOpsForward() {
        let a = Tensor.arange(6).reshaped([2, 3])
        #expect(a.transposed().scalars == [0, 3, 1, 4, 2, 5])
        let b = Tensor.arange(24).reshaped([2, 3, 4])
        let p = b.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        #expect(p.scalars[0..<6] == [0, 4, 8, 12, 16, 20])
        #expect(b.slice(axis: 1, 1..<3).scalars[0..<4] == [4, 5, 6, 7])
        let c = Tensor.concat([a, Tensor.full([2, 1], -1)], axis: 1)
        #expect(c.scalars == [0, 1, 2, -1, 3, 4, 5, -1])
        let pd = Tensor.ones([1, 2]).padded([(1, 0), (1, 2)], value: 0)
        #expect(pd.shape == [2, 5])
        #expect(pd.scalars == [0, 0, 0, 0, 0, 0, 1, 1, 0, 0])
        #expect(Tensor(shape: [4], data: [1, 2, 3, 4]).padded([(2, 1)], mode: .reflect).scalars == [3, 2, 1, 2, 3, 4, 3])
        #expect(Tensor(shape: [3], data: [1, 2, 3]).padded([(2, 2)], mode: .edge).scalars == [1, 1, 1, 2, 3, 3, 3])
        #expect(b.flattened().shape == [2, 12])
        #expect(b.reshaped([-1, 4]).shape == [6, 4])
    }

    @Test func shapeGradients() {
        let x = randomTensor([2, 3, 4], seed: 12)
        gc.check([x]) { $0[0].permuted([1, 2, 0]) }
        gc.check([x]) { $0[0].slice(axis: 2, 1..<3) }
        gc.check([x, randomTensor([2, 1, 4], seed: 13)]) { Tensor.concat([$0[0], $0[1]], axis: 1) }
        gc.check([x]) { $0[0].padded([(0, 0), (1, 1), (2, 0)], value: 0.5) }
        gc.check([x]) { $0[0].padded([(0, 0), (2, 1), (1, 3)], mode: .reflect) }
        gc.check([x]) { $0[0].padded([(1, 0), (2, 1), (0, 3)], mode: .edge) }
        gc.check([x]) { $0[0].reshaped([4, 6]) }
    }

    @Test func matmul() {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], data: [7, 8, 9, 10, 11, 12])
        #expect(a.matmul(b).scalars == [58, 64, 139, 154])
        gc.check([randomTensor([3, 4], seed: 14), randomTensor([4, 5], seed: 15)]) { $0[0].matmul($0[1]) }
        gc.check([randomTensor([2, 3, 4], seed: 16), randomTensor([2, 4, 2], seed: 17)]) { $0[0].matmul($0[1]) }
    }
}

@Suite("Index gathering")
struct IndexGatherTests {
    @Test func gatherRowsColsForwardAndGradient() {
        let x = Tensor.arange(6).reshaped([1, 1, 2, 3])
        let y = x.gatherRowsCols(rows: [0, 0, 1], cols: [2, 0])
        #expect(y.shape == [1, 1, 3, 2])
        #expect(y.scalars == [2, 0, 2, 0, 5, 3])
        GradCheck().check([randomTensor([2, 2, 3, 3], seed: 21)]) { $0[0].gatherRowsCols(rows: [2, 0, 0, 1], cols: [1, 1, 2]) }
    }

    @Test func separableResamplingMatchesBilinear() {
        // 2-tap taps equal to PyTorch's align_corners=False bilinear weights reproduce it.
        let x = randomTensor([1, 2, 3, 4], seed: 22)
        func taps(_ inSize: Int, _ outSize: Int) -> [ResampleTaps] {
            (0..<outSize).map { o in
                let src = Swift.max((Float(o) + 0.5) * Float(inSize) / Float(outSize) - 0.5, 0)
                let i0 = Int(src), i1 = Swift.min(i0 + 1, inSize - 1), f = src - Float(i0)
                return [(i0, 1 - f), (i1, f)]
            }
        }
        expectClose(x.resampleSeparable(rowTaps: taps(3, 5), colTaps: taps(4, 7)), x.upsampleBilinear(size: [5, 7]), tol: 1e-5)
        GradCheck().check([x]) { $0[0].resampleSeparable(rowTaps: taps(3, 5), colTaps: [[(0, 0.5), (3, -1)], [(2, 2)]]) }
    }
}
