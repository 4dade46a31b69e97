import Foundation
import Runtime

/// The training loop's epoch checkpoints, in one directory:
///
/// - `epoch-<k>.params`: tensors in the weight-file format (Runtime/NN/Checkpoint.swift):
///   "weights/<i>/<name>" every weight of trained graph i (batch-norm statistics included),
///   "best/<i>/<name>" the best epoch's weights when that is not the last epoch, and
///   "optimizer/<key>" the optimizer's carried tensors.
/// - `checkpoint.json`: the run's fingerprint (settings it must match), the tensor file's
///   name, the generator's state, the example order, the epoch records, the best epoch and
///   the optimizer's counters.
///
/// Saving writes the tensor file, then the manifest, each atomically (temporary file, fsync,
/// rename), then deletes older tensor files: whenever the process is killed, the manifest
/// names a complete tensor file of the epoch it describes.
struct TrainingCheckpoint {
    let directory: URL
    let fingerprint: [(String, String)]
    var manifestURL: URL { directory.appendingPathComponent("checkpoint.json") }

    init(directory: URL, fingerprint: [(String, String)]) throws {
        self.directory = directory
        self.fingerprint = fingerprint
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw IOError(path: directory.path, message: "cannot create the checkpoint directory (\(error.localizedDescription))")
        }
    }

    struct Manifest: Codable {
        var format = 1
        var fingerprint: [[String]]
        var tensors: String
        var rng: [UInt64]
        var order: [Int]
        var records: [EpochRecord]
        var bestEpoch: Int?
        var bestScore: Double?
        var bestStoredApart: Bool
        var optimizerCounters: [String: Int]
    }

    func save(_ state: LoopState, trained: [TrainedGraph], optimizer: any Optimizer) throws {
        let epochs = state.records.count
        let tensorFile = "epoch-\(epochs).params"
        var entries: [(String, Tensor)] = []
        for (i, t) in trained.enumerated() {
            for (name, p) in t.graph.parameters.sorted(by: { $0.key < $1.key }) { entries.append(("weights/\(i)/\(name)", p.value)) }
        }
        let apart = state.best.map { $0.epoch != epochs - 1 } ?? false
        if apart, let best = state.best {
            for (i, w) in best.weights.enumerated() { for (name, t) in w.sorted(by: { $0.key < $1.key }) { entries.append(("best/\(i)/\(name)", t)) } }
        }
        let opt = optimizer.state
        for (key, t) in opt.tensors.sorted(by: { $0.key < $1.key }) { entries.append(("optimizer/\(key)", t)) }
        try saveTensors(entries, to: directory.appendingPathComponent(tensorFile))

        let manifest = Manifest(fingerprint: fingerprint.map { [$0.0, $0.1] }, tensors: tensorFile, rng: state.rng.state,
                                order: state.order, records: state.records, bestEpoch: state.best?.epoch, bestScore: state.best?.score,
                                bestStoredApart: apart, optimizerCounters: opt.counters)
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let bytes: Data
        do { bytes = try encoder.encode(manifest) } catch {
            throw IOError(path: manifestURL.path, message: "cannot encode the checkpoint (\(error))")
        }
        try writeFileAtomically([UInt8](bytes), to: manifestURL.path)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for f in files where f.hasPrefix("epoch-") && f.hasSuffix(".params") && f != tensorFile {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(f))
        }
    }

    /// Loads the checkpoint into the trained graphs and the optimizer and returns the loop's
    /// state; nil when the directory holds none. Nothing is changed when it does not fit.
    func load(into trained: [TrainedGraph], optimizer: any Optimizer, count: Int) throws -> LoopState? {
        guard FileManager.default.fileExists(atPath: manifestURL.path) else { return nil }
        let path = manifestURL.path
        let manifest: Manifest
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            manifest = try decoder.decode(Manifest.self, from: Data(contentsOf: manifestURL))
        } catch {
            throw IOError(path: path, message: "not a readable training checkpoint (\(error))")
        }
        guard manifest.format == 1 else { throw IOError(path: path, message: "checkpoint format \(manifest.format); this build reads format 1") }
        let saved = Dictionary(manifest.fingerprint.map { ($0.first ?? "", $0.count > 1 ? $0[1] : "") }, uniquingKeysWith: { a, _ in a })
        for (what, value) in fingerprint where saved[what] != value {
            throw PluginError.invalid("the checkpoint in \(directory.path) is of another run: its \(what) is "
                + (saved[what].map { "'\($0)'" } ?? "absent") + ", this run's '\(value)' (delete the directory to start afresh)")
        }
        guard let rng = RandomGenerator(state: manifest.rng) else { throw IOError(path: path, message: "invalid generator state \(manifest.rng)") }
        guard manifest.order.count == count, Set(manifest.order) == Set(0..<count) else {
            throw IOError(path: path, message: "the example order is not a permutation of 0..<\(count)")
        }
        guard !manifest.records.isEmpty, manifest.bestEpoch.map({ $0 >= 0 && $0 < manifest.records.count }) ?? true,
              (manifest.bestEpoch == nil) == (manifest.bestScore == nil) else {
            throw IOError(path: path, message: "inconsistent epoch records")
        }
        // The manifest names a file of this directory; a path from a damaged or planted
        // manifest must not make the loop read elsewhere.
        guard !manifest.tensors.isEmpty, !manifest.tensors.contains("/"), manifest.tensors != "..", manifest.tensors != "." else {
            throw IOError(path: path, message: "the tensor file '\(manifest.tensors)' is not a file name of the checkpoint directory")
        }
        let tensorURL = directory.appendingPathComponent(manifest.tensors)
        var groups: [String: [(String, Tensor)]] = [:]
        for (key, t) in try loadTensors(from: tensorURL) {
            guard let slash = key.firstIndex(of: "/") else { throw IOError(path: tensorURL.path, message: "unexpected tensor '\(key)'") }
            groups[String(key[..<slash]), default: []].append((String(key[key.index(after: slash)...]), t))
        }
        func perGraph(_ kind: String) throws -> [[(String, Tensor)]] {
            var out = [[(String, Tensor)]](repeating: [], count: trained.count)
            for (key, t) in groups[kind] ?? [] {
                guard let slash = key.firstIndex(of: "/"), let i = Int(key[..<slash]), i >= 0, i < trained.count else {
                    throw IOError(path: tensorURL.path, message: "tensor '\(kind)/\(key)' belongs to no trained graph")
                }
                out[i].append((String(key[key.index(after: slash)...]), t))
            }
            return out
        }
        let weights = try perGraph("weights"), best = try perGraph("best")
        guard best.allSatisfy(\.isEmpty) != manifest.bestStoredApart else {
            throw IOError(path: tensorURL.path, message: "the best epoch's weights are " + (manifest.bestStoredApart ? "missing" : "unexpected"))
        }
        let unknown = Set(groups.keys).subtracting(["weights", "best", "optimizer"])
        guard unknown.isEmpty else { throw IOError(path: tensorURL.path, message: "unexpected tensors under \(unknown.sorted())") }

        // Check everything before changing anything: every graph's weights, then the optimizer.
        for (t, w) in zip(trained, weights) { try t.graph.checkWeights(w, names: Array(t.graph.parameters.keys), source: tensorURL.path) }
        if manifest.bestStoredApart {
            for (t, w) in zip(trained, best) { try t.graph.checkWeights(w, names: Array(t.graph.parameters.keys), source: tensorURL.path) }
        }
        let before = optimizer.state
        var optTensors: [String: Tensor] = [:]
        for (key, t) in groups["optimizer"] ?? [] where optTensors.updateValue(t, forKey: key) != nil {
            throw IOError(path: tensorURL.path, message: "tensor 'optimizer/\(key)' appears twice")
        }
        let optState = OptimizerState(tensors: optTensors, counters: manifest.optimizerCounters)
        do { try optimizer.restore(optState) } catch {
            try? optimizer.restore(before)
            throw IOError(path: tensorURL.path, message: "\(error)")
        }
        for (t, w) in zip(trained, weights) { try t.graph.assignWeights(w, names: Array(t.graph.parameters.keys), source: tensorURL.path) }

        var state = LoopState(rng: rng, order: manifest.order, records: manifest.records)
        if let epoch = manifest.bestEpoch, let score = manifest.bestScore {
            let snapshot = manifest.bestStoredApart
                ? best.map { Dictionary(uniqueKeysWithValues: $0) }
                : trained.map { $0.graph.weights.mapValues { $0.detached() } }
            state.best = (score, epoch, snapshot)
        }
        return state
    }
}
