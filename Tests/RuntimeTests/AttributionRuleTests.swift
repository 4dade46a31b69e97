import Testing
@testable import Runtime

/// The signal the rules deliver at the input of `g` for the output seed `seed`, with the
/// reference pass on `reference` when given (DeepLIFT).
private func ruleSignal(_ g: Graph, _ x: Tensor, seed: Tensor, rules: [NodeSelector: BackwardRule],
                        reference: Tensor? = nil) throws -> Tensor {
    var options = ForwardOptions(backwardRules: rules)
    if let reference { options.reference = try g.referenceValues([reference], options: options) }
    let xi = x.requiringGrad()
    return gradient(of: try g.forward(xi, options: options).output, wrt: xi, seed: seed)
}

/// x [N, 2] -> h = fc1 (W, b) -> s = h + x -> r = relu(s) -> out = fc2 (v, no bias), the
/// smallest residual network, with the hand-set weights of the LRP cases below.
private func residualNet() throws -> Graph {
    let b = GraphBuilder(name: "residual", inputShape: [2])
    try b.linear(name: "fc1", out: 2)
    try b.sum("fc1", "input", name: "add")
    try b.relu(name: "relu")
    try b.linear(name: "fc2", out: 1, bias: false)
    let g = try b.build()
    try g.setWeight("fc1.weight", Tensor(shape: [2, 2], data: [1, 0.5, -1, 1]))
    try g.setWeight("fc1.bias", Tensor(shape: [2], data: [0.5, -0.5]))
    try g.setWeight("fc2.weight", Tensor(shape: [1, 2], data: [1, -2]))
    return g
}

// Hand cases: values are small dyadic or short decimal numbers, every intermediate has a few
// significant digits, so float32 rounding stays below 1e-6; 1e-5 bounds it and stays far
// below the differences of 0.1 or more that a misrouted signal would make.
private let handTolerance: Float = 1e-5

@Suite("Attribution rules: DeepLIFT, LRP, excitation backprop (hand-computed)")
struct AttributionRuleTests {
    // MARK: DeepLIFT

    @Test func rescaleIsTheSecantSlopeAndTheDerivativeWhereNothingChanged() throws {
        // y = relu(x) with x = (2, -1, 3), x_ref = (-1, -2, 3): y = (2, 0, 3), y_ref = (0, 0, 3).
        // Multipliers: 2 / 3, 0 / 1 = 0, and relu'(3) = 1 where x = x_ref.
        let g = try oneNodeGraph("Relu", inputShape: [-1, 3], attributes: [:])
        let m = try ruleSignal(g, Tensor(shape: [1, 3], data: [2, -1, 3]), seed: Tensor.ones([1, 3]),
                               rules: BackwardRule.deepLIFT(), reference: Tensor(shape: [1, 3], data: [-1, -2, 3]))
        expectClose(m, Tensor(shape: [1, 3], data: [2.0 / 3, 0, 1]), tol: handTolerance)
    }

    @Test func maxPoolSplitRoutesTheReferencesWinner() throws {
        // One 2x2 window. x = (1, 4, 2, 3), x_ref = (5, 0, 0, 0): y = 4 (cell 1), y_ref = 5 (cell 0),
        // m = max(y, y_ref) = 5. The own part m - y_ref = 0 goes to cell 1, the reference part
        // y - m = -1 to the reference's winner, cell 0, whose x - x_ref = -4: multiplier 1/4 there.
        // Contributions (x - x_ref) * m = (-1, 0, 0, 0) sum to y - y_ref = -1.
        let g = try oneNodeGraph("MaxPool", inputShape: [-1, 1, 2, 2], attributes: ["kernel_shape": .ints([2, 2])])
        let x = Tensor(shape: [1, 1, 2, 2], data: [1, 4, 2, 3]), seed = Tensor.ones([1, 1, 1, 1])
        let split = try ruleSignal(g, x, seed: seed, rules: BackwardRule.deepLIFT(), reference: Tensor(shape: [1, 1, 2, 2], data: [5, 0, 0, 0]))
        expectClose(split, Tensor(shape: [1, 1, 2, 2], data: [0.25, 0, 0, 0]), tol: handTolerance)
        // The gradient variant sends the whole multiplier to x's winner: contribution 4, not -1.
        let grad = try ruleSignal(g, x, seed: seed, rules: BackwardRule.deepLIFT(maxPool: .gradient),
                                  reference: Tensor(shape: [1, 1, 2, 2], data: [5, 0, 0, 0]))
        expectClose(grad, Tensor(shape: [1, 1, 2, 2], data: [0, 1, 0, 0]), tol: handTolerance)
        // When x pools higher the rules agree: x_ref = (0, 0, 1, 0), y - y_ref = 3 all through
        // cell 1 (x - x_ref = 4): multiplier 3/4.
        let up = try ruleSignal(g, x, seed: seed, rules: BackwardRule.deepLIFT(), reference: Tensor(shape: [1, 1, 2, 2], data: [0, 0, 1, 0]))
        expectClose(up, Tensor(shape: [1, 1, 2, 2], data: [0, 0.75, 0, 0]), tol: handTolerance)
    }

    @Test func summationToDeltaThroughConvReluPoolAndResiduals() throws {
        // A seeded conv net with every op DeepLIFT distinguishes: the contributions must add up
        // to the output difference, for each output unit separately.
        let b = GraphBuilder(name: "dl", inputShape: [2, 8, 8], seed: 4)
        try b.conv(name: "conv1", out: 3, kernel: 3, padding: 1)
        let r1 = try b.relu(name: "relu1")
        try b.conv(name: "conv2", out: 3, kernel: 3, padding: 1)
        try b.sum("conv2", r1, name: "add")
        try b.relu(name: "relu2")
        try b.maxPool(name: "pool", kernel: 2)
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: 3)
        let g = try b.build()
        let x = randomTensor([2, 2, 8, 8], seed: 7), ref = randomTensor([2, 2, 8, 8], seed: 8)
        for c in 0..<3 {
            var seed = [Float](repeating: 0, count: 6)
            seed[c] = 1; seed[3 + c] = 1
            let m = try ruleSignal(g, x, seed: Tensor(shape: [2, 3], data: seed), rules: BackwardRule.deepLIFT(), reference: ref)
            let contributions = (x - ref) * m
            let delta = try g(x) - g(ref)
            for n in 0..<2 {
                let total = contributions.select(axis: 0, n).sum().item, d = delta[flat: n * 3 + c]
                // Float32 sums of ~128 terms of size ~1: a few 1e-6 of rounding.
                #expect(abs(total - d) < 1e-4, "class \(c) item \(n): contributions \(total) vs delta \(d)")
            }
        }
    }

    // MARK: LRP

    @Test func epsilonLRPOnAResidualNetByHand() throws {
        // x = (1, 2): h = W x + b = (2.5, 0.5), s = h + x = (3.5, 2.5), r = s, out = r . v = -1.5.
        // R(out) = -1.5; fc2: R(r) = r * v * R / out = (3.5, -5); ReLU passes it: R(s) = (3.5, -5).
        // Add: R(h) = h * R(s) / s = (2.5, -1), R(x via shortcut) = x * R(s) / s = (1, -4).
        // fc1: R(h) / h = (1, -2), W^T (1, -2) = (3, -1.5), times x: (3, -3). Total (4, -7); the
        // bias took b . R(h)/h = 1.5, so 4 - 7 + 1.5 = -1.5 = R(out).
        let g = try residualNet(), x = Tensor(shape: [1, 2], data: [1, 2])
        let out = try g(x)
        let r = try ruleSignal(g, x, seed: out, rules: BackwardRule.lrp(.epsilon, epsilon: 1e-9))
        expectClose(r, Tensor(shape: [1, 2], data: [4, -7]), tol: handTolerance)
        // No ReLU is off here, so DeepExplain's eLRP (x * modified gradient, seed 1) is
        // x * (W + I)^T v = (1, 2) * (4, -3.5) = (4, -7) as well.
        let de = try ruleSignal(g, x, seed: Tensor.ones([1, 1]), rules: BackwardRule.lrp(.deepexplain, epsilon: 1e-9))
        expectClose(de * x, Tensor(shape: [1, 2], data: [4, -7]), tol: handTolerance)
    }

    @Test func zPlusAndGammaUseModifiedWeights() throws {
        // z+: W+ = [[1, 0.5], [0, 1]], z+ = W+ x + b = (2.5, 1.5); v+ = (1, 0), top z+ = 3.5.
        // R(r) = (3.5 * 1 * -1.5 / 3.5, 0) = (-1.5, 0) = R(s). Add: R(h) = (2.5 * -1.5 / 3.5, 0) =
        // (-15/14, 0), shortcut (1 * -1.5 / 3.5, 0) = (-3/7, 0). fc1: R(h) / z+ = (-3/7, 0),
        // W+^T (-3/7, 0) = (-3/7, -3/14), times x: (-3/7, -3/7). Total (-6/7, -3/7).
        let g = try residualNet(), x = Tensor(shape: [1, 2], data: [1, 2])
        let out = try g(x)
        let zPlus = try ruleSignal(g, x, seed: out, rules: BackwardRule.lrp(.zPlus, epsilon: 1e-9))
        expectClose(zPlus, Tensor(shape: [1, 2], data: [-6.0 / 7, -3.0 / 7]), tol: handTolerance)
        // gamma = 1: W' = W + W+ = [[2, 1], [-1, 2]], z' = W' x + b = (4.5, 2.5); v' = (2, -2),
        // top z' = 7 - 5 = 2. R(r) = r * v' * -1.5 / 2 = (-5.25, 3.75) = R(s). Add: s = (3.5, 2.5):
        // R(h) = h * R(s) / s = (-3.75, 0.75), shortcut x * R(s) / s = (-1.5, 3).
        // fc1: R(h) / z' = (-5/6, 0.3), W'^T (-5/6, 0.3) = (-5/3 - 0.3, -5/6 + 0.6), times x:
        // (-59/30, 2 * -7/30). Total (-1.5 - 59/30, 3 - 14/30).
        let gamma = try ruleSignal(g, x, seed: out, rules: BackwardRule.lrp(.gamma, epsilon: 1e-9, gamma: 1))
        expectClose(gamma, Tensor(shape: [1, 2], data: [-1.5 - 59.0 / 30, 3 - 14.0 / 30]), tol: handTolerance)
    }

    @Test func batchNormIdentityPassesRelevanceUnchanged() throws {
        // BN in inference y = 2 x + 1 (scale 2, bias 1, mean 0, var 1 - eps): the epsilon rule
        // gives x * 2 * R / y, the identity rule R.
        let eps: Float = 1e-5
        let g = try oneNodeGraph("BatchNormalization", inputShape: [-1, 1, 1, 2],
                                 weights: [("s", Tensor(shape: [1], data: [2])), ("b", Tensor(shape: [1], data: [1])),
                                           ("m", Tensor(shape: [1], data: [0])), ("v", Tensor(shape: [1], data: [1 - eps]))],
                                 attributes: ["epsilon": .float(eps)])
        let x = Tensor(shape: [1, 1, 1, 2], data: [1, 3]), r = Tensor(shape: [1, 1, 1, 2], data: [6, 14])
        let epsilonRule = try ruleSignal(g, x, seed: r, rules: BackwardRule.lrp(.epsilon, epsilon: 1e-9))
        expectClose(epsilonRule, Tensor(shape: [1, 1, 1, 2], data: [1 * 2 * 6 / 3.0, 3 * 2 * 14 / 7.0]), tol: handTolerance)
        let identity = try ruleSignal(g, x, seed: r, rules: BackwardRule.lrp(.epsilon, epsilon: 1e-9, batchNormIdentity: true))
        expectClose(identity, r, tol: handTolerance)
    }

    // MARK: excitation backprop

    /// x [N, 3] -> fc1 (W1, b1) -> relu -> fc2 (W2, no bias) -> 2 logits.
    func excitationNet() throws -> Graph {
        let b = GraphBuilder(name: "eb", inputShape: [3])
        try b.linear(name: "fc1", out: 2)
        try b.relu(name: "relu")
        try b.linear(name: "fc2", out: 2, bias: false)
        let g = try b.build()
        try g.setWeight("fc1.weight", Tensor(shape: [2, 3], data: [1, -1, 2, 0.5, 1, -1]))
        try g.setWeight("fc1.bias", Tensor(shape: [2], data: [0.1, 0.2]))
        try g.setWeight("fc2.weight", Tensor(shape: [2, 2], data: [2, -1, -1, 3]))
        return g
    }

    @Test func marginalWinningProbabilitiesByHand() throws {
        // x = (1, 2, 1): h = (1.1, 1.7) = a. Target 0: W2+ row (2, 0), z+ = 2.2, P(a) = (1, 0).
        // fc1: W1+ = [[1, 0, 2], [0.5, 1, 0]], z+ = (3, 2.5) (no bias), P(x) = x * W1+^T (1/3, 0)
        // = (1/3, 0, 2/3): a probability distribution over the inputs.
        let g = try excitationNet(), x = Tensor(shape: [1, 3], data: [1, 2, 1])
        let p = try ruleSignal(g, x, seed: Tensor(shape: [1, 2], data: [1, 0]), rules: BackwardRule.excitationBackprop())
        expectClose(p, Tensor(shape: [1, 3], data: [1.0 / 3, 0, 2.0 / 3]), tol: handTolerance)
        // c-MWP: the dual's top weights (-2, 1) have positive part (0, 1): P_dual(a) = (0, 1), so
        // the contrastive signal at a is (1, -1); fc1: (1/3, -1/2.5) through W1+^T, times x:
        // (1/3 - 0.2, -0.8, 2/3), summing to 0.
        let c = try ruleSignal(g, x, seed: Tensor(shape: [1, 2], data: [1, 0]), rules: BackwardRule.excitationBackprop(contrastiveTop: "fc2"))
        expectClose(c, Tensor(shape: [1, 3], data: [1.0 / 3 - 0.2, -0.8, 2.0 / 3]), tol: handTolerance)
    }

    @Test func excitationThroughPoolingAddAndBatchNorm() throws {
        // x [1, 2, 1, 2] -> BN (identity stats, scale 1) -> Add with x -> AveragePool 1x2 ->
        // flatten -> fc (weights (1, 1)) -> 1 logit. x = (1, 3 | 2, 0).
        // fc: P(avg) = avg * w+ / sum = (2, 1) / 3. AveragePool: P(s) = s * P / sum(window):
        // s = 2x = (2, 6 | 4, 0), so (2/8 * 2/3, 6/8 * 2/3 | 4/4 * 1/3, 0). Add splits by the
        // positive parts, equal here (BN is the identity): half to the BN branch (passed
        // through unchanged), half to x; both reach x: P(x) = the pooled P.
        let b = GraphBuilder(name: "eb2", inputShape: [2, 1, 2])
        try b.batchNorm(name: "bn")
        try b.sum("bn", "input", name: "add")
        try b.add("AveragePool", name: "pool", inputs: ["add"], attributes: ["kernel_shape": .ints([1, 2])])
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: 1, bias: false)
        let g = try b.build()
        try g.setWeight("fc.weight", Tensor(shape: [1, 2], data: [1, 1]))
        let x = Tensor(shape: [1, 2, 1, 2], data: [1, 3, 2, 0])
        let p = try ruleSignal(g, x, seed: Tensor.ones([1, 1]), rules: BackwardRule.excitationBackprop())
        expectClose(p, Tensor(shape: [1, 2, 1, 2], data: [1.0 / 6, 0.5, 1.0 / 3, 0]), tol: handTolerance)
    }

    @Test func evaluateRunsTheNodesKernelOnOtherInputs() throws {
        // A rule that evaluates its Conv node with doubled weights: the output doubles, and the
        // VJP is that of the doubled layer.
        let w = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        let g = try oneNodeGraph("Conv", inputShape: [-1, 1, 3, 3], weights: [("w", w)], attributes: [:])
        let doubled = BackwardRule(name: "doubled", opTypes: ["Conv"]) { ctx in
            let (z, vjp) = try ctx.evaluate(ctx.inputs(replacing: 1, with: try ctx.input(1) * 2))
            #expect(z.maxAbsDifference(ctx.outputs[0] * 2) < 1e-5)
            return vjp
        }
        let x = randomTensor([1, 1, 3, 3], seed: 3), seed = randomTensor([1, 1, 2, 2], seed: 4)
        expectClose(try ruleSignal(g, x, seed: seed, rules: [.opType("Conv"): doubled]),
                    try backwardSignal(g, x, seed: seed) * 2, tol: 1e-5)
    }
}
