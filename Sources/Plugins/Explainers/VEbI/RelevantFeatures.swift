import Runtime

/// What VEbI's fit learns: the feature pool and W [m, C] of Eq. 1, with the state encoding.
///
/// State: tensor `weights` [m, C]; tensors `layer_channels` and `layer_spatial` [L] and the
/// note `layers` (value names, one per line) describe the pool; the fit parameter `response`
/// (typed in the state) says how x_i was computed. Explain reads the pool from the state,
/// never from its own parameters, so a state always explains with the descriptor it was
/// fitted with. The table `features` lists every non-zero W[f, j]: class, class name,
/// layer, channel, weight (by class, then decreasing |weight|).
struct RelevantFeatures: Sendable {
    let pool: FeaturePool
    /// [m, C]: the relevance weight of feature f for class j at f * C + j.
    let weights: [Float]
    let classes: Int

    init(pool: FeaturePool, weights: Tensor) throws {
        guard weights.rank == 2, weights.shape[0] == pool.count, weights.shape[1] >= 1 else {
            throw PluginError.invalid("'vebi': the fitted weights have shape \(weights.shape); the feature pool has \(pool.count) features (fit again)")
        }
        self.pool = pool
        self.weights = weights.scalars
        classes = weights.shape[1]
    }

    init(state: FitState) throws {
        let w = try state.tensor("weights")
        let channels = try state.tensor("layer_channels").scalars, spatial = try state.tensor("layer_spatial").scalars
        let layerNames = (state.notes["layers"] ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let r = try state.params.string("response").flatMap(FeaturePool.Response.init(rawValue:)),
              layerNames.count == channels.count, spatial.count == channels.count, channels.allSatisfy({ $0 >= 1 }) else {
            throw PluginError.invalid("'vebi': the fitted state does not describe its feature pool (fitted by another version? fit again)")
        }
        let pool = FeaturePool(layers: (0..<channels.count).map { (layerNames[$0], Int(channels[$0]), spatial[$0] != 0) }, response: r)
        try self.init(pool: pool, weights: w)
    }

    /// The state's tensors, notes and feature table (the host adds what it was fitted to and
    /// the fit parameters).
    func state(classNames: [String], scalars: [String: Double]) -> FitState {
        var rows: [[ParamValue]] = []
        for c in 0..<classes {
            for f in selected(class: c).sorted(by: { abs(weight($0, c)) > abs(weight($1, c)) || (abs(weight($0, c)) == abs(weight($1, c)) && $0 < $1) }) {
                let (layer, channel) = pool.locate(f)
                // The Float weight's shortest decimal form: the state's JSON header writes doubles
                // with fewer digits than Double(Float) has, which would not read back the same.
                let w = weight(f, c)
                rows.append([.int(c), .string(c < classNames.count ? classNames[c] : String(c)), .string(layer.name), .int(channel),
                             .float(Double("\(w)") ?? Double(w))])
            }
        }
        return FitState(method: "vebi",
                        tensors: ["weights": Tensor(shape: [pool.count, classes], data: weights),
                                  "layer_channels": Tensor(shape: [pool.layers.count], data: pool.layers.map { Float($0.channels) }),
                                  "layer_spatial": Tensor(shape: [pool.layers.count], data: pool.layers.map { $0.spatial ? 1 : 0 })],
                        scalars: scalars,
                        notes: ["layers": pool.names.joined(separator: "\n")],
                        tables: ["features": FitTable(columns: ["class", "class_name", "layer", "channel", "weight"], rows: rows)])
    }

    func weight(_ feature: Int, _ classIndex: Int) -> Float { weights[feature * classes + classIndex] }

    /// Features with a non-zero weight for class `c`, in pool order. Zeros are exact: SPG's
    /// iterates are projections onto the L1 ball, which set entries to 0, not near it.
    func selected(class c: Int) -> [Int] { (0..<pool.count).filter { weight($0, c) != 0 } }

    /// Features with a non-zero weight for any class: the set Fig. 4 ablates.
    var selectedAny: [Int] { (0..<pool.count).filter { f in (0..<classes).contains { weight(f, $0) != 0 } } }

    /// The selected features grouped by layer name, `{layer: [channels]}` (for ablation).
    func channelsByLayer(_ features: [Int]) -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for f in features {
            let (layer, channel) = pool.locate(f)
            out[layer.name, default: []].append(channel)
        }
        return out
    }

    /// Features of one image ranked for class `c` (§3.2): r = w_c ∘ x, positive entries in
    /// decreasing order (ties by pool order), restricted to `eligible`. When none is positive,
    /// the ranking of x alone (the documented fallback) and `fallback` true.
    func ranking(descriptor x: ArraySlice<Float>, class c: Int, eligible: (Int) -> Bool) -> (features: [Int], fallback: Bool) {
        let base = x.startIndex
        func ranked(_ score: (Int) -> Float) -> [Int] {
            let scored = (0..<pool.count).compactMap { f -> (Int, Float)? in
                guard eligible(f) else { return nil }
                let s = score(f)
                return s > 0 ? (f, s) : nil
            }
            return scored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.map(\.0)
        }
        let byRelevance = c < classes ? ranked { weight($0, c) * x[base + $0] } : []
        if !byRelevance.isEmpty { return (byRelevance, false) }
        return (ranked { x[base + $0] }, true)
    }
}
