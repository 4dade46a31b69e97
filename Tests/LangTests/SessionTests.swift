import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

struct SessionTests {
    func session() -> (Session, Box) {
        let box = Box()
        let s = Session(registry: langTestRegistry(), display: { item in if case let .text(t) = item { box.lines.append(t) } })
        return (s, box)
    }
    final class Box { var lines: [String] = [] }

    @Test func cellsAreNumberedAndValuesKept() {
        let (s, _) = session()
        guard case let .value(1, v?) = s.run("40 + 2") else { Issue.record("cell 1"); return }
        #expect(v.summary == "42")
        guard case .value(2, nil) = s.run("let a = _ + 1") else { Issue.record("cell 2"); return }
        guard case let .value(3, w?) = s.run("[a, Out[1]]") else { Issue.record("cell 3"); return }
        #expect(w.summary == "[43, 42]")
        guard case .error(let e) = s.run("nope") else { Issue.record("cell 4 should fail"); return }
        #expect(e.hasPrefix("In[4]:1:1: error: unknown name 'nope'"))
        guard case let .value(5, x?) = s.run("a") else { Issue.record("the session survives errors"); return }
        #expect(x.summary == "43")
    }

    @Test func unfinishedInputAsksForMore() {
        let (s, _) = session()
        guard case .incomplete = s.run("fn f(x) {") else { Issue.record("open block"); return }
        guard case .incomplete = s.run("let l = [1,") else { Issue.record("open bracket"); return }
        guard case .value(1, nil) = s.run("fn f(x) {\n  return x * 2\n}") else { Issue.record("complete"); return }
        guard case let .value(2, v?) = s.run("3 |>\n f") else { Issue.record("pipe continuation"); return }
        #expect(v.summary == "6")
    }

    @Test func commands() {
        let (s, box) = session()
        _ = s.run("let model_name = \"x\"")
        _ = s.run(":vars")
        #expect(box.lines.last == "model_name = \"x\"")
        _ = s.run(":methods")
        #expect(box.lines.last?.contains("test_abs") == true)
        _ = s.run(":help test_mean")
        #expect(box.lines.last?.hasPrefix("metric test_mean: mean map value (test)") == true)
        guard case .error(let e) = s.run(":hepl") else { Issue.record(":hepl"); return }
        #expect(e == "unknown command ':hepl'; did you mean ':help'? (:help lists commands)")
        _ = s.run(":reset")
        guard case .error = s.run("model_name") else { Issue.record("reset forgets"); return }
        guard case .quit = s.run(":quit") else { Issue.record("quit"); return }
    }

    @Test func notebookExportKeepsCodeOutputsAndPictures() throws {
        let (s, _) = session()
        _ = s.run("let d = dataset(\"test_squares\", limit: 1)")
        _ = s.run("print(\"a < b\")")
        _ = s.run("show(d[0])")
        _ = s.run("table([{k: 1}])")
        let html = try s.notebookHTML(title: "nb")
        #expect(html.contains("<pre>print(&quot;a &lt; b&quot;)</pre>"))
        #expect(html.contains("<pre>a &lt; b</pre>"))
        #expect(html.contains("data:image/png;base64,iVBOR"))
        #expect(html.contains("<th>k</th>"))
        #expect(html.contains("Out[4]:"))
        #expect(s.notebookScript() == "# In[1]\nlet d = dataset(\"test_squares\", limit: 1)\n\n# In[2]\nprint(\"a < b\")\n\n# In[3]\nshow(d[0])\n\n# In[4]\ntable([{k: 1}])\n")
    }

    @Test func completion() throws {
        let (s, _) = session()
        _ = s.run("let maps = {gradcam: 1, grad: 2}")
        _ = s.run("let m = model(\"lenet5\")")
        #expect(s.completions(line: "expl", cursor: 4).candidates == ["explain"])
        #expect(s.completions(line: "print(ma", cursor: 8) == (6, ["maps", "max"]))
        #expect(s.completions(line: "maps.gr", cursor: 7) == (5, ["gradcam", "grad"]))
        #expect(s.completions(line: "m.la", cursor: 4).candidates == ["labels"])
        _ = s.run("let cfg = {inner: {alpha: 1, beta: 2}}")
        #expect(s.completions(line: "print(cfg.inner.al", cursor: 18) == (16, ["alpha"]))
        #expect(s.completions(line: "explain(m, x, \"test_", cursor: 20) == (15, ["test_abs", "test_slow"]))
        #expect(s.completions(line: "metric([\"test_m", cursor: 15).candidates == ["test_mean"])
        #expect(s.completions(line: "dataset(\"te", cursor: 11).candidates == ["test_squares"])
        #expect(s.completions(line: ":he", cursor: 3) == (0, [":help"]))
        let dir = repositoryRoot.path
        let r = s.completions(line: "load(\"\(dir)/examples/bas", cursor: 26 + dir.count)
        #expect(r.candidates == ["\(dir)/examples/basics.sal"])
    }

    @Test func terminalPictures() {
        // A 2x50 gray image: black top row, white bottom row -> one line of half blocks.
        let t = Tensor(shape: [1, 2, 50], data: [Float](repeating: 0, count: 50) + [Float](repeating: 1, count: 50))
        #expect(TerminalImage.color(t, maxColumns: 80) == String(repeating: "\u{1B}[38;2;0;0;0m\u{1B}[48;2;255;255;255m\u{2580}", count: 50) + "\u{1B}[0m")
        // Small images are enlarged twice: a 2x2 becomes 4 columns by 2 lines.
        let small = Tensor(shape: [1, 2, 2], data: [0, 0, 1, 1])
        #expect(TerminalImage.color(small, maxColumns: 80).split(separator: "\n").count == 2)
        let big = Tensor(shape: [1, 4, 4], data: [0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
        #expect(TerminalImage.ascii(big, maxColumns: 80) == "  @@\n@@@@")
        // Scaled down to the terminal width.
        let wide = Tensor.ones([3, 10, 400])
        #expect(TerminalImage.color(wide, maxColumns: 100).split(separator: "\n").allSatisfy { $0.components(separatedBy: "\u{2580}").count - 1 == 100 })
    }
}

struct SessionFileCommandTests {
    @Test func loadSaveAndTime() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("session-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("lib.sal").path
        try "fn triple(x) { return 3 * x }\nprint(\"loaded\")\n".write(toFile: script, atomically: true, encoding: .utf8)
        final class Box: @unchecked Sendable { var lines: [String] = [] }
        let box = Box()
        let s = Session(registry: langTestRegistry(), display: { if case let .text(t) = $0 { box.lines.append(t) } })
        _ = s.run(":load \(script)")
        #expect(box.lines == ["loaded"])
        guard case let .value(_, v?) = s.run("triple(14)") else { Issue.record("triple"); return }
        #expect(v.summary == "42")
        guard case let .value(_, t?) = s.run(":time triple(2)") else { Issue.record(":time"); return }
        #expect(t.summary == "6")
        #expect(box.lines.last?.hasPrefix("time: ") == true)
        let sal = dir.appendingPathComponent("nb.sal").path, html = dir.appendingPathComponent("nb.html").path
        _ = s.run(":save \(sal)")
        _ = s.run(":save \(html)")
        // The saved script reruns the session in a fresh interpreter.
        let rerun = Interpreter(registry: langTestRegistry())
        var printed: [String] = []
        rerun.output = { if case let .text(t) = $0 { printed.append(t) } }
        try rerun.run(try String(contentsOfFile: sal, encoding: .utf8))
        #expect(printed.first == "loaded")
        #expect(try String(contentsOfFile: html, encoding: .utf8).contains("triple(14)"))
        guard case .error(let e) = s.run(":save nb.txt") else { Issue.record("bad extension"); return }
        #expect(e.contains(".html"))
    }
}
