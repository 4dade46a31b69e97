import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// Pipeline files written to break out of `--out` or to exhaust memory (issue 21).
@Suite("Hostile pipelines")
struct HostilePipelineTests {
    func validate(_ yaml: String, overrides: [String: String] = [:], registry: Registry = testRegistry()) throws -> Pipeline {
        var v = PipelineValidator(registry: registry, overrides: overrides)
        return try v.validate(source: yaml, file: "p.yaml")
    }

    func errors(_ yaml: String, overrides: [String: String] = [:]) -> String {
        do { _ = try validate(yaml, overrides: overrides); return "ok" } catch let e as PipelineError { return e.render(source: yaml) } catch { return "\(error)" }
    }

    func saving(_ path: String) -> String {
        """
        params: {p: out.csv}
        steps:
          - load: {dataset: an8flower, as: d}
          - save: {value: d, path: \(path)}
        """
    }

    /// `../..`, an absolute path, `~`, an empty path or a directory: none is a file under --out.
    @Test func savePathsMustStayUnderOut() {
        #expect(errors(saving("../../victim/README.md")).hasPrefix(
            "p.yaml:4:28: error: '../../victim/README.md' leaves the output directory: save paths are relative to --out and stay inside it\n  at steps[1].save.path"))
        #expect(errors(saving("/etc/passwd")).contains("error: '/etc/passwd' is not relative: save paths are relative to --out and stay inside it"))
        #expect(errors(saving("~/x.csv")).contains("'~/x.csv' is not relative"))
        #expect(errors(saving("a/../../x.csv")).contains("leaves the output directory"))
        #expect(errors(saving("\"\"")).contains("error: the save path is empty: name a file under --out, such as scores.csv"))
        #expect(errors(saving("sub/")).contains("'sub/' names a directory, not a file"))
        #expect(errors(saving("sub/..")).contains("names a directory"))
        #expect(errors(saving("sub/./x.csv")) == "ok")
        #expect(errors(saving("a/../x.csv")) == "ok")
    }

    /// `--set params.p=../../x.csv` is substituted before the check, so it is caught too, at
    /// the step that uses it.
    @Test func overridesCannotLeaveOut() {
        let e = errors(saving("\"${params.p}\""), overrides: ["params.p": "../../x.csv"])
        #expect(e.contains("p.yaml:4:28: error: '../../x.csv' leaves the output directory"), "\(e)")
        #expect(errors(saving("\"${params.p}\""), overrides: ["params.p": "x.csv"]) == "ok")
    }

    /// A symlink inside --out (or --out itself through one) that leads outside: refused
    /// before any step runs; one that stays inside is fine.
    @Test func symlinksOutOfOutAreRefused() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("savepath-\(getpid())-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/out", victim = root + "/victim"
        try FileManager.default.createDirectory(atPath: out + "/inside", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try "keep me\n".write(toFile: victim + "/README.md", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: out + "/escape", withDestinationPath: victim)
        try FileManager.default.createSymbolicLink(atPath: out + "/file.csv", withDestinationPath: victim + "/README.md")
        try FileManager.default.createSymbolicLink(atPath: out + "/alias", withDestinationPath: out + "/inside")
        try FileManager.default.createSymbolicLink(atPath: out + "/dangling.csv", withDestinationPath: root + "/nowhere/x")

        func check(_ path: String) -> String? {
            let p = try? validate(saving(path))
            guard let p else { return "invalid" }
            do { try PipelineRunner(pipeline: p, outputDirectory: out).checkSavePaths(); return nil } catch let e as PipelineError {
                return e.diagnostics.first?.message
            } catch { return "\(error)" }
        }
        #expect(check("escape/README.md")?.contains("resolves to \(victim)/README.md, outside the output directory") == true, "\(check("escape/README.md") ?? "nil")")
        #expect(check("file.csv")?.contains("outside the output directory") == true)
        #expect(check("dangling.csv")?.contains("goes through a dangling symlink") == true, "\(check("dangling.csv") ?? "nil")")
        #expect(check("alias/new/x.csv") == nil)
        #expect(check("inside/x.csv") == nil)
        #expect(check("not/yet/made.csv") == nil)
        #expect(try String(contentsOfFile: victim + "/README.md", encoding: .utf8) == "keep me\n")
    }

    /// `--dry-run` printed `OUT//abs/path` for an absolute save path; those no longer
    /// validate, and relative ones print under --out.
    @Test func thePlanShowsSavePathsUnderOut() throws {
        let p = try validate(saving("tables/x.csv"))
        #expect(PipelineRunner(pipeline: p, outputDirectory: "/tmp/o").plan().contains("[2] save -> /tmp/o/tables/x.csv"))
    }

    /// 550 bytes of nested aliases stand for 9^8 values; expanding them took 4.8 GB and 32 s
    /// at 7 levels and crashed at 8.
    @Test func aliasBombsStopAtTheNodeBudget() {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        for i in 1...8 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ", ") + "]") }
        lines.append("steps: *a8")
        let yaml = lines.joined(separator: "\n")
        let t0 = Date()
        let e = errors(yaml)
        #expect(e.contains("error: the file expands to more than 100000 YAML values (aliases repeat what their anchors name"), "\(e)")
        #expect(Date().timeIntervalSince(t0) < 10)
        // Aliases within reason still work.
        #expect(errors("defaults: &d {split: test}\nsteps:\n  - load: {dataset: an8flower, as: d}\n").contains("unknown key 'defaults'"))
    }

    /// A dataset whose one batch cannot fit the memory budget fails `--dry-run`'s preflight
    /// with the size, instead of passing it and aborting in the run.
    @Test func preflightSizesDatasetsAgainstTheBudget() throws {
        let yaml = "steps:\n  - load: {dataset: an8flower, split: train, size: 512, options: {count: 100000}, as: d}\n"
        let p = try validate(yaml, registry: .shared)
        let runner = PipelineRunner(pipeline: p, outputDirectory: "/tmp/unused")
        try MemoryBudget.withLimit(1 << 30) {
            do { try runner.preflight(registry: .shared); Issue.record("passed") } catch let e as PipelineError {
                let m = e.diagnostics.first?.message ?? ""
                #expect(m.contains("dataset an8flower-single-6c: 100000 image(s) of [3, 512, 512] as one batch needs 419.4 GB, over the memory budget of 1.1 GB"), "\(m)")
            }
        }
        let small = try validate("steps:\n  - load: {dataset: an8flower, split: test, size: 32, limit: 4, as: d}\n", registry: .shared)
        try MemoryBudget.withLimit(1 << 30) { try PipelineRunner(pipeline: small, outputDirectory: "/tmp/unused").preflight(registry: .shared) }
    }

    /// An integer parameter given as 1e19 trapped converting to Int (issue 21, item 4).
    @Test func hugeIntegersInPipelinesAreRangeErrors() {
        for v in ["1e19", "-1e19", "9223372036854775808"] {
            let yaml = "steps:\n  - load: {dataset: an8flower, as: d}\n  - explain: {model: d, data: d, methods: [{gradcam: {steps: \(v)}}]}\n"
            #expect(errors(yaml).contains("steps[1].explain.methods[0].gradcam.steps"), "\(v): \(errors(yaml))")
        }
    }
}
