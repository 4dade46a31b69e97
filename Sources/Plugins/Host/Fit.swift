import Dispatch
import Foundation
import Runtime

/// Everything a `fit` phase sees.
public struct FitContext {
    /// The model to explain, frozen for the fit. A fit that fine-tunes trains
    /// `model.copy()` and returns it as `FitState.model`; it never changes this graph.
    public let model: Graph
    public let dataset: any Dataset
    public let params: Params
    public var rng: RandomGenerator
    public let cancellation: CancellationToken
    /// Reports work done (done, total) for progress bars.
    public let progress: (@Sendable (Int, Int) -> Void)?

    public init(model: Graph, dataset: any Dataset, params: Params, rng: RandomGenerator = RandomGenerator(seed: 0),
                cancellation: CancellationToken = .never, progress: (@Sendable (Int, Int) -> Void)? = nil) {
        self.model = model; self.dataset = dataset; self.params = params; self.rng = rng
        self.cancellation = cancellation; self.progress = progress
    }
}

extension Dataset {
    /// What identifies a dataset's content for cache keys: name, size, class names, and a
    /// digest of up to 16 evenly spaced examples (image bytes and label). Sampling keeps the
    /// key cheap for a 60k-image dataset while still telling apart splits, seeds, image
    /// sizes and limits; a folder whose unsampled files changed in place is the case it
    /// misses (delete the cache file, or pass `cache: false`).
    public func identity() throws -> String {
        var d = Digest()
        d.update(name); d.update(count); d.update(classNames.joined(separator: "\u{1F}"))
        let samples = Swift.min(count, 16)
        for k in 0..<samples {
            let e = try example(count <= 16 ? k : k * (count - 1) / 15)
            d.update(e.image); d.update(e.label)
        }
        return "\(name) (\(count) examples) #\(d.hex.prefix(12))"
    }
}

/// Fits a method on a dataset: checks the method fits, validates parameters, freezes the
/// model for the duration, times the fit, labels the state with what it was fitted to and
/// the fit parameters it used, and freezes the networks it trained.
public func fit(_ explainer: any Explainer, model: Graph, dataset: any Dataset, params given: [String: ParamValue] = [:],
                seed: UInt64 = 0, cancellation: CancellationToken = .never,
                progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> FitState {
    guard explainer.capabilities.contains(.fits) else {
        throw PluginError.invalid("method '\(explainer.name)' has no fit phase; it explains without learning from a dataset")
    }
    guard dataset.count > 0 else { throw PluginError.invalid("cannot fit '\(explainer.name)' on an empty dataset") }
    let params = try Params.resolve(given, schema: explainer.parameters, plugin: explainer.name)
    let trainable = model.trainable
    model.freeze()
    defer { model.setTrainable(trainable) }
    let ctx = FitContext(model: model, dataset: dataset, params: params, rng: RandomGenerator(seed: seed),
                         cancellation: cancellation, progress: progress)
    let t0 = DispatchTime.now().uptimeNanoseconds
    var state = try explainer.fit(ctx)
    state.seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    state.method = explainer.name
    state.modelDigest = model.contentDigest
    state.dataset = try dataset.identity()
    state.params = FitCache.fitParams(explainer, params)
    state.key = FitCache.key(explainer, modelDigest: state.modelDigest, datasetIdentity: state.dataset, params: params, seed: seed)
    state.freezeNetworks()
    return state
}
