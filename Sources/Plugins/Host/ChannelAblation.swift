import Runtime

/// Channels to zero at named layers: VEbI's filter ablation (Fig. 4: zero the selected
/// filters, measure accuracy) and its matched random control (same number of filters in the
/// same layers). Layers are node or value names, as `capture` takes them; a layer's channels
/// are axis 1 of its value, so fully connected features ([N, F]) count as channels too (VEbI's
/// "All" selection includes FC features).
public struct ChannelAblation: Sendable {
    /// Channels by layer, as given (validated: known layers, channels in range, no repeats).
    public let channels: [String: [Int]]
    /// Number of channels of each named layer.
    public let channelCounts: [String: Int]

    /// Checks `channels` against the graph: one inference pass on `example` ([1, C, H, W] or a
    /// batch) gives each layer's channel count.
    public init(_ channels: [String: [Int]], graph: Graph, example: Tensor) throws {
        for layer in channels.keys.sorted() {
            do { _ = try graph.resolveValue(layer) } catch let e as GraphError { throw PluginError.invalid(e.description) }
        }
        let captured = try Autograd.noGrad { try graph.forward(example, options: ForwardOptions(capture: channels.keys.sorted())).captured }
        var counts: [String: Int] = [:]
        for (layer, list) in channels.sorted(by: { $0.key < $1.key }) {
            guard let v = captured[layer], v.rank >= 2 else {
                throw PluginError.invalid("layer '\(layer)' has shape \(captured[layer]?.shape ?? []); ablation needs channels on axis 1 ([N, C, ...])")
            }
            let c = v.shape[1]
            var seen = Set<Int>()
            for ch in list {
                guard ch >= 0 && ch < c else {
                    throw PluginError.invalid("channel \(ch) is out of range for layer '\(layer)', which has \(c) channels (0...\(c - 1))")
                }
                guard seen.insert(ch).inserted else { throw PluginError.invalid("channel \(ch) is listed twice for layer '\(layer)'") }
            }
            counts[layer] = c
        }
        self.channels = channels
        self.channelCounts = counts
    }

    private init(channels: [String: [Int]], counts: [String: Int]) { self.channels = channels; self.channelCounts = counts }

    /// The forward-pass interventions that zero the channels.
    public var interventions: [String: Intervention] { channels.mapValues { .zeroChannels($0) } }

    /// A matched random control: in every layer, as many channels as here, drawn uniformly
    /// without replacement (a partial Fisher-Yates shuffle), layers in name order so a seed
    /// gives the same draw whatever order the layers were written in.
    public func randomLike(rng: inout RandomGenerator) -> ChannelAblation {
        var drawn: [String: [Int]] = [:]
        for layer in channels.keys.sorted() {
            let c = channelCounts[layer] ?? 0, want = Swift.min(channels[layer]?.count ?? 0, c)
            var pool = Array(0..<c)
            for i in 0..<want {
                let j = i + Int(rng.next() % UInt64(c - i))
                pool.swapAt(i, j)
            }
            drawn[layer] = pool.prefix(want).sorted()
        }
        return ChannelAblation(channels: drawn, counts: channelCounts)
    }
}

/// Accuracies of `repeats` matched random controls of `like` (see `ChannelAblation.randomLike`),
/// one seeded generator for all repeats in turn.
public struct RandomAblationResult: Sendable {
    /// Accuracy of each repeat, in order.
    public var accuracies: [Double]
    /// The channels each repeat zeroed.
    public var draws: [[String: [Int]]]
    /// Mean, sample std (n - 1) and 95% CI of the accuracies (`aggregate`).
    public var summary: Aggregate
}

public func randomAblation(_ graph: Graph, on dataset: any Dataset, like: ChannelAblation, repeats: Int, seed: UInt64,
                           batchSize: Int = 100, cancellation: CancellationToken = .never) throws -> RandomAblationResult {
    guard repeats >= 1 else { throw PluginError.invalid("random_ablation: repeats must be at least 1, got \(repeats)") }
    var rng = RandomGenerator(seed: seed)
    var accuracies: [Double] = [], draws: [[String: [Int]]] = []
    for _ in 0..<repeats {
        let control = like.randomLike(rng: &rng)
        accuracies.append(try accuracy(graph, on: dataset, batchSize: batchSize, interventions: control.interventions,
                                       cancellation: cancellation))
        draws.append(control.channels)
    }
    return RandomAblationResult(accuracies: accuracies, draws: draws, summary: aggregate(accuracies))
}
