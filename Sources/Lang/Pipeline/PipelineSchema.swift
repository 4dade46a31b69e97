import Plugins

/// The declared shape of a pipeline file: top-level keys and, per step kind, its arguments.
/// Validation reads this table; `--dry-run`, `:help` and the README's reference are
/// generated from it, so documentation and checking never drift apart.
public enum ArgType: Sendable, Equatable, CustomStringConvertible {
    case string, int, number, bool
    /// The name an earlier step bound with `as:`.
    case reference
    /// A reference or a list of references.
    case references
    /// Explainer names with optional parameters: `gradcam`, `{gradcam: {layer: conv5}}`, or a list of these.
    case methods
    /// Metric names with optional parameters, like `methods`.
    case metrics
    case choice([String])
    /// [height, width] or one number for both.
    case size
    /// Any value (passed through to a plugin's own schema).
    case any

    public var description: String {
        switch self {
        case .string: return "a string"
        case .int: return "an integer"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .reference: return "the name of an earlier result"
        case .references: return "a name or a list of names of earlier results"
        case .methods: return "a method name, {method: {parameters}}, or a list of these"
        case .metrics: return "a metric name, {metric: {parameters}}, or a list of these"
        case let .choice(c): return "one of " + c.joined(separator: ", ")
        case .size: return "a size ([height, width] or one number)"
        case .any: return "any value"
        }
    }
}

public struct ArgSpec: Sendable {
    public let name: String
    public let type: ArgType
    public let required: Bool
    public let doc: String
    public init(_ name: String, _ type: ArgType, required: Bool = false, _ doc: String) {
        self.name = name; self.type = type; self.required = required; self.doc = doc
    }
}

public enum StepKind: String, Sendable, CaseIterable {
    case load, model, explain, metric, save
}

public struct StepSchema: Sendable {
    public let kind: StepKind
    public let doc: String
    public let args: [ArgSpec]
    /// Groups of which exactly one argument must be given.
    public let exactlyOne: [[String]]
}

public enum PipelineSchema {
    public static let topLevel: [ArgSpec] = [
        ArgSpec("version", .int, "file format version (1)"),
        ArgSpec("name", .string, "name shown in reports"),
        ArgSpec("seed", .int, "seed of every random draw (default 0); recorded in every result"),
        ArgSpec("threads", .int, "threads for GEMM and parallel loops (default: all cores)"),
        ArgSpec("params", .any, "values steps use as ${params.NAME}; --set params.NAME=VALUE overrides"),
        ArgSpec("plugins", .any, "paths of plugin libraries to load before running"),
        ArgSpec("steps", .any, required: true, "the steps, in order"),
    ]

    public static let steps: [StepKind: StepSchema] = [
        .load: StepSchema(kind: .load, doc: "load a dataset (by plugin name) or an image/array file", args: [
            ArgSpec("dataset", .string, "dataset plugin name (fashion-mnist, an8flower, shapes-loc, folder)"),
            ArgSpec("path", .string, "a .png or .npy file"),
            ArgSpec("split", .string, "dataset split (train, test)"),
            ArgSpec("limit", .int, "number of examples"),
            ArgSpec("size", .size, "resize images to this size"),
            ArgSpec("gray", .bool, "convert to one gray channel"),
            ArgSpec("options", .any, "further dataset parameters, checked against the dataset's schema"),
            ArgSpec("as", .string, "name to bind the result to"),
        ], exactlyOne: [["dataset", "path"]]),
        .model: StepSchema(kind: .model, doc: "load an ONNX model", args: [
            ArgSpec("path", .string, required: true, "the .onnx file"),
            ArgSpec("as", .string, "name to bind the model to"),
        ], exactlyOne: []),
        .explain: StepSchema(kind: .explain, doc: "run explanation methods on models over data", args: [
            ArgSpec("model", .references, "model(s) to explain"),
            ArgSpec("models", .references, "model(s) to explain"),
            ArgSpec("data", .reference, required: true, "dataset or images to explain"),
            ArgSpec("methods", .methods, required: true, "methods with their parameters"),
            ArgSpec("target", .any, "predicted (default), second (the second most probable class), a class index, or a class name"),
            ArgSpec("score", .choice(ScoreKind.allCases.map(\.rawValue)), "score explained at the target: logit (default), prob, logprob"),
            ArgSpec("fit", .reference, "dataset that methods which learn from data are fitted on (once per model; cached)"),
            ArgSpec("batch", .int, "images per batch (default 16): the unit of explaining, scoring, resuming and sharding"),
            ArgSpec("as", .string, "name to bind the maps to"),
        ], exactlyOne: [["model", "models"]]),
        .metric: StepSchema(kind: .metric, doc: "score maps with metrics", args: [
            ArgSpec("maps", .reference, required: true, "maps from an explain step"),
            ArgSpec("metrics", .metrics, required: true, "metrics with their parameters"),
            ArgSpec("as", .string, "name to bind the table to"),
        ], exactlyOne: []),
        .save: StepSchema(kind: .save, doc: "write a result: maps (.png/.npy), tables (.csv/.json/.md), montages, the HTML report", args: [
            ArgSpec("value", .references, required: true, "the result to save (a list of comparisons for one report or table)"),
            ArgSpec("path", .string, required: true, "output path; the extension chooses the format"),
            ArgSpec("what", .choice(["value", "montage", "report"]), "what to write (default: value)"),
            ArgSpec("rows", .any, "images a .png montage shows: a count (default 8) or a list of image indices"),
        ], exactlyOne: []),
    ]
}
