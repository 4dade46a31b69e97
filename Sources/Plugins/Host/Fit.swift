import Dispatch
import Foundation
import Runtime

/// What a method learned from a dataset in its `fit` phase (CHIP's channel gates, VEbI's
/// interpreter, NICE's generator, a distilled surrogate): named tensors plus a few numbers
/// and notes. It records what it was fitted to, so it is never applied to another model
/// or method by mistake, and it saves to one self-describing file.
public struct FitState: Sendable {
    public var method: String
    /// Content digest of the model it was fitted to (`Graph.contentDigest`).
    public var modelDigest: String
    /// `identity` of the dataset it was fitted on (name, size and a content sample digest).
    public var dataset: String
    /// The fit-relevant parameters, as text (for people; the cache key covers them exactly).
    public var params: String
    /// The cache key (see `FitCache.key`).
    public var key: String
    public var tensors: [String: Tensor]
    public var scalars: [String: Double]
    public var notes: [String: String]
    /// Wall time of the fit, seconds.
    public var seconds: Double

    public init(method: String, modelDigest: String = "", dataset: String = "", params: String = "", key: String = "",
                tensors: [String: Tensor] = [:], scalars: [String: Double] = [:], notes: [String: String] = [:], seconds: Double = 0) {
        self.method = method; self.modelDigest = modelDigest; self.dataset = dataset; self.params = params; self.key = key
        self.tensors = tensors; self.scalars = scalars; self.notes = notes; self.seconds = seconds
    }

    /// The tensor a fitting method stored under `name`, or a clear error (a state file from
    /// another version of the method).
    public func tensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else {
            throw PluginError.invalid("the fitted state of '\(method)' has no tensor '\(name)' (fitted by another version? fit again)")
        }
        return t
    }
}

/// Everything a `fit` phase sees.
public struct FitContext {
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
/// model for the duration, times the fit and labels the state with what it was fitted to.
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
    state.params = FitCache.fitParams(explainer, params).description
    state.key = FitCache.key(explainer, modelDigest: state.modelDigest, datasetIdentity: state.dataset, params: params, seed: seed)
    return state
}

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

    /// The parameters a fit depends on (the method's `fitParameters`).
    static func fitParams(_ explainer: any Explainer, _ params: Params) -> Params {
        let names = Set(explainer.fitParameters)
        return Params(params.values.filter { names.contains($0.key) })
    }

    /// Tool version, method, fit parameters, seed, model content and dataset identity.
    public static func key(_ explainer: any Explainer, model: Graph, dataset: any Dataset, params: Params, seed: UInt64) throws -> String {
        key(explainer, modelDigest: model.contentDigest, datasetIdentity: try dataset.identity(), params: params, seed: seed)
    }

    /// The key from digests already at hand (hashing a model's weights is the costly part).
    static func key(_ explainer: any Explainer, modelDigest: String, datasetIdentity: String, params: Params, seed: UInt64) -> String {
        var d = Digest()
        d.update(saliencyVersion); d.update(explainer.name)
        let p = fitParams(explainer, params)
        for name in p.values.keys.sorted() {
            d.update(name)
            if case let .tensor(t) = p.values[name]! { d.update(t) } else { d.update(p.values[name]!.description) }
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

extension FitState {
    static let magic = Array("SALFIT1\n".utf8)

    /// One file: magic, a little-endian UInt32 header length, a JSON header (what it was
    /// fitted to, tensor names and shapes, scalars, notes), then the tensors' float32 data
    /// in header order. Written atomically.
    public func save(path: String) throws {
        let names = tensors.keys.sorted()
        let header: [String: Any] = [
            "method": method, "model": modelDigest, "dataset": dataset, "params": params, "key": key,
            "seconds": seconds, "version": saliencyVersion,
            "tensors": names.map { ["name": $0, "shape": tensors[$0]!.shape] as [String: Any] },
            "scalars": scalars, "notes": notes,
        ]
        let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        var bytes = Self.magic
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { bytes += $0 }
        bytes += json
        for n in names { tensors[n]!.withUnsafeBufferPointer { bytes += UnsafeRawBufferPointer($0) } }
        try writeFileAtomically(bytes, to: path)
    }

    /// Reads a state file; any damage (truncation, foreign file, bad header) is an IOError.
    public static func load(path: String) throws -> FitState {
        guard let data = FileManager.default.contents(atPath: path) else { throw IOError(path: path, message: "cannot read the file") }
        let bytes = [UInt8](data)
        func bad(_ m: String) -> IOError { IOError(path: path, message: "not a saliency-repl fit file: \(m)") }
        guard bytes.count >= magic.count + 4, Array(bytes[0..<magic.count]) == magic else { throw bad("wrong magic") }
        let hlen = Int(UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24)
        guard 12 + hlen <= bytes.count else { throw bad("truncated header") }
        guard let h = try? JSONSerialization.jsonObject(with: Data(bytes[12..<(12 + hlen)])) as? [String: Any],
              let method = h["method"] as? String, let key = h["key"] as? String,
              let specs = h["tensors"] as? [[String: Any]] else { throw bad("damaged header") }
        var offset = 12 + hlen
        var tensors: [String: Tensor] = [:]
        for s in specs {
            guard let name = s["name"] as? String, let shape = (s["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  shape.allSatisfy({ $0 >= 0 }), shape.count < 9 else { throw bad("damaged tensor entry") }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in let r = acc.0.multipliedReportingOverflow(by: d); return (r.partialValue, acc.1 || r.overflow) }
            guard !overflow, count <= (bytes.count - offset) / 4 else { throw bad("truncated data for tensor '\(name)'") }
            let t = bytes.withUnsafeBytes { raw in
                Tensor(shape: shape) { out in
                    for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * i, as: UInt32.self))) }
                }
            }
            tensors[name] = t
            offset += 4 * count
        }
        guard offset == bytes.count else { throw bad("\(bytes.count - offset) trailing bytes") }
        return FitState(method: method, modelDigest: h["model"] as? String ?? "", dataset: h["dataset"] as? String ?? "",
                        params: h["params"] as? String ?? "", key: key, tensors: tensors,
                        scalars: (h["scalars"] as? [String: Any] ?? [:]).compactMapValues { ($0 as? NSNumber)?.doubleValue },
                        notes: h["notes"] as? [String: String] ?? [:], seconds: (h["seconds"] as? NSNumber)?.doubleValue ?? 0)
    }
}
