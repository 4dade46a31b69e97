import Testing
@testable import Plugins
import Runtime

/// Methods that take the predicted target from their own first forward pass
/// (`Explainer.targetPass`) must give what they give when told that target outright (then
/// they run every pass themselves).
@Suite("Target from the method's own pass")
struct TargetPassTests {
    @Test func predictedTargetReusesTheFirstPassWithoutChangingTheMap() throws {
        let g = try Architectures.resnet18(inputShape: [3, 32, 32], classes: 4)
        g.freeze()
        var rng = RandomGenerator(seed: 7)
        let x = Tensor.uniform([1, 3, 32, 32], rng: &rng)
        let predicted = try Autograd.noGrad { try g(x) }.argmax(axis: 1)[0]
        let methods = ["gradient", "input_x_gradient", "guided_backprop", "deconvnet", "gradcam", "gradcam_pp", "guided_gradcam"]
        for name in methods {
            let e = try Registry.shared.explainer(name)
            let params = try Params.resolve([:], schema: e.parameters, plugin: name)
            #expect(try e.targetPass(params: params, model: g) != nil, "\(name) should declare its first pass")
            let reused = try explain(e, model: g, images: x, target: .predicted)
            let own = try explain(e, model: g, images: x, target: .index(predicted))
            #expect(reused.targets == [predicted])
            // The same forward and backward computations either way; the tolerance only
            // allows for float rounding, relative to the map's scale.
            let scale = Swift.max(own.map.abs().max().item, 1e-12)
            #expect(reused.map.maxAbsDifference(own.map) <= 1e-5 * scale, "\(name)")
        }
    }

    /// Guided Grad-CAM records the guided ReLU rules on the host's pass only where no ReLU lies
    /// between its layer and the logits (ResNet: one pass for both halves); LeNet5-Caffe has
    /// fc1 -> ReLU above its last conv, so guided backprop runs its own pass there. Either way
    /// the map is the one computed with the target given outright (every pass its own).
    @Test func guidedGradCAMSharesThePassOnlyWithoutReLUsAboveTheLayer() throws {
        let resnet = try Architectures.resnet18(inputShape: [3, 32, 32], classes: 4)
        let lenet = try Architectures.lenet5Caffe(inputShape: [1, 28, 28], classes: 5)
        let e = try Registry.shared.explainer("guided_gradcam")
        let params = try Params.resolve([:], schema: e.parameters, plugin: "guided_gradcam")
        for (g, shares) in [(resnet, true), (lenet, false)] {
            g.freeze()
            let options = try #require(try e.targetPass(params: params, model: g))
            #expect(options.backwardRules.isEmpty == !shares, "\(g.name)")
            var rng = RandomGenerator(seed: 9)
            let x = Tensor.uniform(g === resnet ? [2, 3, 32, 32] : [2, 1, 28, 28], rng: &rng)
            let predicted = try Autograd.noGrad { try g(x) }.argmax(axis: 1)
            let reused = try explain(e, model: g, images: x, target: .predicted)
            let own = try explain(e, model: g, images: x, target: .each(predicted.map { .index($0) }))
            // Same computations either way; the tolerance allows for float rounding only.
            let scale = Swift.max(own.map.abs().max().item, 1e-12)
            #expect(reused.map.maxAbsDifference(own.map) <= 1e-5 * scale, "\(g.name)")
        }
    }
}
