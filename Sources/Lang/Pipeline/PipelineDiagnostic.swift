import Yams

/// One pipeline problem: where (file:line:col and the key path), what, and the source line
/// with a caret, rendered like the language's diagnostics:
///
///     pipeline.yaml:7:13: error: unknown method 'gradcm'; did you mean 'gradcam'?
///       at steps[2].explain.methods[0]
///          - gradcm
///            ^
public struct PipelineDiagnostic: Sendable, Equatable {
    public var position: YAMLPosition
    public var keyPath: String
    public var message: String

    public init(_ position: YAMLPosition, _ keyPath: String, _ message: String) {
        self.position = position; self.keyPath = keyPath; self.message = message
    }

    /// The header line: "file:line:col: error: message".
    public var header: String { "\(position): error: \(message)" }

    public func render(source: String) -> String {
        var out = header
        if !keyPath.isEmpty { out += "\n  at \(keyPath)" }
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        if position.line >= 1 && position.line <= lines.count {
            let (line, caret) = excerpt(of: String(lines[position.line - 1]), column: position.column)
            out += "\n    \(line)\n    " + String(repeating: " ", count: caret) + "^"
        }
        return out
    }

    static func yamlSyntax(_ e: YamlError, file: String) -> PipelineDiagnostic {
        func make(_ problem: String, _ m: Mark, _ context: YamlError.Context?) -> PipelineDiagnostic {
            let what = context.map { "\(problem) \($0.text)" } ?? problem
            return PipelineDiagnostic(YAMLPosition(file: file, line: m.line, column: m.column), "", "invalid YAML: \(what)")
        }
        switch e {
        case let .scanner(context, problem, mark, _): return make(problem, mark, context)
        case let .parser(context, problem, mark, _): return make(problem, mark, context)
        case let .composer(context, problem, mark, _): return make(problem, mark, context)
        default: return PipelineDiagnostic(YAMLPosition(file: file, line: 1, column: 1), "", "invalid YAML: \(e)")
        }
    }
}

/// All problems found in a pipeline file (validation collects them all before anything runs).
public struct PipelineError: Error, Sendable {
    public var diagnostics: [PipelineDiagnostic]
    public init(_ d: [PipelineDiagnostic]) { diagnostics = d }
    public func render(source: String) -> String {
        let shown = diagnostics.prefix(maxDiagnosticsShown).map { $0.render(source: source) }
        let more = diagnostics.count - shown.count
        return shown.joined(separator: "\n\n")
            + (more > 0 ? "\n\n... and \(more) more (the first \(maxDiagnosticsShown) are shown)" : "")
            + "\n\(diagnostics.count) error\(diagnostics.count == 1 ? "" : "s") in pipeline"
    }
}
