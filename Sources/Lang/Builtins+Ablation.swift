import Plugins
import Runtime

/// Filter ablation in the language (VEbI's Fig. 4 protocol): `accuracy(model, data,
/// ablate: {layer: [channels]})` zeroes the listed channels (see Builtins+Train.swift), and
/// `random_ablation(model, data, like: {...}, repeats: 10, seed: 1)` measures matched random
/// controls: in every layer as many channels as `like` lists, drawn uniformly without
/// replacement, `repeats` times from one seeded generator. It returns a record with each
/// repeat's accuracy, their mean, sample std (n - 1) and 95% CI (`aggregate`'s conventions),
/// and the channels each repeat drew.
extension Builtins {
    static let ablating: [Builtin] = [
        Builtin("random_ablation", [BuiltinParam("model"), BuiltinParam("data"), BuiltinParam("like"),
                                    BuiltinParam("repeats", default: .number(10)), BuiltinParam("seed", optional: true),
                                    BuiltinParam("batch", default: .number(100))],
                doc: "Matched random controls of a filter ablation: accuracy with, in every layer of like: {layer: [channels]}, as many channels zeroed but drawn uniformly without replacement (seeded), repeats times. Returns {accuracy: [per repeat], mean, std, ci95, repeats, channels: [{layer: [drawn]} per repeat]}.") { a in
            let m = try a.model("model")
            let data = try dataset(a, "data")
            let repeats = try a.int("repeats"), batch = try a.int("batch")
            guard repeats >= 1 else { throw LangError.arguments("repeats must be >= 1, got \(repeats)") }
            guard batch >= 1 else { throw LangError.arguments("batch must be >= 1, got \(batch)") }
            let s = try seed(a)
            try checkCompatible(m, data, role: "data")
            let like = try channelAblation(try a.value("like"), argument: "like", model: m, data: data)
            if a.interpreter.dryRun { return .none }
            let r = try randomAblation(m.graph, on: data, like: like, repeats: repeats, seed: s, batchSize: batch,
                                       cancellation: a.interpreter.cancellation)
            func channels(_ d: [String: [Int]]) -> Value {
                // unreachable from input: the keys iterated are the dictionary's own
                .record(Record(d.keys.sorted().map { ($0, .list(d[$0]!.map { .number(Double($0)) })) }))
            }
            return .record(Record([
                ("accuracy", .list(r.accuracies.map { .number($0) })),
                ("mean", .number(r.summary.mean)),
                ("std", .number(r.summary.std)),
                ("ci95", .list([.number(r.summary.ci95Low), .number(r.summary.ci95High)])),
                ("repeats", .number(Double(repeats))),
                ("channels", .list(r.draws.map(channels))),
            ]))
        },
    ]

    /// `{layer: [channels]}` checked against the model (known layers, channels in range, no
    /// repeats; one inference pass on the data's first image gives the channel counts).
    static func channelAblation(_ v: Value, argument: String, model m: ModelValue, data: any Dataset) throws -> ChannelAblation {
        guard case let .record(r) = v, !r.keys.isEmpty else {
            throw LangError.arguments("\(argument) must be a record of channel lists such as {conv2: [0, 5]}, got \(v.typeName)")
        }
        var channels: [String: [Int]] = [:]
        for (layer, list) in r.pairs {
            guard case let .list(items) = list else {
                throw LangError.arguments("\(argument).\(layer) must be a list of channel indices, got \(list.typeName)")
            }
            channels[layer] = try items.map { item in
                guard case let .number(x) = item, x == x.rounded(), x >= 0, x < 1e9 else {
                    throw LangError.arguments("\(argument).\(layer) must list channel indices (whole numbers >= 0), got \(item.summary)")
                }
                return Int(x)
            }
        }
        let example = try data.example(0).image
        do {
            return try ChannelAblation(channels, graph: m.graph, example: example.reshaped([1] + example.shape))
        } catch let PluginError.invalid(message) {
            throw LangError.arguments("\(argument): \(message)")
        }
    }
}
