import Runtime

/// What a method learned from a dataset in its `fit` phase (CHIP's channel gates, VEbI's
/// interpreter, NICE's generator, a distilled surrogate): named tensors, trained networks
/// (graphs), a fine-tuned copy of the model when the fit made one, a few numbers and notes,
/// and the fit parameters it was made with. It records what it was fitted to, so it is
/// never applied to another model or method by mistake, and it saves to one
/// self-describing file (`save(path:)`; the graphs travel as ONNX inside it).
///
/// A fitting method fills `tensors`, `scalars`, `notes`, `graphs` and `model`; the host's
/// `fit` fills the rest (method, digests, params, key, seconds) and freezes the graphs.
public struct FitState: Sendable {
    public var method: String
    /// Content digest of the model it was fitted to (`Graph.contentDigest`): the caller's
    /// model, never the fine-tuned copy in `model`.
    public var modelDigest: String
    /// `identity` of the dataset it was fitted on (name, size and a content sample digest).
    public var dataset: String
    /// The resolved fit parameters (the method's `phase: .fit` parameters), typed: explain
    /// calls with this state read these values and may not contradict them.
    public var params: Params
    /// The cache key (see `FitCache.key`).
    public var key: String
    public var tensors: [String: Tensor]
    public var scalars: [String: Double]
    public var notes: [String: String]
    /// Trained networks by name (a generator, a student, a decoder); each exports to ONNX
    /// and is a model in the language (`f.graph("decoder")`).
    public var graphs: [String: Graph]
    /// A fine-tuned copy of the fitted model (`ctx.model.copy()` trained by the fit); nil
    /// when the fit does not fine-tune. The caller's model is never changed.
    public var model: Graph?
    /// Wall time of the fit, seconds.
    public var seconds: Double

    public init(method: String, modelDigest: String = "", dataset: String = "", params: Params = Params(), key: String = "",
                tensors: [String: Tensor] = [:], scalars: [String: Double] = [:], notes: [String: String] = [:],
                graphs: [String: Graph] = [:], model: Graph? = nil, seconds: Double = 0) {
        self.method = method; self.modelDigest = modelDigest; self.dataset = dataset; self.params = params; self.key = key
        self.tensors = tensors; self.scalars = scalars; self.notes = notes; self.graphs = graphs; self.model = model
        self.seconds = seconds
    }

    /// The entry `name` of one of the state's tables, or an error that lists what it has.
    private func entry<T>(_ kind: String, _ name: String, in table: [String: T]) throws -> T {
        if let v = table[name] { return v }
        let names = table.keys.sorted()
        let hint = closestName(to: name, in: names).map { "; did you mean '\($0)'?" } ?? ""
        let list = names.isEmpty ? " (it has none)" : " (it has: \(names.joined(separator: ", ")))"
        throw PluginError.invalid("the fitted state of '\(method)' has no \(kind) '\(name)'\(hint)\(list)")
    }

    /// The tensor a fitting method stored under `name`, or a clear error.
    public func tensor(_ name: String) throws -> Tensor { try entry("tensor", name, in: tensors) }
    /// The trained network a fitting method stored under `name`, or a clear error.
    public func graph(_ name: String) throws -> Graph { try entry("graph", name, in: graphs) }
    public func scalar(_ name: String) throws -> Double { try entry("scalar", name, in: scalars) }
    public func note(_ name: String) throws -> String { try entry("note", name, in: notes) }

    /// The fine-tuned copy of the model, or a clear error when the fit made none.
    public func fineTunedModel() throws -> Graph {
        guard let model else { throw PluginError.invalid("the fitted state of '\(method)' holds no fine-tuned model") }
        return model
    }

    /// The parameters an explain call with this state runs with: `resolved` (the call's
    /// parameters with defaults) with every fit parameter set to the value the fit used.
    /// A fit parameter the call names (`given`) with another value is an error naming both.
    public func settle(_ resolved: Params, given: [String: ParamValue], for explainer: any Explainer) throws -> Params {
        var out = resolved
        for spec in explainer.parameters where spec.phase == .fit {
            guard let fitted = params[spec.name] else { continue }
            if let g = given[spec.name] {
                let said = try Params.check(g, spec: spec, plugin: explainer.name)
                guard said == fitted else {
                    throw PluginError.invalid("\(explainer.name) was fitted with \(spec.name): \(fitted); "
                        + "this call says \(spec.name): \(said): refit or drop the parameter")
                }
            }
            out.set(spec.name, fitted)
        }
        return out
    }

    /// Freezes every network it holds: a state's networks are results, not training targets
    /// (an explain call must not accumulate gradients into them or change them).
    func freezeNetworks() {
        for g in graphs.values { g.freeze() }
        model?.freeze()
    }
}
