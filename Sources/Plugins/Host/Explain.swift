import Dispatch
import Runtime

/// Resolves targets for a batch: the predicted class, a fixed index, or a class name.
public func resolveTargets(_ target: Target, model: Graph, images: Tensor) throws -> [Int] {
    let n = images.shape[0]
    func classes() throws -> Int { try inferenceLogits(model: model, images: images.slice(axis: 0, 0..<Swift.min(1, n))).shape[1] }
    switch target {
    case .predicted:
        return try inferenceLogits(model: model, images: images).argmax(axis: 1)
    case let .index(i):
        let classes = try classes()
        guard i >= 0 && i < classes else { throw PluginError.invalid("target \(i) is out of range: the model has \(classes) classes (0...\(classes - 1))") }
        return [Int](repeating: i, count: n)
    case let .ranked(k):
        let logits = try Autograd.noGrad { try model(images) }
        guard logits.rank == 2 else { throw PluginError.invalid("the model's output has shape \(logits.shape); expected [N, classes]") }
        let c = logits.shape[1]
        guard k >= 1 && k <= c else { throw PluginError.invalid("target rank \(k) is out of range: the model has \(c) classes") }
        let v = logits.scalars
        // Ties keep the lower class index first, as argmax does.
        return (0..<n).map { i in (0..<c).sorted { a, b in v[i * c + a] > v[i * c + b] || (v[i * c + a] == v[i * c + b] && a < b) }[k - 1] }
    case let .name(s):
        guard let labels = model.labels else {
            throw PluginError.invalid("target \"\(s)\" is a class name, but the model carries no class labels; use a class index, "
                + "give them with model(path, labels: [...]), or explain a folder dataset (its subfolder names are the classes)")
        }
        guard let i = labels.firstIndex(of: s) else {
            throw PluginError.invalid("the model has no class \"\(s)\"" + (closestName(to: s, in: labels).map { "; did you mean \"\($0)\"?" } ?? ""))
        }
        let classes = try classes()
        guard i < classes else { throw PluginError.invalid("class \"\(s)\" is label \(i), but the model has \(classes) classes: its labels do not match its output") }
        return [Int](repeating: i, count: n)
    case let .each(ts):
        guard ts.count == n else { throw PluginError.invalid("there are \(ts.count) targets for \(n) images; give one target per image") }
        // The model runs once for all predicted items, not once per image.
        let predicted = ts.contains(.predicted) ? try resolveTargets(.predicted, model: model, images: images) : []
        return try ts.enumerated().map { i, t in
            switch t {
            case .predicted: return predicted[i]
            case .each: throw PluginError.invalid("a per-image target cannot itself be a list")
            default: return try resolveTargets(t, model: model, images: images.slice(axis: 0, i..<(i + 1)))[0]
            }
        }
    }
}

/// The model's logits for `images` without gradients, checked to be [N, classes]: every
/// method indexes them by target, and a model file may declare any output ([1, 0], a
/// vector), which must be an error here rather than an index trap later.
func inferenceLogits(model: Graph, images: Tensor) throws -> Tensor {
    let l = try Autograd.noGrad { try model(images) }
    guard l.rank == 2, l.shape[1] > 0, l.shape[0] == images.shape[0] else {
        throw PluginError.invalid("the model's output has shape \(l.shape) for \(images.shape[0]) image(s); expected [\(images.shape[0]), classes] with at least one class")
    }
    return l
}

/// Runs an explainer on a batch: validates parameters (a fitting method's fit parameters
/// come from its state; naming one with another value is an error), resolves targets,
/// freezes nothing permanently (weights are detached for the call), times the call, and
/// checks the output.
public func explain(_ explainer: any Explainer, model: Graph, images: Tensor, target: Target = .predicted,
                    params given: [String: ParamValue] = [:], score: ScoreKind = .logit, seed: UInt64 = 0,
                    cancellation: CancellationToken = .never, progress: (@Sendable (Int, Int) -> Void)? = nil,
                    fitted: FitState? = nil) throws -> SaliencyMap {
    guard images.rank == 4 else { throw PluginError.invalid("images must be [N, C, H, W], got \(images.shape)") }
    var params = try Params.resolve(given, schema: explainer.parameters, plugin: explainer.name)
    try checkFitted(fitted, for: explainer, model: model)
    if let fitted { params = try fitted.settle(params, given: given, for: explainer) }
    let trainable = model.trainable
    model.freeze()
    defer { model.setTrainable(trainable) }
    // The time covers finding the targets too: that is part of the call a user makes.
    let t0 = DispatchTime.now().uptimeNanoseconds
    var recorded: RecordedPass? = nil
    var targetLogits: Tensor? = nil
    let targets: [Int]
    if target == .predicted, let options = try explainer.targetPass(params: params, model: model) {
        let xi = explainer.targetPassNeedsInputGradients ? images.detached().requiringGrad() : images.detached()
        let r = try model.forward(xi, options: options)
        // As resolveTargets: every method indexes logits [N, classes] by target.
        let n = images.shape[0]
        guard r.output.rank == 2, r.output.shape[1] > 0, r.output.shape[0] == n else {
            throw PluginError.invalid("the model's output has shape \(r.output.shape) for \(n) image(s); expected [\(n), classes] with at least one class")
        }
        targets = Autograd.noGrad { r.output.detached().argmax(axis: 1) }
        recorded = RecordedPass(input: xi, result: r)
    } else if target == .predicted {
        let logits = try inferenceLogits(model: model, images: images)
        targets = logits.argmax(axis: 1)
        targetLogits = logits
    } else {
        targets = try resolveTargets(target, model: model, images: images)
    }
    var ctx = ExplainContext(model: model, images: images.detached(), targets: targets, params: params, score: score,
                             rng: RandomGenerator(seed: seed), cancellation: cancellation, progress: progress,
                             fitted: fitted)
    ctx.recordedPass = recorded
    ctx.targetLogits = targetLogits
    let out = try explainer.explain(&ctx)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    for (k, v) in ctx.chosen where params[k] == nil { params.set(k, v) }
    let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
    guard out.map.shape == [n, 1, h, w] else {
        throw PluginError.invalid("method '\(explainer.name)' returned a map of shape \(out.map.shape); expected [\(n), 1, \(h), \(w)]")
    }
    return SaliencyMap(map: out.map.detached(), attribution: out.attribution?.detached(), method: explainer.name, params: params,
                       targets: targets, targetNames: model.labels.map { l in targets.map { $0 < l.count ? l[$0] : String($0) } },
                       seconds: seconds, scalars: out.scalars, curves: out.curves)
}

/// A fitting method needs its state, fitted by itself on this very model; other methods
/// take none.
func checkFitted(_ fitted: FitState?, for explainer: any Explainer, model: Graph) throws {
    guard explainer.capabilities.contains(.fits) else {
        if fitted != nil { throw PluginError.invalid("method '\(explainer.name)' has no fit phase, but was given a fitted state") }
        return
    }
    guard let fitted else {
        throw PluginError.invalid("method '\(explainer.name)' learns from a dataset before it explains: pass fit: <dataset> "
            + "(fitted once, then reused from the cache) or a state from fit(model, dataset, \"\(explainer.name)\")")
    }
    guard fitted.method == explainer.name else {
        throw PluginError.invalid("the fitted state is for method '\(fitted.method)', not '\(explainer.name)'")
    }
    guard fitted.modelDigest == model.contentDigest else {
        throw PluginError.invalid("the fitted state of '\(explainer.name)' was fitted to another model (or to other weights); fit it on this model")
    }
}

/// Runs a metric on a saliency map. `explainer` (the map's method) and `fitDataset` (what a
/// fitting method was fitted on) serve metrics that re-explain.
public func evaluate(_ metric: any Metric, model: Graph, images: Tensor, saliency: SaliencyMap, params given: [String: ParamValue] = [:],
                     groundTruth: GroundTruth = GroundTruth(), seed: UInt64 = 0, cancellation: CancellationToken = .never,
                     explainer: (any Explainer)? = nil, fitDataset: (any Dataset)? = nil) throws -> MetricResult {
    let params = try Params.resolve(given, schema: metric.parameters, plugin: metric.name)
    if metric.needsGroundTruth && groundTruth.masks == nil && groundTruth.boxes == nil {
        throw PluginError.invalid("metric '\(metric.name)' needs ground-truth masks or boxes; this data has none")
    }
    let trainable = model.trainable
    model.freeze()
    defer { model.setTrainable(trainable) }
    var ctx = MetricContext(model: model, images: images.detached(), saliency: saliency, params: params, groundTruth: groundTruth,
                            rng: RandomGenerator(seed: seed), cancellation: cancellation, explainer: explainer, fitDataset: fitDataset)
    let r = try metric.evaluate(&ctx)
    guard r.values.count == images.shape[0] else {
        throw PluginError.invalid("metric '\(metric.name)' returned \(r.values.count) values for \(images.shape[0]) images")
    }
    return r
}
