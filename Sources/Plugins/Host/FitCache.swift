import Foundation
import Runtime

/// Fitted states on disk, one file per key, so a method is fitted once per (model, dataset,
/// fit parameters, seed) and reused by every later run, script or pipeline.
///
/// Location: `$SALIENCY_CACHE_DIR/fit`, else `$XDG_CACHE_HOME/saliency-repl/fit`, else
/// `~/.cache/saliency-repl/fit`. Files are written atomically; an unreadable or foreign
/// file is refitted with a warning (never trusted, never a crash).
public struct FitCache: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public static var defaultDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["SALIENCY_CACHE_DIR"], !d.isEmpty { return (d as NSString).appendingPathComponent("fit") }
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return (x as NSString).appendingPathComponent("saliency-repl/fit") }
        return (NSHomeDirectory() as NSString).appendingPathComponent(".cache/saliency-repl/fit")
    }

    /// The parameters a fit depends on (the method's `phase: .fit` parameters).
    static func fitParams(_ explainer: any Explainer, _ params: Params) -> Params {
        let names = Set(explainer.fitParameters)
        return Params(params.values.filter { names.contains($0.key) }, plugin: explainer.name)
    }

    /// Tool version, state file format, method, fit parameters, seed, model content and
    /// dataset identity.
    public static func key(_ explainer: any Explainer, model: Graph, dataset: any Dataset, params: Params, seed: UInt64) throws -> String {
        key(explainer, modelDigest: model.contentDigest, datasetIdentity: try dataset.identity(), params: params, seed: seed)
    }

    /// The key from digests already at hand (hashing a model's weights is the costly part).
    static func key(_ explainer: any Explainer, modelDigest: String, datasetIdentity: String, params: Params, seed: UInt64) -> String {
        var d = Digest()
        d.update(saliencyVersion); d.update(FitState.formatVersion); d.update(explainer.name)
        let p = fitParams(explainer, params)
        for (name, value) in p.values.sorted(by: { $0.key < $1.key }) {
            d.update(name)
            if case let .tensor(t) = value { d.update(t) } else { d.update(value.description) }
        }
        d.update(Int(truncatingIfNeeded: seed))
        d.update(modelDigest)
        d.update(datasetIdentity)
        return d.hex
    }

    public func path(forKey key: String, method: String) -> String {
        (directory as NSString).appendingPathComponent("\(method)-\(key).salfit")
    }

    /// The cached state for these inputs, or a fresh fit saved to the cache. `log` gets one
    /// line saying which it was (and a warning for a damaged cache file).
    public func fitted(_ explainer: any Explainer, model: Graph, dataset: any Dataset, params given: [String: ParamValue] = [:],
                       seed: UInt64 = 0, cancellation: CancellationToken = .never,
                       progress: (@Sendable (Int, Int) -> Void)? = nil, log: (String) -> Void = { _ in }) throws -> FitState {
        // `fit` below checks the method fits; the key only needs the resolved parameters.
        let params = try Params.resolve(given, schema: explainer.parameters, plugin: explainer.name)
        let key = try Self.key(explainer, model: model, dataset: dataset, params: params, seed: seed)
        let file = path(forKey: key, method: explainer.name)
        if FileManager.default.fileExists(atPath: file) {
            do {
                let s = try FitState.load(path: file)
                if s.key == key && s.method == explainer.name {
                    log("\(explainer.name): fitted state reused from \(file) (fitted in \(String(format: "%.1f", s.seconds)) s)")
                    return s
                }
                log("warning: \(file) belongs to another fit; fitting again")
            } catch {
                log("warning: cannot read cached fit \(file) (\(error)); fitting again")
            }
        }
        let state = try fit(explainer, model: model, dataset: dataset, params: given, seed: seed,
                            cancellation: cancellation, progress: progress)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try state.save(path: file)
            log("\(explainer.name): fitted on \(state.dataset) in \(String(format: "%.1f", state.seconds)) s, cached in \(file)")
        } catch {
            // A read-only home must not fail the run: the fit itself succeeded.
            log("warning: could not cache the fit of \(explainer.name) in \(directory): \(error)")
        }
        return state
    }
}
