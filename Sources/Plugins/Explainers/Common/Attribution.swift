import Foundation
import Runtime

// Shared machinery of the baseline explainers: batched input gradients, layer lookup,
// map reductions, and the parameter specs several methods share.
//
// Batching convention: when a method expands N images into K copies each (noisy samples,
// interpolation steps, masked or occluded copies) it orders them copy-major, item m being
// image m % N. `ExplainContext.targetScore(_:targets:)` indexes targets with `i % count`, so a
// chunk [lo, hi) of such items uses the targets `chunkTargets(lo..<hi, ctx.targets)`.

/// The targets of items `range` of a copy-major expansion of `targets`.
func chunkTargets(_ range: Range<Int>, _ targets: [Int]) -> [Int] { range.map { targets[$0 % targets.count] } }

/// `0..<total` cut into consecutive ranges of at most `size` items.
func chunks(_ total: Int, _ size: Int) -> [Range<Int>] {
    let s = Swift.max(size, 1)
    return stride(from: 0, to: total, by: s).map { $0..<Swift.min($0 + s, total) }
}

/// Counts finished work items for `ExplainContext.progress` when items finish on several
/// threads (`Threads.forEachItem`): reports (done, total) in increasing order, one at a time.
final class ProgressCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var done = 0
    private let total: Int
    private let report: (@Sendable (Int, Int) -> Void)?

    init(total: Int, report: (@Sendable (Int, Int) -> Void)?) { self.total = total; self.report = report }

    func step() {
        guard let report else { return }
        lock.withLock { done += 1; report(done, total) }
    }
}

/// Logits of a forward pass, checked to be [N, classes].
func logitsChecked(_ t: Tensor, model: Graph) throws -> Tensor {
    guard t.rank == 2 else {
        throw PluginError.invalid("model '\(model.name)' outputs shape \(t.shape); explainers need logits [N, classes]")
    }
    return t
}

/// Gradient of the summed target scores of `x` (a batch of any size) with respect to `x`,
/// under backward rules (none: the gradient; `BackwardRule.allReLUs(.guided)`: guided
/// backprop; see `BackwardRule`), with the reference values rules may read (DeepLIFT's; see
/// `Graph.referenceValues`). Also returns the per-item scores. One forward and one backward pass;
/// with `recorded` (the host's pass over these images with these rules; see
/// `Explainer.targetPass`) the backward pass alone.
func inputGradient(_ ctx: ExplainContext, _ x: Tensor, targets: [Int], rules: [NodeSelector: BackwardRule] = [:],
                   reference: [String: Tensor] = [:], recorded: RecordedPass? = nil) throws -> (grad: Tensor, scores: [Float]) {
    let xi: Tensor, logits: Tensor
    if let recorded {
        (xi, logits) = (recorded.input, try logitsChecked(recorded.result.output, model: ctx.model))
    } else {
        xi = x.requiringGrad()
        var options = ForwardOptions(backwardRules: rules)
        options.reference = reference
        logits = try logitsChecked(ctx.model.forward(xi, options: options).output, model: ctx.model)
    }
    let score = ctx.targetScore(logits, targets: targets)
    let scores = Autograd.noGrad { ctx.targetScores(logits.detached(), targets: targets) }
    return (gradient(of: score, wrt: xi), scores)
}

/// Target scores of a batch without gradients.
func scoresNoGrad(_ ctx: ExplainContext, _ x: Tensor, targets: [Int]) throws -> [Float] {
    try Autograd.noGrad {
        let logits = try logitsChecked(ctx.model(x), model: ctx.model)
        return ctx.targetScores(logits, targets: targets)
    }
}

/// Sum over channels, keeping the axis: [N, C, H, W] -> [N, 1, H, W].
func channelSum(_ a: Tensor) -> Tensor { a.sum(axis: 1, keepDims: true) }

/// Channel sum of |a| (Captum's `visualize_image_attr` sums channels; we take |.| first so
/// opposite-signed channels do not cancel, which is what "magnitude of attribution" means
/// for IG's map).
func channelSumAbs(_ a: Tensor) -> Tensor { a.abs().sum(axis: 1, keepDims: true) }

/// Repeats a [N, ...] tensor `k` times copy-major: [k * N, ...], item m = x[m % N].
func repeatCopies(_ x: Tensor, _ k: Int) -> Tensor { k == 1 ? x : Tensor.concat([Tensor](repeating: x, count: k), axis: 0) }

/// Items `range` of the copy-major repetition of `x` (without materialising all copies).
func copiesSlice(_ x: Tensor, _ range: Range<Int>) -> Tensor {
    let n = x.shape[0]
    var parts: [Tensor] = []
    var m = range.lowerBound
    while m < range.upperBound {
        let i = m % n
        let len = Swift.min(n - i, range.upperBound - m)
        parts.append(x.slice(axis: 0, i..<(i + len)))
        m += len
    }
    return parts.count == 1 ? parts[0] : Tensor.concat(parts, axis: 0)
}

/// The shared `batch_size` parameter: inputs per forward/backward pass.
func batchSizeSpec(default d: Int = 16) -> ParamSpec {
    ParamSpec("batch_size", .int, default: .int(d), range: 1...4096,
              doc: "inputs per forward pass when the method expands each image into many copies (memory vs. speed)")
}

// MARK: - Layers

/// Op types that keep a conv layer's output spatial map and belong to the same "block":
/// Grad-CAM's default layer follows these after the last Conv.
private let blockTailOps: Set<String> = ["BatchNormalization", "Relu", "LeakyRelu", "Clip", "Add", "Sigmoid", "Elu", "Selu", "PRelu", "Identity"]

/// The default explanation layer: the output of the last convolutional block.
///
/// We start at the last `Conv` node and follow its value forward through BatchNorm, ReLU and
/// residual `Add` nodes while each value has exactly one consumer of those kinds, stopping
/// before pooling, flattening or a fully connected layer. For a torchvision ResNet this lands
/// on `layer4.1.relu2`: the output of `layer4[-1]`, which is what pytorch-grad-cam's
/// documented `target_layers = [model.layer4[-1]]` hooks (post-ReLU activations). For a
/// VGG-style conv-ReLU-pool stack it is the last ReLU (the input of the last pool); for
/// LeNet5-Caffe (no ReLU after the convs) the last Conv output itself.
public func defaultConvBlockLayer(_ g: Graph) throws -> String {
    guard let conv = g.nodes.last(where: { $0.opType == "Conv" }), let value = conv.outputs.first else {
        throw PluginError.invalid("model '\(g.name)' has no Conv layer; pass layer: with the name of a 4-D feature map")
    }
    return convBlockOutput(g, from: value)
}

/// The output of the FIRST convolutional block, by the same rule as `defaultConvBlockLayer`
/// from the first `Conv` node: for a VGG-style stack the first conv's ReLU (`block1.relu1`),
/// for a ResNet the stem's ReLU (its value feeds both the first block and its shortcut, so
/// the walk stops there). CHIP's Refined maps use it as "the first convolutional layer".
public func firstConvBlockLayer(_ g: Graph) throws -> String {
    guard let conv = g.nodes.first(where: { $0.opType == "Conv" }), let value = conv.outputs.first else {
        throw PluginError.invalid("model '\(g.name)' has no Conv layer; pass the name of a 4-D feature map")
    }
    return convBlockOutput(g, from: value)
}

/// Follows a Conv node's output value through its block's tail ops (see `blockTailOps`).
private func convBlockOutput(_ g: Graph, from start: String) -> String {
    var value = start
    while true {
        let consumers = g.nodes.filter { $0.inputs.contains(value) }
        guard consumers.count == 1, let c = consumers.first, blockTailOps.contains(c.opType), let out = c.outputs.first,
              !g.outputs.contains(value) else { break }
        value = out
    }
    return value
}

/// The value name of the `layer` parameter, or the default conv-block layer (recorded in
/// `ctx.chosen`, so the map's params name the layer it was computed at).
func resolveLayer(_ ctx: inout ExplainContext, plugin: String) throws -> String {
    let given = try ctx.params.string("layer")
    let layer = try resolveLayer(params: ctx.params, model: ctx.model, plugin: plugin)
    if given == nil { ctx.chosen["layer"] = .string(layer) }
    return layer
}

/// The same without a context (a method's `targetPass`, before explaining starts).
func resolveLayer(params: Params, model: Graph, plugin: String) throws -> String {
    guard let name = try params.string("layer") else { return try defaultConvBlockLayer(model) }
    do { return try model.resolveValue(name) } catch let e as GraphError {
        throw PluginError.invalid("'\(plugin)': \(e)")
    }
}

/// The first pass of the CAM family: capture `layer` (see `Explainer.targetPass`).
func layerCapturePass(params: Params, model: Graph, plugin: String) throws -> ForwardOptions {
    ForwardOptions(capture: [try resolveLayer(params: params, model: model, plugin: plugin)])
}

/// Captured [N, K, h, w] activations of `layer`, checked to be a spatial feature map.
func spatialCapture(_ r: ForwardResult, layer: String, plugin: String) throws -> Tensor {
    guard let a = r.captured[layer] else { throw PluginError.invalid("'\(plugin)': layer '\(layer)' was not computed") }
    guard a.rank == 4 else {
        throw PluginError.invalid("'\(plugin)': layer '\(layer)' has shape \(a.shape); it needs a spatial feature map [N, C, H, W]")
    }
    return a
}

/// The [N, K, h, w] activations A of `layer` and the gradient dS/dA of the summed target
/// scores: what the CAM family (Grad-CAM, Grad-CAM++) weighs. One forward, one backward pass;
/// the backward pass alone with `recorded` (the host's pass capturing `layer`).
func layerActivationsAndGradients(_ ctx: ExplainContext, layer: String, plugin: String,
                                  recorded: RecordedPass? = nil) throws -> (activations: Tensor, gradients: Tensor) {
    let r = try recorded?.result ?? ctx.model.forward(ctx.images, options: ForwardOptions(capture: [layer]))
    let a = try spatialCapture(r, layer: layer, plugin: plugin)
    let logits = try logitsChecked(r.output, model: ctx.model)
    return (a.detached(), gradient(of: ctx.targetScore(logits), wrt: a))
}

/// The shared `layer` parameter.
let layerSpec = ParamSpec("layer", .layer,
                          doc: "layer (node or value name) to explain at; default: the output of the last conv block (after its BatchNorm, ReLU and residual Add), recorded in the map's params")

/// Bilinear resize of [N, 1, h, w] maps to the input size (PyTorch's align_corners=False).
func upsampleToInput(_ m: Tensor, _ images: Tensor) -> Tensor {
    let (h, w) = (images.shape[2], images.shape[3])
    return m.shape[2] == h && m.shape[3] == w ? m : m.upsampleBilinear(size: [h, w], alignCorners: false)
}

/// Per-image (min, max) of a [N, ...] tensor.
func perImageRange(_ x: Tensor) -> [(min: Float, max: Float)] {
    let n = x.shape[0], per = x.count / Swift.max(n, 1)
    return x.withUnsafeBufferPointer { p in
        (0..<n).map { i in
            var lo = Float.infinity, hi = -Float.infinity
            for j in 0..<per { let v = p[i * per + j]; lo = Swift.min(lo, v); hi = Swift.max(hi, v) }
            return (lo, hi)
        }
    }
}

/// Per-image sums of a [N, ...] tensor, in Double.
func perImageSums(_ x: Tensor) -> [Double] {
    let n = x.shape[0], per = x.count / Swift.max(n, 1)
    return x.withUnsafeBufferPointer { p in
        (0..<n).map { i in var s = 0.0; for j in 0..<per { s += Double(p[i * per + j]) }; return s }
    }
}
