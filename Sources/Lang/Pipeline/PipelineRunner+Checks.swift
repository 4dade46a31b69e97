import Plugins
import Runtime

/// Checks that need the models loaded but nothing computed: run before the first explain
/// step, so a wrong layer name stops the run before any map is made, not after the work.
extension PipelineRunner {
    /// Every `layer:` of every explain step's methods, checked against each model the step
    /// explains that is already loaded; all problems at once, each at its YAML position.
    func layerDiagnostics(interpreter: Interpreter) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for step in pipeline.steps where step.kind == .explain {
            let refs: [YAMLValue]
            switch step.arg("models") ?? step.arg("model") {
            case let .list(items, _)?: refs = items
            case let v?: refs = [v]
            case nil: refs = []
            }
            let models = refs.compactMap { r -> (String, Graph)? in
                guard case let .scalar(name, _, _) = r, case let .model(m)? = interpreter.globals.lookup(name) else { return nil }
                return (name, m.graph)
            }
            for (method, layer, position) in layers(step.arg("methods")) {
                for (name, graph) in models {
                    do { _ = try graph.resolveValue(layer) } catch {
                        out.append(Diagnostic(.runtime, loc(position), "method '\(method)' on model '\(name)': \(error)"))
                    }
                }
            }
        }
        return out
    }

    /// (method, layer, position of the layer's value) for each method that names a layer.
    func layers(_ methods: YAMLValue?) -> [(String, String, YAMLPosition)] {
        switch methods {
        case let .list(items, _)?: return items.flatMap { layers($0) }
        case let .map(pairs, _)? where pairs.count == 1:
            guard case let .map(params, _) = pairs[0].value,
                  let layer = params.first(where: { $0.key == "layer" }), case let .scalar(name, p, _) = layer.value else { return [] }
            return [(pairs[0].key, name, p)]
        default: return []
        }
    }
}
