import Foundation
import Testing
@testable import Plugins
import Runtime

/// The issue-25 comparators beyond the reference tables: DeepLIFT's summation-to-delta on every
/// shipped model, closed forms of excitation backprop and c-MWP.
@Suite("Comparators: completeness and closed forms")
struct ComparatorTests {
    func run(_ name: String, _ g: Graph, _ x: Tensor, target: Target = .index(0), params: [String: ParamValue] = [:]) throws -> SaliencyMap {
        try explain(Registry.shared.explainer(name), model: g, images: x, target: target, params: params)
    }

    /// Summation-to-delta (Shrikumar et al. Eq. 1) with the split max-pool rule, on every model in
    /// models/ and two baselines. Each contribution carries float32 rounding of ~1e-7 of its
    /// size, so the sum of ~1e3-1e4 of them is off by at most ~1e-6 of their sum of |.|
    /// (measured: below 1e-7 of it); 1e-5 of it leaves room for other BLAS kernels.
    @Test(arguments: ShippedModelTests.specs.map(\.file))
    func deepLIFTSumsToTheOutputDifference(_ file: String) throws {
        let g = try loadONNX(path: ShippedModelTests.modelsDir + "/" + file)
        let shape = Array(g.inputs[0].shape.dropFirst())
        let x = Tensor(shape: [2] + shape, data: TinyNets.formula(2 * shape.reduce(1, *), 0.23, 0.4, 0.5).map { 0.5 + $0 })
        for baseline in ["zeros", "blur"] {
            let s = try run("deeplift", g, x, target: .predicted, params: ["baseline": .string(baseline)])
            let a = try #require(s.attribution)
            for i in 0..<2 {
                let absSum = a.select(axis: 0, i).abs().sum().item
                let gap = try #require(s.scalars["completeness_gap"])[i]
                #expect(gap <= 1e-5 * Double(absSum), "\(file) \(baseline) image \(i): gap \(gap), sum |attr| \(absSum)")
            }
        }
    }

    /// The gradient at max pooling (the deeplift package's default, Captum's effective rule)
    /// loses summation-to-delta where the reference pools higher: on the VGG with the blurred
    /// baseline the gap is a sizeable fraction of |F(x) - F(x')|, so the split rule is what
    /// makes the test above pass.
    @Test func theGradientAtMaxPoolingBreaksCompleteness() throws {
        let g = try loadONNX(path: ShippedModelTests.modelsDir + "/vgg-an8flower-single6c.onnx")
        let x = Tensor(shape: [2, 3, 64, 64], data: TinyNets.formula(2 * 3 * 64 * 64, 0.23, 0.4, 0.5).map { 0.5 + $0 })
        let s = try run("deeplift", g, x, target: .predicted, params: ["baseline": .string("blur"), "maxpool": .string("gradient")])
        #expect(try #require(s.scalars["relative_completeness_gap"]).max()! > 0.01)
    }

    /// On the GAP head (A = relu(x), 6x6, fc weights w) excitation backprop at `relu` has a
    /// closed form: P(A_k(p)) = A_k(p) w+_ck / sum_k' w+_ck' sum_p' A_k'(p') (the fc layer's
    /// normaliser is sum_k mean(A_k) w+_ck, average pooling splits P(g_k) over A_k in
    /// proportion), so the map is CAM with the positive weights, normalised to sum 1. c-MWP
    /// subtracts the same with the negative weights' magnitudes and takes the ReLU.
    @Test func excitationBackpropAndCMWPOnAGAPHead() throws {
        let fc: [Float] = [1.5, -0.5, 0.5, 2, -1, 0.25]
        var rng = RandomGenerator(seed: 13)
        let x = Tensor.uniform([2, 2, 6, 6], low: -1, high: 1, rng: &rng)
        let g = try TinyNets.gapHead(h: 6, w: 6, fc: fc)
        for c in 0..<3 {
            let eb = try run("excitation_backprop", g, x, target: .index(c), params: ["layer": .string("relu")])
            let cm = try run("c_mwp", g, x, target: .index(c), params: ["layer": .string("relu")])
            for i in 0..<2 {
                func a(_ k: Int, _ p: Int) -> Float { max(x[flat: i * 72 + k * 36 + p], 0) }
                let sums = (0..<2).map { k in (0..<36).reduce(Float(0)) { $0 + a(k, $1) } }
                let (wp, wn) = ((0..<2).map { max(fc[c * 2 + $0], 0) }, (0..<2).map { max(-fc[c * 2 + $0], 0) })
                let (sp, sn) = (wp[0] * sums[0] + wp[1] * sums[1], wn[0] * sums[0] + wn[1] * sums[1])
                var total: Float = 0
                for p in 0..<36 {
                    let mwp = (a(0, p) * wp[0] + a(1, p) * wp[1]) / sp
                    let dual = sn > 0 ? (a(0, p) * wn[0] + a(1, p) * wn[1]) / sn : 0
                    // Ratios of sums of ~36 values in [0, 1]: float32 rounding ~1e-7 relative.
                    #expect(abs(eb.map[flat: i * 36 + p] - mwp) < 1e-6)
                    #expect(abs(cm.map[flat: i * 36 + p] - max(mwp - dual, 0)) < 1e-6)
                    total += eb.map[flat: i * 36 + p]
                }
                // Marginal winning probabilities: the map is a distribution over the layer.
                #expect(abs(total - 1) < 1e-5)
            }
        }
    }

    @Test func excitationNeedsAWeightedTopLayer() throws {
        // relu-pair ends in a Gemm: fine. A graph whose logits come from an Add has no top layer.
        _ = try ExcitationPass.topNode(TinyNets.reluPair(), plugin: "c_mwp")
        let b = GraphBuilder(name: "no-top", inputShape: [2, 4, 4])
        try b.globalAvgPool(name: "gap")
        try b.flatten(name: "flatten")
        try b.sum("flatten", "flatten", name: "twice")
        do {
            _ = try ExcitationPass.topNode(b.build(), plugin: "c_mwp")
            Issue.record("expected an error")
        } catch let e as PluginError {
            #expect("\(e)".contains("Gemm, MatMul or Conv"))
        }
    }
}
