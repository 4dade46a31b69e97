import Foundation
import Testing
@testable import Lang
import Plugins

/// Every examples/*.sal runs, and its output equals its `# expect:` lines in order
/// (Crafting Interpreters' test format).
struct ExampleScriptTests {
    static var scripts: [URL] {
        let dir = repositoryRoot.appendingPathComponent("examples")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".sal") }.sorted().map { dir.appendingPathComponent($0) }
    }

    /// The scripts the README points people at: a missing one fails here instead of
    /// shrinking the parametrised test below without a word.
    @Test func theDocumentedExamplesExist() {
        let names = Set(ExampleScriptTests.scripts.map(\.lastPathComponent))
        let documented: Set = ["basics.sal", "explain.sal", "model.sal", "script-plugin.sal", "tensors.sal"]
        #expect(documented.isSubset(of: names), "missing: \(documented.subtracting(names).sorted())")
    }

    @Test(arguments: ExampleScriptTests.scripts)
    func exampleMatchesExpectations(_ url: URL) throws {
        let text = try String(contentsOf: url, encoding: .utf8)
        let expected = text.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line -> String? in
            guard let r = line.range(of: "# expect: ") else { return nil }
            return String(line[r.upperBound...])
        }
        #expect(!expected.isEmpty, "\(url.lastPathComponent) has no expectations")
        let interp = Interpreter(registry: Registry())
        interp.baseDirectory = url.deletingLastPathComponent().path
        let r = run(text, file: url.lastPathComponent, interpreter: interp)
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.lines == expected)
    }
}
