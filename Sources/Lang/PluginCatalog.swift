import Foundation
import Plugins

/// One way to describe registered plugins, as text and as JSON: `help("name")`, the REPL's
/// `:methods` / `:metrics` / `:datasets` and `saliency-repl methods` all print these, so a
/// parameter's type, default, range and doc read the same everywhere.
public enum PluginCatalog {
    public enum Kind: String, CaseIterable, Sendable { case methods, metrics, datasets }

    /// Capability flags by the names users read and `register_method(capabilities:)` takes.
    public static let capabilityNames: [(String, Capabilities)] = [
        ("gradients", .needsGradients), ("layer", .layerChoice), ("batched", .batched), ("stochastic", .stochastic), ("fits", .fits),
    ]

    public static func capabilities(_ c: Capabilities) -> [String] { capabilityNames.filter { c.contains($0.1) }.map(\.0) }

    /// "  parameters:\n    sigma: float = 0.5 in 0...10\n        doc", or "  parameters: none".
    public static func parameterLines(_ specs: [ParamSpec], title: String = "parameters") -> String {
        guard !specs.isEmpty else { return "  \(title): none" }
        return "  \(title):\n" + specs.map { "    \($0.signature)" + ($0.doc.isEmpty ? "" : "\n        \($0.doc)") }.joined(separator: "\n")
    }

    /// A method that fits lists its fit parameters apart from its explain parameters.
    public static func describe(_ e: any Explainer) -> String {
        let caps = capabilities(e.capabilities)
        let head = "method \(e.name): \(e.summary)\n  \(e.reference)\n  capabilities: \(caps.isEmpty ? "none" : caps.joined(separator: ", "))\n"
        guard e.capabilities.contains(.fits) else { return head + parameterLines(e.parameters) }
        return head + parameterLines(e.parameters.filter { $0.phase == .fit }, title: "fit parameters (fixed by the fit; explain reads them from the state)")
            + "\n" + parameterLines(e.parameters.filter { $0.phase == .explain }, title: "explain parameters")
    }

    public static func describe(_ m: any Metric) -> String {
        // Summaries that already say their direction are not told it twice.
        "metric \(m.name): \(m.summary)" + (m.direction == .neither || m.summary.contains(m.direction.rawValue) ? "" : " (\(m.direction.rawValue))") + "\n  \(m.reference)"
            + (m.needsGroundTruth ? "\n  needs ground truth (masks or boxes)" : "") + "\n" + parameterLines(m.parameters)
    }

    public static func describe(_ d: any DatasetProvider) -> String { "dataset \(d.name): \(d.summary)\n" + parameterLines(d.parameters) }

    /// Every plugin of the given kinds, one block each, blank lines between, in name order.
    public static func text(_ registry: Registry, kinds: [Kind]) -> String {
        kinds.map { kind -> String in
            let blocks: [String]
            switch kind {
            case .methods: blocks = registry.explainers.map(describe)
            case .metrics: blocks = registry.metrics.map(describe)
            case .datasets: blocks = registry.datasets.map(describe)
            }
            return blocks.isEmpty ? "no \(kind.rawValue) are registered" : blocks.joined(separator: "\n\n")
        }.joined(separator: "\n\n")
    }

    // MARK: JSON

    /// `{"methods": [{"name", "summary", "reference", "capabilities", "parameters": [...]}], ...}`
    /// with only the asked kinds; keys sorted so the output is stable.
    public static func json(_ registry: Registry, kinds: [Kind]) throws -> String {
        var root: [String: Any] = [:]
        for kind in kinds {
            switch kind {
            case .methods:
                root["methods"] = registry.explainers.map { e -> [String: Any] in
                    ["name": e.name, "summary": e.summary, "reference": e.reference,
                     "capabilities": capabilities(e.capabilities),
                     "parameters": e.parameters.map { p in json(p).merging(["phase": p.phase.rawValue]) { a, _ in a } }]
                }
            case .metrics:
                root["metrics"] = registry.metrics.map { m -> [String: Any] in
                    ["name": m.name, "summary": m.summary, "reference": m.reference, "direction": m.direction == .neither ? "" : m.direction.rawValue,
                     "needs_ground_truth": m.needsGroundTruth, "parameters": m.parameters.map(json)]
                }
            case .datasets:
                root["datasets"] = registry.datasets.map { d -> [String: Any] in
                    ["name": d.name, "summary": d.summary, "parameters": d.parameters.map(json)]
                }
            }
        }
        let data = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// A parameter: name, type ("choice" with "choices"), default (absent when it has none),
    /// min / max (absent when unbounded on that side), doc; a method's parameters also say
    /// their phase ("fit" or "explain").
    static func json(_ p: ParamSpec) -> [String: Any] {
        var out: [String: Any] = ["name": p.name, "doc": p.doc]
        if case let .choice(options) = p.type {
            out["type"] = "choice"
            out["choices"] = options
        } else {
            out["type"] = p.type.description
        }
        if let d = p.defaultValue { out["default"] = json(d) }
        if let r = p.range {
            if r.lowerBound.isFinite { out["min"] = r.lowerBound }
            if r.upperBound.isFinite { out["max"] = r.upperBound }
        }
        return out
    }

    static func json(_ v: ParamValue) -> Any {
        switch v {
        case let .int(i): return i
        case let .float(f): return f.isFinite ? f as Any : String(f)
        case let .string(s): return s
        case let .bool(b): return b
        case let .list(l): return l.map(json)
        case let .tensor(t): return "tensor\(t.shape)"
        }
    }
}
