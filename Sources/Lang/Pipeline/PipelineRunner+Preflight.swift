import Foundation
import Plugins
import Runtime

/// Checks that need the file system or the plugins, after validation and before any compute:
/// the run calls `checkSavePaths` first, `--dry-run` calls `preflight` (which also sizes
/// the datasets, so a `limit:` and `size:` that cannot fit in memory fail the dry run).
extension PipelineRunner {
    /// Every save step's file resolves, symlinks followed, inside the output directory.
    public func checkSavePaths() throws {
        let problems = pipeline.steps.compactMap { step -> PipelineDiagnostic? in
            guard step.kind == .save, case let .scalar(path, p, _)? = step.arg("path") else { return nil }
            if let problem = SavePath.lexicalProblem(path) ?? SavePath.containmentProblem(path, under: outputDirectory) {
                return PipelineDiagnostic(p, "steps[\(step.index)].save.path", problem)
            }
            return nil
        }
        if !problems.isEmpty { throw PipelineError(problems) }
    }

    /// `checkSavePaths`, then every dataset a load step opens is opened and its batch sized
    /// against the memory budget (the first example is generated, nothing else).
    public func preflight(registry: Registry) throws {
        try checkSavePaths()
        var problems: [PipelineDiagnostic] = []
        for step in pipeline.steps where step.kind == .load {
            guard case let .scalar(name, p, _)? = step.arg("dataset") else { continue }
            var given: [String: ParamValue] = [:]
            for key in ["size", "gray"] { if let v = step.arg(key) { given[key] = paramValue(v) } }
            if case let .map(pairs, _)? = step.arg("options") { for q in pairs { given[q.key] = paramValue(q.value) } }
            var split = "test", limit: Int? = nil
            if case let .scalar(s, _, _)? = step.arg("split") { split = s }
            if case let .scalar(l, _, _)? = step.arg("limit") { limit = Int(l) }
            do {
                let d = try Builtins.openDataset(name, split: split, limit: limit, params: given, registry: registry)
                try d.checkBatchMemory(count: d.count)
            } catch {
                problems.append(PipelineDiagnostic(p, "steps[\(step.index)].load.dataset", "\(error)"))
            }
        }
        if !problems.isEmpty { throw PipelineError(problems) }
    }
}
