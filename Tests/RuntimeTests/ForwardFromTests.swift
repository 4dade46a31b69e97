import Testing
@testable import Runtime

/// Full pass vs. suffix from a cut. The suffix runs the same kernels on the same tensors with
/// the same batch size, so on one machine the results are bitwise equal; we still allow 4 ulps
/// of the largest magnitude, because OpenBLAS may split a GEMM between threads differently on
/// two calls (it does not change the K-loop order on the machines we know, but nothing
/// promises it). Where the batch differs (gated copies run as one batch vs. one by one) sgemm
/// sees different matrix shapes and may block them differently: those tests say so and use a
/// relative 1e-5.
func expectWithinULPs(_ a: Tensor, _ b: Tensor, ulps: Float = 4, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)", sourceLocation: sourceLocation)
    guard a.shape == b.shape else { return }
    let scale = b.scalars.map(abs).max() ?? 0
    let tol = ulps * Float.ulpOfOne * max(scale, Float.leastNormalMagnitude)
    let d = a.maxAbsDifference(b)
    #expect(d <= tol, "max abs difference \(d) > \(ulps) ulps of \(scale)", sourceLocation: sourceLocation)
}

@Suite("Graph: forward from an intermediate value")
struct ForwardFromTests {
    /// ResNet-18's layout at 32x32 (stages at 8/4/2/1 px): torchvision node names, residual
    /// additions, strided and projected shortcuts. Batch norm has random statistics so it
    /// is not the identity.
    func resnet() throws -> Graph {
        let g = try Architectures.resnet18(inputShape: [3, 32, 32], classes: 10, seed: 4)
        var rng = RandomGenerator(seed: 5)
        for (name, w) in g.weights.sorted(by: { $0.key < $1.key }) where name.hasSuffix("running_var") || name.hasSuffix("running_mean") {
            let v = Tensor.uniform(w.shape, low: name.hasSuffix("var") ? 0.5 : -0.2, high: name.hasSuffix("var") ? 1.5 : 0.2, rng: &rng)
            try g.setWeight(name, v)
        }
        return g
    }

    @Test func leNetSuffixEqualsTheFullForward() throws {
        let g = try Architectures.lenet5Caffe(seed: 1)
        let x = randomTensor([3, 1, 28, 28], seed: 2)
        for cut in ["conv1", "pool1", "conv2", "flatten", "relu1"] {
            let full = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(capture: [cut])) }
            let suffix = try Autograd.noGrad { try g.forward(from: cut, value: full.captured[cut]!) }
            expectWithinULPs(suffix.output, full.output)
        }
    }

    @Test func resNetCutAtABlockBoundaryNeedsNothingElse() throws {
        let g = try resnet(), x = randomTensor([2, 3, 32, 32], seed: 3)
        for cut in ["layer1.1.relu2", "layer2.0.relu2", "layer3.1.relu2", "maxpool"] {
            let full = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(capture: [cut])) }
            let suffix = try Autograd.noGrad { try g.forward(from: cut, value: full.captured[cut]!) }
            expectWithinULPs(suffix.output, full.output)
        }
    }

    @Test func resNetCutInsideABlockNeedsItsResidual() throws {
        let g = try resnet(), x = randomTensor([2, 3, 32, 32], seed: 3)
        // Inside layer3.1 the identity shortcut reads the block input; inside layer2.0 the
        // addition reads the projected shortcut (a strided 1x1 conv + BN of the block input).
        // The error names what the nodes after the cut read directly.
        let cases = [("layer3.1.bn2", "layer3.0.relu2", "layer3.0.relu2"),
                     ("layer2.0.relu1", "layer2.0.downsample.1", "layer1.1.relu2")]
        for (cut, frontier, blockInput) in cases {
            let full = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(capture: [cut, frontier, blockInput])) }
            let a = full.captured[cut]!
            #expect(throws: GraphError.missingValues(cut: cut, missing: [frontier])) {
                try Autograd.noGrad { try g.forward(from: cut, value: a) }
            }
            // The value itself, the block input (the projection then reruns from it), or the
            // graph input (the whole shortcut branch reruns): all give the full pass's logits.
            for extra in [[frontier: full.captured[frontier]!], [blockInput: full.captured[blockInput]!], ["input": x]] {
                let suffix = try Autograd.noGrad { try g.forward(from: cut, value: a, values: extra) }
                expectWithinULPs(suffix.output, full.output)
            }
        }
        let message = GraphError.missingValues(cut: "layer2.0.relu1", missing: ["layer2.0.downsample.1"]).description
        #expect(message.contains("'layer2.0.downsample.1'") && message.contains("values:"), "\(message)")
    }

    @Test func gradientsFlowFromTheOutputToTheGivenValue() throws {
        let g = try resnet(), x = randomTensor([2, 3, 32, 32], seed: 3)
        g.freeze()
        let cut = "layer2.1.relu2"
        let full = try g.forward(x, options: ForwardOptions(capture: [cut]))
        let seed = randomTensor([2, 10], seed: 9)
        let expected = gradient(of: full.output, wrt: full.captured[cut]!, seed: seed)
        let value = full.captured[cut]!.detached().requiringGrad()
        let suffix = try g.forward(from: cut, value: value)
        let got = gradient(of: suffix.output, wrt: value, seed: seed)
        #expect(got.scalars.contains { $0 != 0 })
        expectWithinULPs(got, expected)
        // With backward rules too: guided ReLUs on the suffix give the full pass's guided signal.
        let rules = BackwardRule.allReLUs(.guided)
        let fullGuided = try g.forward(x, options: ForwardOptions(capture: [cut], backwardRules: rules))
        let guidedExpected = gradient(of: fullGuided.output, wrt: fullGuided.captured[cut]!, seed: seed)
        let v2 = value.detached().requiringGrad()
        let guided = gradient(of: try g.forward(from: cut, value: v2, options: ForwardOptions(backwardRules: rules)).output, wrt: v2, seed: seed)
        expectWithinULPs(guided, guidedExpected)
        #expect(guided.maxAbsDifference(got) > 1e-4, "guided and plain gradients should differ")
    }

    @Test func optionsApplyAsInTheFullPass() throws {
        let g = try resnet(), x = randomTensor([2, 3, 32, 32], seed: 3)
        let cut = "layer2.0.relu2", later = "layer3.0.relu1"
        var rng = RandomGenerator(seed: 17)
        let gates = Tensor.uniform([2, 128], low: 0, high: 1, rng: &rng)
        let interventions: [String: Intervention] = [cut: .scaleChannels(gates), "layer4.0.relu1": .zeroChannels([0, 5, 7])]
        let options = ForwardOptions(capture: [later], interventions: interventions)
        let raw = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(capture: [cut])) }.captured[cut]!
        let full = try Autograd.noGrad { try g.forward(x, options: options) }
        let suffix = try Autograd.noGrad { try g.forward(from: cut, value: raw, options: options) }
        expectWithinULPs(suffix.output, full.output)
        expectWithinULPs(suffix.captured[later]!, full.captured[later]!)
        // stopAt ends the suffix early, as it ends the full pass.
        let stopped = try Autograd.noGrad { try g.forward(from: cut, value: raw, options: ForwardOptions(stopAt: later)) }
        let fullStopped = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(stopAt: later)) }
        expectWithinULPs(stopped.output, fullStopped.output)
    }

    @Test func gatedCopiesInOneBatchMatchOneByOneFullPasses() throws {
        // CHIP's pattern: capture layer L once, then run K gated copies of it through the suffix
        // as one batch. The batch differs from the per-copy full passes (K vs 1), so sgemm sees
        // other shapes and may block them differently: relative 1e-5.
        let g = try resnet(), x = randomTensor([1, 3, 32, 32], seed: 3)
        let cut = "layer3.1.relu2", k = 5
        var rng = RandomGenerator(seed: 8)
        let gates = Tensor.uniform([k, 256], low: 0, high: 1, rng: &rng)
        let a = try Autograd.noGrad { try g.forward(x, options: ForwardOptions(capture: [cut])) }.captured[cut]!
        let batch = try Autograd.noGrad {
            try g.forward(from: cut, value: Tensor.concat([Tensor](repeating: a, count: k), axis: 0),
                          options: ForwardOptions(interventions: [cut: .scaleChannels(gates)]))
        }.output
        for i in 0..<k {
            let one = try Autograd.noGrad {
                try g.forward(x, options: ForwardOptions(interventions: [cut: .scaleChannels(gates.select(axis: 0, i))]))
            }.output
            let row = batch.select(axis: 0, i).reshaped([1, 10])
            let scale = one.scalars.map(abs).max() ?? 1
            #expect(row.maxAbsDifference(one) <= 1e-5 * max(scale, 1), "copy \(i)")
        }
    }

    @Test func errorsNameWhatIsWrong() throws {
        let g = try resnet(), v = Tensor.zeros([1, 128, 4, 4])
        #expect(throws: GraphError.unknownLayer("layer2.0.relu3", suggestion: "layer2.0.relu1")) {
            try g.forward(from: "layer2.0.relu3", value: v)
        }
        // A value computed from the cut cannot be supplied.
        do {
            _ = try g.forward(from: "layer2.0.relu2", value: v, values: ["layer2.1.relu1": v])
            Issue.record("supplying a value computed from the cut must be an error")
        } catch let e as GraphError {
            #expect(e.description.contains("'layer2.1.relu1' is computed from 'layer2.0.relu2'"), "\(e)")
        }
        // Capturing a value from before the cut: it is not computed, and not supplied.
        #expect(throws: GraphError.missingValues(cut: "layer2.0.relu2", missing: ["layer1.0.relu1"])) {
            try g.forward(from: "layer2.0.relu2", value: v, options: ForwardOptions(capture: ["layer1.0.relu1"]))
        }
    }

    @Test func theSuffixPlanIsComputedOnce() throws {
        let g = try Architectures.lenet5Caffe(seed: 1)
        let a = Tensor.zeros([2, 20, 12, 12]), b = Tensor.zeros([2, 50, 4, 4])
        for _ in 0..<3 {
            _ = try Autograd.noGrad { try g.forward(from: "pool1", value: a, options: ForwardOptions(capture: ["fc1", "pool2"])) }
            // The capture order does not make a new plan.
            _ = try Autograd.noGrad { try g.forward(from: "pool1", value: a, options: ForwardOptions(capture: ["pool2", "fc1"])) }
        }
        #expect(g.planCache.count == 1)
        _ = try Autograd.noGrad { try g.forward(from: "pool2", value: b) }
        #expect(g.planCache.count == 2)
        // The suffix of pool1 is every node after it, in order.
        let plan = try g.suffixPlan(cut: "pool1", supplied: [], targets: g.outputs)
        #expect(plan.nodes.map { g.nodes[$0].name } == ["conv2", "pool2", "flatten", "fc1", "relu1", "fc2"])
    }
}
