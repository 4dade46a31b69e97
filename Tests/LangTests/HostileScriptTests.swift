import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// Scripts written to break the interpreter (issue 21): each used to end in a stack overflow,
/// a trap or a hang, and must now be an error with a position.
@Suite("Hostile scripts")
struct HostileScriptTests {
    func temporaryDirectory(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// 6,000 terms of `1+1+...` made a tree 6,000 levels deep without nesting the parser; the
    /// resolver, the interpreter and freeing the tree each recursed once per level.
    @Test func aLongChainOfOperatorsIsAParseError() {
        let e = errorText("print(" + Array(repeating: "1", count: 6000).joined(separator: "+") + ")")
        #expect(e.contains("t.sal:1:2006: error: expression too long or nested too deeply (a tree of more than 1000 levels)"), "\(e.prefix(300))")
        // The echoed line is a window around the column, not the 12 KB line.
        #expect(e.count < 600, "\(e.count) characters")
        // Just under the limit it runs.
        #expect(run("print(" + Array(repeating: "1", count: 999).joined(separator: "+") + ")").lines == ["999"])
    }

    @Test func aLongElseIfChainIsAParseError() {
        let chain = (0..<300).map { "if x == \($0) { print(\($0)) }" }.joined(separator: " else ")
        let e = errorText("let x = 1\n" + chain)
        // The 200th `if` or its condition is the first level too many.
        #expect(e.contains("nested too deeply (more than 200 levels)"), "\(e.prefix(300))")
    }

    /// Recursion within the call limit whose frames are deep expressions: the stack runs out
    /// before the call limit is reached, so the interpreter stops on the stack guard.
    @Test func recursionThroughDeepExpressionsStopsBeforeTheStackEnds() {
        // 199 calls x 999 levels (the most one expression may have): far more than any
        // thread's stack holds, in any build.
        let terms = Array(repeating: "1", count: 997).joined(separator: "+")
        let r = run("fn f(n) {\n  if n == 0 { return 0 }\n  return f(n - 1) + \(terms)\n}\nprint(f(199))")
        #expect(r.error?.description.contains("error: evaluation nested too deeply: the stack is nearly used up") == true,
                "\(r.error?.description.prefix(300) ?? "no error")")
        // Shallow frames still recurse to the call limit.
        #expect(run("fn f(n) { if n == 0 { return 0 }\n return 1 + f(n - 1) }\nprint(f(150))").lines == ["150"])
    }

    /// `x = [x]` in a loop built a value 10,000 deep; comparing, printing or just freeing it
    /// overflowed the stack. Values stop at 500 levels.
    @Test func deepValuesStopAtTheNestingLimit() {
        #expect(errorText("let x = []\nfor i in 0..<10000 { x = [x] }")
            .contains("t.sal:2:26: error: value nested too deeply: lists, records and tables nest at most 500 levels"))
        #expect(errorText("let r = {a: 1}\nfor i in 0..<1000 { r.a = r }").contains("error: value nested too deeply"))
        #expect(errorText("let l = [1]\nfor i in 0..<1000 { l[0] = l }").contains("error: value nested too deeply"))
        #expect(errorText("let t = table([{a: 1}])\nfor i in 0..<1000 { t = table([{a: t}]) }").contains("error: value nested too deeply"))
        // At the limit, every recursive walk works: compare, print, str.
        let r = run("""
        let x = []
        for i in 0..<499 { x = [x] }
        print(x == x, len(str(x)))
        """)
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.lines == ["true 1000"])
    }

    @Test func nestingIsMeasuredWithoutRecursion() {
        var v = Value.number(1)
        for _ in 0..<20_000 { v = .list([v]) }
        #expect(v.nesting(upTo: 100) == 101)
        #expect(v.nesting(upTo: 30_000) == 20_000)
        // Freeing a value this deep would recurse 20,000 times; unwind it from the top instead.
        while case let .list(items) = v, let inner = items.first { v = inner }
    }

    /// A `.sal` plugin that loads itself, or two that load each other, recursed until the
    /// stack ran out, whichever way the first load came: load_plugin, --plugin and :plugin
    /// (both PluginLoader.load) and a pipeline's plugins:.
    @Test func pluginsThatLoadEachOtherAreACycleError() throws {
        let dir = try temporaryDirectory("plugin-cycle")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "load_plugin(\"self.sal\")\n".write(toFile: dir + "/self.sal", atomically: true, encoding: .utf8)
        try "load_plugin(\"b.sal\")\n".write(toFile: dir + "/a.sal", atomically: true, encoding: .utf8)
        try "load_plugin(\"a.sal\")\n".write(toFile: dir + "/b.sal", atomically: true, encoding: .utf8)

        let i = Interpreter(registry: langTestRegistry())
        #expect(throws: ScriptError.self) { try PluginLoader.load(dir + "/self.sal", into: i) }
        do { try PluginLoader.load(dir + "/a.sal", into: i) } catch let e as ScriptError {
            #expect(e.description.contains("it is already being loaded (a.sal -> b.sal -> a.sal); plugins must not load each other in a cycle"), "\(e)")
        }
        #expect(i.pluginsLoading.isEmpty, "a failed load leaves nothing marked as loading")

        let session = Session(registry: langTestRegistry(), display: { _ in })
        guard case let .error(message) = session.command(":plugin \(dir)/self.sal") else { Issue.record(":plugin did not fail"); return }
        #expect(message.contains("self.sal -> self.sal"), "\(message)")

        var v = PipelineValidator(registry: langTestRegistry())
        let yaml = "plugins: [a.sal]\nsteps:\n  - load: {dataset: test_squares, as: d}\n"
        do { _ = try v.validate(source: yaml, file: dir + "/p.yaml"); Issue.record("validated") } catch let e as PipelineError {
            #expect(e.render(source: yaml).contains("a.sal -> b.sal -> a.sal"), "\(e.render(source: yaml))")
        }
    }

    /// 6,000 unknown names on one 18 KB line printed the line with every error: 160 MB.
    @Test func errorReportsAreCappedInCountAndWidth() {
        let r = run("print([" + Array(repeating: "zz", count: 6000).joined(separator: ",") + "])")
        let text = r.error?.description ?? ""
        #expect(r.error?.diagnostics.count == 6000)
        #expect(text.contains("... and 5980 more errors (the first 20 are shown)"))
        #expect(text.count < 20 * 400, "\(text.count) characters")
        // The caret still points at the name in the window.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let caret = lines[2].firstIndex(of: "^").map { lines[2].distance(from: lines[2].startIndex, to: $0) } ?? -1
        #expect(caret >= 0 && caret + 2 <= lines[1].count && Array(lines[1])[caret...].starts(with: "zz"), "\(lines[1])\n\(lines[2])")
    }

    @Test func excerptsKeepTheCaretUnderItsColumn() {
        #expect(excerpt(of: "short", column: 3) == ("short", 2))
        let long = String(repeating: "a", count: 500) + "X" + String(repeating: "b", count: 500)
        let (text, caret) = excerpt(of: long, column: 501)
        #expect(text.hasPrefix("...") && text.hasSuffix("..."))
        #expect(Array(text)[caret] == "X")
        let (end, c2) = excerpt(of: long, column: 1001)
        #expect(end.hasPrefix("...") && !end.hasSuffix("...") && Array(end)[c2] == "b")
    }

    /// A non-UTF-8 byte anywhere made the whole file unreadable ("cannot read", no position).
    @Test func invalidUTF8IsReportedWhereItIs() throws {
        let bytes = Array("print(1)\nlet x = \"ab".utf8) + [0xFF] + Array("\"\n".utf8)
        do { _ = try SourceFile.decode(bytes, file: "bad.sal"); Issue.record("decoded") } catch let e as ScriptError {
            #expect(e.description == "bad.sal:2:12: error: invalid UTF-8 (byte 0xff at offset 20): scripts and pipelines are UTF-8 text\nlet x = \"ab\n           ^",
                    "\(e.description)")
        }
        // A truncated multi-byte sequence at the very end, after a valid one (column counts characters).
        do { _ = try SourceFile.decode(Array("é".utf8) + [0xC3], file: "t.sal"); Issue.record("decoded") } catch let e as ScriptError {
            #expect(e.description.hasPrefix("t.sal:1:2: error: invalid UTF-8 (byte 0xc3 at offset 2)"), "\(e.description)")
        }
        #expect(try SourceFile.decode(Array("ünïcode ✓\n".utf8), file: "ok.sal") == "ünïcode ✓\n")
    }

    /// A FIFO blocked the reader forever (dlopen or String(contentsOfFile:)); every reader
    /// now checks the file type first.
    @Test func aFIFOIsRefusedNotOpened() throws {
        let dir = try temporaryDirectory("fifo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["p.so", "p.sal", "x.png", "s.sal"] { #expect(mkfifo(dir + "/" + name, 0o600) == 0) }
        let i = Interpreter(registry: langTestRegistry())
        for name in ["p.so", "p.sal"] {
            #expect(throws: PluginError.invalid("cannot load plugin '\(dir)/\(name)': is a FIFO (named pipe), expected a regular file")) {
                try PluginLoader.load(dir + "/" + name, into: i)
            }
        }
        #expect(errorText("load(\"\(dir)/x.png\")").contains("is a FIFO (named pipe), expected a regular file"))
        #expect(throws: IOError.self) { try SourceFile.read(dir + "/s.sal") }
    }

    /// Integer parameters given as 1e19, -1e19 or 1/0 trapped converting to Int.
    @Test func hugeIntegralFloatsAreRangeErrors() {
        for v in ["1e19", "-1e19", "1/0", "-1/0"] {
            #expect(errorText("explain(model(\"lenet5\"), zeros([1, 1, 28, 28]), \"test_abs\", target: \(v))").contains("target must be"), "\(v)")
            #expect(errorText("pick(zeros([2, 3]), [\(v), 0])").contains("'target' must be class indices"), "\(v)")
            #expect(errorText("dataset(\"test_squares\", count: \(v))").contains("count"), "\(v)")
            #expect(errorText("dataset(\"test_squares\", limit: \(v))").contains("limit"), "\(v)")
        }
    }

    /// An ONNX model whose output is [1, 0] has no class to explain; explaining it indexed an
    /// empty row. A model whose labels outnumber its outputs named a class beyond them.
    @Test func aModelWithNoClassesCannotBeExplained() throws {
        let empty = try Graph(name: "empty", inputs: [ValueInfo(name: "x", shape: [-1, 1, 2, 2])], outputs: ["y"],
                              nodes: [GraphNode(name: "flat", opType: "Flatten", inputs: ["x"], outputs: ["f"]),
                                      GraphNode(name: "mm", opType: "MatMul", inputs: ["f", "w"], outputs: ["y"])],
                              weights: ["w": Tensor.zeros([4, 0])])
        let i = Interpreter(registry: langTestRegistry())
        i.define("m", .model(ModelValue(graph: empty, source: "empty")))
        for target in ["", ", target: 0"] {
            let r = run("explain(m, zeros([1, 1, 2, 2]), \"test_abs\"\(target))", interpreter: i)
            #expect(r.error?.description.contains("the model's output has shape [1, 0] for 1 image(s); expected [1, classes] with at least one class") == true,
                    "\(r.error?.description ?? "no error")")
        }
    }

    /// A graph input dimension of 2^63-1 overflowed the element count of the probe input, and
    /// with -Ounchecked memset ran off the buffer; 100000 x 100000 aborted allocating 40 GB.
    @Test func absurdDeclaredInputsAreRefusedByLayers() throws {
        for dims in [[1, 1, Int.max, 2], [1, 1, 100_000, 100_000]] {
            let g = try Graph(name: "wide", inputs: [ValueInfo(name: "x", shape: dims)], outputs: ["y"],
                              nodes: [GraphNode(name: "r", opType: "Relu", inputs: ["x"], outputs: ["y"])], weights: [:])
            let i = Interpreter(registry: langTestRegistry())
            i.define("m", .model(ModelValue(graph: g, source: "wide")))
            let r = run("layers(m)", interpreter: i)
            #expect(r.error?.description.contains("an input of the model's declared shape \(formatShape(dims)) needs") == true,
                    "\(r.error?.description ?? "no error")")
        }
    }
}
