import Foundation
import Runtime

/// RISE's deletion and insertion games (Petsiuk et al. 2018), as Algorithms A1/A2 of the
/// attentive-surrogate paper's Appendix A describe them:
///
/// - pixels are ordered by saliency, most salient first, ties by pixel index (stable);
/// - each step changes the next `step` pixels (all channels); the last step may be partial;
/// - deletion starts from the image and writes the baseline (Algorithm A2's `D = I · 0`, so 0
///   by default) into the pixels; insertion starts from a blurred copy and writes the original
///   pixels back. The blur is RISE's evaluation code, `conv2d(x, gkern(11, 5), padding=5)`, per
///   channel: gkern's kernel exactly (`Tensor.riseGaussianKernel1D`: scipy's gaussian_filter of
///   a delta, which at size 11 and sigma 5 is nearly a box filter) and, by default, zero
///   padding, so the borders of the start image darken as in RISE (`blur_padding: "zero"`);
///   `blur_padding: "reflect"` mirrors the image instead and keeps the borders' brightness;
/// - after every step (and before the first) the model scores the softmax probability of the
///   explained class (`saliency.targets`; the algorithms use the predicted class, which is the
///   default target);
/// - the score is the area under the curve of probability against the fraction of pixels
///   changed, x from 0 to 1, by the trapezoid rule — so it lies in [0, 1]. RISE's code spaces
///   the points evenly even when the last step is partial; we use the true fractions, which
///   agree whenever `step` divides H·W.
enum DeletionInsertion {
    static func parameters(insertion: Bool) -> [ParamSpec] {
        var p: [ParamSpec] = [
            ParamSpec("step", .int, range: 1...1e9,
                      doc: "pixels changed per step; default 1% of H·W (RISE's 224·8 pixels at 224x224 is 3.6%; the surrogate paper leaves n open)"),
            ParamSpec("batch_size", .int, default: .int(32), range: 1...4096, doc: "perturbed images per forward pass"),
        ]
        if insertion {
            p.append(ParamSpec("blur_kernel", .int, default: .int(11), range: 1...255, doc: "odd size of the blur kernel of the start image (RISE's gkern klen)"))
            p.append(ParamSpec("blur_sigma", .float, default: .float(5), range: 1e-3...1e3, doc: "standard deviation of the Gaussian behind the kernel, in pixels (RISE's gkern nsig)"))
            p.append(ParamSpec("blur_padding", .choice(BlurPadding.allCases.map(\.rawValue)), default: .string(BlurPadding.zero.rawValue),
                               doc: "what the blur reads beyond the border: zero (RISE's conv2d padding; borders darken) or reflect"))
        } else {
            p.append(ParamSpec("baseline", .float, default: .float(0), doc: "value written into deleted pixels, every channel (Algorithm A2: 0)"))
        }
        return p
    }

    static func evaluate(_ ctx: inout MetricContext, insertion: Bool) throws -> MetricResult {
        let name = insertion ? "insertion" : "deletion"
        let (n, c, h, w) = try MetricSupport.checkShapes(ctx, metric: name)
        try MetricSupport.checkTargets(ctx, n: n, metric: name)
        let hw = h * w
        let step = try ctx.params["step"] == nil ? Swift.max(1, Int((Double(hw) * 0.01).rounded())) : ctx.params.int("step")
        let steps = (hw + step - 1) / step
        let images = ctx.images
        let start: Tensor, source: Tensor
        if insertion {
            let k = try ctx.params.int("blur_kernel")
            guard k % 2 == 1 else { throw PluginError.invalid("parameter 'blur_kernel' of 'insertion' must be odd, got \(k)") }
            let padding = BlurPadding(rawValue: try ctx.params.string("blur_padding") ?? "") ?? .zero
            start = try images.separableBlur(kernel: Tensor.riseGaussianKernel1D(size: k, sigma: Float(ctx.params.float("blur_sigma"))),
                                         padding: padding)
            source = images
        } else {
            start = images
            source = try Tensor(shape: [n, c, h, w], repeating: Float(ctx.params.float("baseline")))
        }
        let orders = (0..<n).map { MetricSupport.pixelOrder(MetricSupport.mapPlane(ctx.saliency.map, $0), descending: true) }
        let engine = try PerturbationCurve(model: ctx.model, metric: name, batchSize: ctx.params.int("batch_size"),
                                       probability: true, cancellation: ctx.cancellation)
        let scores = try engine.scores(start: start, source: source, orders: orders, perStep: step, steps: steps,
                                       targets: ctx.saliency.targets)
        let xs = perturbationFractions(perStep: step, steps: steps, pixels: hw)
        return MetricResult(values: scores.map { MetricSupport.trapezoid(xs, $0) },
                            curves: scores.map { s in zip(xs, s).map { (x: $0, y: $1) } })
    }
}
