import Testing
@testable import Runtime

/// A graph of one node reading the input "x" (plus the named weights), output "y".
func oneNodeGraph(_ op: String, inputShape: [Int], weights: [(String, Tensor)] = [],
                  attributes: [String: AttributeValue]) throws -> Graph {
    let node = GraphNode(name: "block", opType: op, inputs: ["x"] + weights.map(\.0), outputs: ["y"], attributes: attributes)
    return try Graph(name: op, inputs: [ValueInfo(name: "x", shape: inputShape)], outputs: ["y"], nodes: [node],
                     weights: Dictionary(uniqueKeysWithValues: weights))
}

/// The backward signal at the input of `g` for the output gradient `seed`.
func backwardSignal(_ g: Graph, _ x: Tensor, seed: Tensor, rules: [NodeSelector: BackwardRule] = [:]) throws -> Tensor {
    let xi = x.requiringGrad()
    let y = try g.forward(xi, options: ForwardOptions(backwardRules: rules)).output
    return gradient(of: y, wrt: xi, seed: seed)
}

let resampling: [NodeSelector: BackwardRule] = [.opType("Conv"): .strideOneResampling, .opType("MaxPool"): .strideOneResampling]

// Hand cases use small integers: every product and partial sum is an integer below 2^24, exact
// in Float32 whatever order BLAS sums in, so the tolerance 1e-3 only has to stay far below the
// difference of 1 that a wrongly routed value would make.
let integerTolerance: Float = 1e-3

@Suite("Backward rules: ReLU rules, selection, stride-1 resampling (VEbI 3.3)")
struct BackwardRuleTests {
    /// input [N, 4] -> fc1 -> relu1 -> fc2 -> relu2 -> fc3 [N, 3], seeded weights.
    func mlp() throws -> Graph {
        let b = GraphBuilder(name: "mlp2", inputShape: [4], seed: 3)
        try b.linear(name: "fc1", out: 6)
        try b.relu(name: "relu1")
        try b.linear(name: "fc2", out: 5)
        try b.relu(name: "relu2")
        try b.linear(name: "fc3", out: 3)
        return try b.build()
    }

    /// The same network written with tensor ops and explicit ReLU rules.
    func mlpByHand(_ g: Graph, _ x: Tensor, _ r1: ReLURule, _ r2: ReLURule) -> Tensor {
        func fc(_ h: Tensor, _ n: String) -> Tensor { h.matmul(g.weight("\(n).weight")!.transposed()) + g.weight("\(n).bias")! }
        return fc(fc(fc(x, "fc1").relu(rule: r1), "fc2").relu(rule: r2), "fc3")
    }

    @Test func reluRulesAreBackwardRules() throws {
        let g = try mlp(), x = randomTensor([3, 4], seed: 8), seed = randomTensor([3, 3], seed: 9)
        for rule in ReLURule.allCases {
            let xi = x.requiringGrad()
            let expected = gradient(of: mlpByHand(g, xi, rule, rule), wrt: xi, seed: seed)
            // Gemm runs as `linear`, the hand version as matmul + add: rounding differs in the
            // last bits of sums of a few unit-scale products.
            expectClose(try backwardSignal(g, x, seed: seed, rules: BackwardRule.allReLUs(rule)), expected, tol: 1e-5)
        }
        #expect(BackwardRule.allReLUs(.standard).isEmpty)
    }

    @Test func aNodeSelectorWinsOverItsOpType() throws {
        let g = try mlp(), x = randomTensor([3, 4], seed: 8), seed = randomTensor([3, 3], seed: 9)
        let xi = x.requiringGrad()
        let expected = gradient(of: mlpByHand(g, xi, .guided, .deconvnet), wrt: xi, seed: seed)
        // By node name and by the node's output value name (GraphBuilder names them alike, so
        // the value form is exercised through an imported-style name below).
        let rules: [NodeSelector: BackwardRule] = [.opType("Relu"): .guidedReLU, .node("relu2"): .deconvnetReLU]
        expectClose(try backwardSignal(g, x, seed: seed, rules: rules), expected, tol: 1e-5)
        // The deconvnet rule really differs from the guided one here (or the test shows nothing).
        let allGuided = gradient(of: mlpByHand(g, xi, .guided, .guided), wrt: xi, seed: seed)
        #expect(expected.maxAbsDifference(allGuided) > 1e-3)
    }

    @Test func selectorsByValueNameOfAnImportedStyleGraph() throws {
        let g = try tinyMLP()  // node "relu1" writes value "a"
        let x = randomTensor([2, 4], seed: 5), seed = randomTensor([2, 3], seed: 6)
        let byValue = try backwardSignal(g, x, seed: seed, rules: [.node("a"): .deconvnetReLU])
        let byNode = try backwardSignal(g, x, seed: seed, rules: [.node("relu1"): .deconvnetReLU])
        // One rule on the same node either way: the same code path on the same numbers.
        #expect(byValue.scalars == byNode.scalars)
    }

    @Test func badSelectionsAreErrorsNamingThem() throws {
        let g = try mlp(), x = randomTensor([1, 4], seed: 1)
        #expect(throws: GraphError.unknownLayer("relu3", suggestion: "relu1")) {
            try g.forward(x, options: ForwardOptions(backwardRules: [.node("relu3"): .guidedReLU]))
        }
        do {
            _ = try g.forward(x, options: ForwardOptions(backwardRules: [.opType("relu"): .guidedReLU]))
            Issue.record("a misspelt op type must be an error")
        } catch let e as GraphError {
            #expect(e.description.contains("no op type 'relu'") && e.description.contains("did you mean 'Relu'"), "\(e)")
        }
        do {
            _ = try g.forward(x, options: ForwardOptions(backwardRules: [.node("fc2"): .guidedReLU]))
            Issue.record("a ReLU rule on a Gemm node must be an error")
        } catch let e as GraphError {
            #expect(e.description.contains("node 'fc2' is Gemm"), "\(e)")
        }
    }

    @Test func theOrdinaryVJPThroughARuleIsTheGradient() throws {
        // The conv weight is a graph input, so the checker perturbs it like the data: a rule
        // that delegates must give the true gradient of both, through the rule plumbing.
        let node = GraphNode(name: "conv", opType: "Conv", inputs: ["x", "w", "b"], outputs: ["y"],
                             attributes: ["strides": .ints([2, 1]), "pads": .ints([1, 0, 0, 1])])
        let relu = GraphNode(name: "relu", opType: "Relu", inputs: ["y"], outputs: ["z"])
        let g = try Graph(name: "convnet", inputs: [ValueInfo(name: "x", shape: [-1, 2, 5, 4]), ValueInfo(name: "w", shape: [3, 2, 3, 2])],
                          outputs: ["z"], nodes: [node, relu], weights: ["b": randomTensor([3], seed: 4)])
        let delegate = BackwardRule(name: "ordinary") { $0.ordinaryVJP }
        let options = ForwardOptions(backwardRules: [.opType("Conv"): delegate, .opType("Relu"): delegate])
        GradCheck().check([awayFromZero([2, 2, 5, 4], seed: 1), awayFromZero([3, 2, 3, 2], seed: 2)]) { t in
            try! g.forward(t, options: options).output
        }
    }

    // MARK: stride-1 resampling

    @Test func stridedConvHandCase() throws {
        // 4x4 input, 2x2 kernel w = [[1, 2], [3, 4]], stride 2, no padding: B = 2 and
        // A'_d = A + 2O - M + 1 = 4 + 0 - 2 + 1 = 3. The incoming signal [[1, 10], [100, 1000]]
        // resampled to 3x3 by MATLAB's nearest neighbour (source floor((d + 1/2) * 2/3) = 0, 1, 1):
        //   [[1, 10, 10], [100, 1000, 1000], [100, 1000, 1000]].
        // Transposed convolution at stride 1 (dx[p][q] = sum g'[i][j] w[p-i][q-j]), by hand:
        //   row 0: 1*1 | 1*2+10*1 | 10*2+10*1 | 10*2
        //   row 1: 1*3+100*1 | 1*4+10*3+100*2+1000*1 | 10*4+10*3+1000*2+1000*1 | 10*4+1000*2
        //   row 2: 100*3+100*1 | 100*4+1000*3+100*2+1000*1 | 1000*4+1000*3+1000*2+1000*1 | 1000*4+1000*2
        //   row 3: 100*3 | 100*4+1000*3 | 1000*4+1000*3 | 1000*4
        let w = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        let g = try oneNodeGraph("Conv", inputShape: [-1, 1, 4, 4], weights: [("w", w)], attributes: ["strides": .ints([2, 2])])
        let x = randomTensor([1, 1, 4, 4], seed: 1), seed = Tensor(shape: [1, 1, 2, 2], data: [1, 10, 100, 1000])
        let expected: [Float] = [1, 12, 30, 20,
                                 103, 1234, 3070, 2040,
                                 400, 4600, 10000, 6000,
                                 300, 3400, 7000, 4000]
        expectClose(try backwardSignal(g, x, seed: seed, rules: resampling), Tensor(shape: [1, 1, 4, 4], data: expected), tol: integerTolerance)
        // The ordinary backward of the same layer is the grid the rule removes: each input
        // cell sees exactly one output cell, g[p/2][q/2] * w[p%2][q%2].
        let grid: [Float] = [1, 2, 10, 20, 3, 4, 30, 40, 100, 200, 1000, 2000, 300, 400, 3000, 4000]
        expectClose(try backwardSignal(g, x, seed: seed), Tensor(shape: [1, 1, 4, 4], data: grid), tol: integerTolerance)
    }

    @Test func strided1DConvFollowsTheSameFormula() throws {
        // The first row of the 2-D case: [1, 10] -> [1, 10, 10] -> correlated with [1, 2].
        let g = try oneNodeGraph("Conv", inputShape: [-1, 1, 4], weights: [("w", Tensor(shape: [1, 1, 2], data: [1, 2]))],
                                 attributes: ["strides": .ints([2])])
        let dx = try backwardSignal(g, randomTensor([1, 1, 4], seed: 2), seed: Tensor(shape: [1, 1, 2], data: [1, 10]), rules: resampling)
        expectClose(dx, Tensor(shape: [1, 1, 4], data: [1, 12, 30, 20]), tol: integerTolerance)
    }

    @Test func paddedStridedConvMatchesAReferenceLoop() throws {
        // 5x5 input, 3x3 kernel, stride 2, pad 1: B = 3, A'_d = 5 + 2 - 3 + 1 = 5. Two input
        // channels, two filters, batch 2; the reference resamples and correlates in plain loops.
        let w = randomTensor([2, 2, 3, 3], seed: 11)
        let g = try oneNodeGraph("Conv", inputShape: [-1, 2, 5, 5], weights: [("w", w)],
                                 attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])
        let seed = randomTensor([2, 2, 3, 3], seed: 12)
        let src = [0, 0, 1, 2, 2]  // floor((d + 1/2) * 3 / 5)
        var expected = [Float](repeating: 0, count: 2 * 2 * 25)
        for n in 0..<2 { for o in 0..<2 { for c in 0..<2 { for i in 0..<5 { for j in 0..<5 {
            let gv = seed[flat: ((n * 2 + o) * 3 + src[i]) * 3 + src[j]]
            for ki in 0..<3 { for kj in 0..<3 {
                let (p, q) = (i + ki - 1, j + kj - 1)  // output cell i reads input i - pad + k
                guard p >= 0, p < 5, q >= 0, q < 5 else { continue }
                expected[((n * 2 + c) * 5 + p) * 5 + q] += gv * w[flat: ((o * 2 + c) * 3 + ki) * 3 + kj]
            } }
        } } } } }
        // Sums of at most 18 unit-scale products, in a different order than the loop's.
        expectClose(try backwardSignal(g, randomTensor([2, 2, 5, 5], seed: 13), seed: seed, rules: resampling),
                    Tensor(shape: [2, 2, 5, 5], data: expected), tol: 1e-5)
    }

    @Test func stridedMaxPoolHandCase() throws {
        // 4x4 input, 2x2 windows, stride 2. Stride-2 switches: 9 @ (0,0), 16 @ (1,2), 15 @ (2,1),
        // 13 @ (3,3). The nine stride-1 windows (rows r, r+1 x cols c, c+1) pick
        //   (0,0) 9 @ (0,0)   (0,1) 16 @ (1,2)   (0,2) 16 @ (1,2)
        //   (1,0) 15 @ (2,1)  (1,1) 16 @ (1,2)   (1,2) 16 @ (1,2)
        //   (2,0) 15 @ (2,1)  (2,1) 15 @ (2,1)   (2,2) 13 @ (3,3).
        // Signal [[1, 10], [100, 1000]] resampled to 3x3 (as in the conv case):
        //   [[1, 10, 10], [100, 1000, 1000], [100, 1000, 1000]]; unpooled with the stride-1
        // switches (shared switches add): (0,0) 1; (1,2) 10+10+1000+1000; (2,1) 100+100+1000;
        // (3,3) 1000.
        let x = Tensor(shape: [1, 1, 4, 4], data: [9, 1, 2, 14, 3, 4, 16, 5, 6, 15, 7, 8, 10, 11, 12, 13])
        let g = try oneNodeGraph("MaxPool", inputShape: [-1, 1, 4, 4], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])
        let seed = Tensor(shape: [1, 1, 2, 2], data: [1, 10, 100, 1000])
        var expected = [Float](repeating: 0, count: 16)
        (expected[0], expected[6], expected[9], expected[15]) = (1, 2020, 1200, 1000)
        expectClose(try backwardSignal(g, x, seed: seed, rules: resampling), Tensor(shape: [1, 1, 4, 4], data: expected), tol: integerTolerance)
        // The ordinary backward routes each value to its stride-2 switch only.
        var ordinary = [Float](repeating: 0, count: 16)
        (ordinary[0], ordinary[6], ordinary[9], ordinary[15]) = (1, 10, 100, 1000)
        expectClose(try backwardSignal(g, x, seed: seed), Tensor(shape: [1, 1, 4, 4], data: ordinary), tol: integerTolerance)
    }

    @Test func strideOneLayersKeepTheOrdinaryBackward() throws {
        // A stride-1 conv and a stride-1 max-pool: the rule declines them (A'_d = B there), so
        // the pass runs the ordinary code path: the same numbers bit for bit, structurally.
        let b = GraphBuilder(name: "s1", inputShape: [2, 6, 6], seed: 5)
        try b.conv(name: "conv", out: 3, kernel: 3, padding: 1)
        try b.maxPool(name: "pool", kernel: 3, stride: 1, padding: 1)
        let g = try b.build()
        let x = randomTensor([2, 2, 6, 6], seed: 6), seed = randomTensor([2, 3, 6, 6], seed: 7)
        #expect(try g.resolveBackwardRules(resampling).isEmpty)
        #expect(try backwardSignal(g, x, seed: seed, rules: resampling).scalars == (try backwardSignal(g, x, seed: seed)).scalars)
    }

    @Test func theResampledFormulaAtStrideOneIsTheGradient() throws {
        // Forcing the rule's formula onto stride-1 layers (bypassing `appliesTo`) must give the
        // gradient: Eq. 3 with S = 1 is the identity resampling, and the stride-1 backward is the
        // backward. Conv (padding 1, 2 groups, dilation 2) and max-pool (3x3, padding 1).
        let forced = BackwardRule(name: "forced", opTypes: ["Conv", "MaxPool"]) { try StrideOneGeometry.vjp($0) }
        let b = GraphBuilder(name: "s1", inputShape: [4, 7, 7], seed: 5)
        try b.conv(name: "conv", out: 4, kernel: 3, padding: 2, dilation: 2, groups: 2)
        try b.maxPool(name: "pool", kernel: 3, stride: 1, padding: 1)
        let g = try b.build()
        let x = randomTensor([2, 4, 7, 7], seed: 6), seed = randomTensor([2, 4, 7, 7], seed: 7)
        // The same sgemm kernels on the same data; only the order of the final accumulation
        // may differ (unpooling adds shared switches in a different order than the gradient).
        expectClose(try backwardSignal(g, x, seed: seed, rules: [.opType("Conv"): forced, .opType("MaxPool"): forced]),
                    try backwardSignal(g, x, seed: seed), tol: 1e-5)
    }

    @Test func resamplingIsHalfPixelNearest() {
        // MATLAB imresize 'nearest': centres aligned, ties resolved downwards.
        #expect(StrideOneGeometry.nearestSources(from: 2, to: 3) == [0, 1, 1])
        #expect(StrideOneGeometry.nearestSources(from: 3, to: 5) == [0, 0, 1, 2, 2])
        #expect(StrideOneGeometry.nearestSources(from: 4, to: 4) == [0, 1, 2, 3])
        #expect(StrideOneGeometry.nearestSources(from: 2, to: 5) == [0, 0, 1, 1, 1])
    }

    @Test func theRuleAppliesOnlyWhereAGradientFlows() throws {
        // In a no-grad pass the kernels run as usual (no local tape, no rule).
        let g = try oneNodeGraph("MaxPool", inputShape: [-1, 1, 4, 4], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])
        let x = randomTensor([1, 1, 4, 4], seed: 3)
        let y = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(backwardRules: resampling)).output }
        #expect(y.node == nil)
        #expect(y.scalars == x.maxPool2d(kernel: [2, 2]).scalars)
    }

    // MARK: reference values

    @Test func aRescaleRuleReadsTheReferencePass() throws {
        // DeepLIFT's rescale rule on the ReLUs (multiplier (y - y_ref) / (x - x_ref)), linear
        // layers ordinary: the attribution (x - x_ref) * multiplier sums to f(x) - f(x_ref)
        // exactly for Gemm/ReLU networks (DeepLIFT's summation-to-delta) — which only holds if
        // every ReLU saw its own reference values.
        let rescale = BackwardRule(name: "rescale", opTypes: ["Relu"]) { ctx in
            let x = try ctx.input(0), y = ctx.outputs[0]
            let xr = try ctx.referenceInput(0, rule: "rescale"), yr = try ctx.referenceOutput(0, rule: "rescale")
            let dx = x - xr, dy = y - yr
            let slope = Tensor.where(dx.abs().greater(Tensor(1e-6)), dy / Tensor.where(dx.abs().greater(Tensor(1e-6)), dx, Tensor(1)),
                                     x.greater(Tensor(0)))
            return { g in [g * slope] }
        }
        let g = try mlp(), x = randomTensor([2, 4], seed: 21), base = randomTensor([2, 4], seed: 22)
        var options = ForwardOptions(backwardRules: [.opType("Relu"): rescale])
        let ref = try g.referenceValues([base], options: options)
        #expect(Set(ref.keys) == ["fc1", "relu1", "fc2", "relu2"])
        options.reference = ref
        let xi = x.requiringGrad()
        let out = try g.forward(xi, options: options).output
        let target = Tensor(shape: [2, 3], data: [1, 0, 0, 0, 0, 1])
        let attribution = gradient(of: out, wrt: xi, seed: target) * (x - base)
        let delta = Autograd.noGrad { ((try! g(x)) - (try! g(base))) * target }
        for n in 0..<2 {
            let a = attribution.select(axis: 0, n).sum().item, d = delta.select(axis: 0, n).sum().item
            // Float32 sums of a few unit-scale terms: agreement to 1e-5 of the scale.
            #expect(abs(a - d) <= 1e-5 * max(1, abs(d)), "item \(n): attribution sum \(a) vs delta \(d)")
        }
        // Without the reference values the rule says what is missing.
        do {
            _ = try g.forward(xi, options: ForwardOptions(backwardRules: [.opType("Relu"): rescale]))
            Issue.record("a rule that needs reference values must fail without them")
        } catch let e as GraphError {
            #expect(e.description.contains("needs the reference value") && e.description.contains("Graph.referenceValues"), "\(e)")
        }
    }
}
