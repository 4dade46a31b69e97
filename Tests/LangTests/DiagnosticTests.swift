import Testing
@testable import Lang
import Plugins
import Runtime

/// Exact texts of error messages: location, source line, caret, notes.
struct DiagnosticTests {
    @Test func severalParseErrorsAtOnceWithCarets() {
        let text = errorText("""
        let m = model("lenet5")
        let = 3
        fn f(x { return x }
        print(1 2)
        """)
        #expect(text == """
        t.sal:2:5: error: expected a name after 'let', found '='
        let = 3
            ^
        t.sal:3:8: error: expected ')' after the parameters of 'f', found '{'
        fn f(x { return x }
               ^
        t.sal:4:9: error: expected ')' or ',' in the call opened at 4:6, found number 2
        print(1 2)
                ^
        """)
    }

    /// A script saved with Windows line ends: Swift reads CR LF as one Character, which the
    /// lexer once reported as an unexpected character on line 1, quoting the whole file.
    @Test func windowsLineEndsAreLineEnds() {
        #expect(run("let x = 1\r\nprint(x + 1)\r\n# done\r\n").lines == ["2"])
        #expect(errorText("print(1)\r\nprint(2 +)\r\nprint(3)") == """
        t.sal:2:10: error: expected an expression, found ')'
        print(2 +)
                 ^
        """)
    }

    @Test func nothingRunsWhenAScriptHasAParseError() {
        let r = run("print(\"before\")\nlet x = (1 +\n")
        #expect(r.lines.isEmpty)
        #expect(r.error?.exitCode == 65)
    }

    @Test func lexicalErrorsAreReportedInSourceOrder() {
        let text = errorText("let a = 1 @ 2\nlet s = \"a\\qb\"")
        #expect(text == """
        t.sal:1:11: error: unexpected character '@'
        let a = 1 @ 2
                  ^
        t.sal:2:11: error: unknown escape '\\q' in string (use \\n, \\t, \\r, \\0, \\\\ or \\")
        let s = "a\\qb"
                  ^
        """)
    }

    @Test func unknownNamesSuggestTheClosestBeforeRunning() {
        let r = run("let image = zeros([1, 1, 4, 4])\nprint(\"ran\")\nprint(imgae)\nprnt(1)")
        #expect(r.lines.isEmpty)
        #expect(r.error?.exitCode == 65)
        #expect(r.error?.description == """
        t.sal:3:7: error: unknown name 'imgae'; did you mean 'image'?
        print(imgae)
              ^
        t.sal:4:1: error: unknown name 'prnt'; did you mean 'print'?
        prnt(1)
        ^
        """)
    }

    @Test func wrongArgumentsShowTheSignature() {
        #expect(errorText("let m = model(\"lenet5\")\npredict(m)") == """
        t.sal:2:1: error: wrong arguments to predict: missing 'x'
        predict(m)
        ^
        note: predict(model, x, top: 5)
        """)
        #expect(errorText("let m = model(\"lenet5\")\npredict(m, zeros([1, 1, 28, 28]), tp: 3)") == """
        t.sal:2:35: error: wrong arguments to predict: no parameter 'tp'; did you mean 'top'?
        predict(m, zeros([1, 1, 28, 28]), tp: 3)
                                          ^
        note: predict(model, x, top: 5)
        """)
        #expect(errorText("fn f(a, b: 2) { return a }\nf(1, 2, 3)").hasSuffix("note: fn f(a, b: 2)"))
    }

    @Test func runtimeErrorsNameTheFailingCall() {
        let r = run("let m = model(\"lenet5\")\nprint(\"start\")\nlet s = explain(m, zeros([1, 1, 28, 28]), \"test_ab\")\nprint(\"never\")")
        #expect(r.lines == ["start"])
        #expect(r.error?.exitCode == 70)
        #expect(r.error?.description == """
        t.sal:3:9: error: explain: unknown method 'test_ab'; did you mean 'test_abs'?
        let s = explain(m, zeros([1, 1, 28, 28]), "test_ab")
                ^
        """)
    }

    @Test func pluginParameterErrorsComeFromTheSchema() {
        let text = errorText("let m = model(\"lenet5\")\nexplain(m, zeros([1, 1, 28, 28]), \"test_abs\", power: 9)")
        #expect(text.hasPrefix("t.sal:2:1: error: explain: parameter 'power' of 'test_abs' is 9.0, outside 0...4"))
        let typo = errorText("let m = model(\"lenet5\")\nexplain(m, zeros([1, 1, 28, 28]), \"test_abs\", powr: 2)")
        #expect(typo.hasPrefix("t.sal:2:1: error: explain: 'test_abs' has no parameter 'powr'; did you mean 'power'?"))
    }

    @Test func typeAndShapeErrors() {
        #expect(errorText("print(tensor([1, 2]) + tensor([1, 2, 3]))").hasPrefix("t.sal:1:22: error: shapes [2] and [3] do not broadcast for '+'"))
        #expect(errorText("let r = {a: 1}\nprint(r.b)").hasPrefix("t.sal:2:9: error: a record has no field 'b'; did you mean 'a'?"))
        #expect(errorText("if 1 { print(2) }").hasPrefix("t.sal:1:4: error: 'if' condition must be a bool, got a number"))
        #expect(errorText("let l = [1]\nprint(l[3])").hasPrefix("t.sal:2:9: error: index 3 is out of range (0..<1)"))
        #expect(errorText("x = 1").contains("it is not defined") == false)  // x is unknown: caught statically
        #expect(errorText("fn loop(n) { return loop(n + 1) }\nloop(0)").contains("too many nested calls"))
    }

    @Test func incompleteInputIsFlaggedForTheREPL() {
        for code in ["let a = [1, 2", "fn f() {", "let x = 1 +", "1 |>", "print(\"abc", "if true {\n print(1)\n} else {"] {
            #expect(Session.isIncomplete(code), "\(code)")
        }
        for code in ["let a = [1, 2]", "let = 1", "print(1))", "}"] {
            #expect(!Session.isIncomplete(code), "\(code)")
        }
    }
}

/// Hostile input ends in diagnostics, never in a crash.
struct RobustnessTests {
    @Test func deepNestingIsAnError() {
        let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        #expect(errorText(deep).contains("nested too deeply"))
        let blocks = String(repeating: "if true {\n", count: 500) + String(repeating: "}\n", count: 500)
        #expect(errorText(blocks).contains("nested too deeply"))
    }

    /// Seeded random garbage: every text parses or fails with diagnostics, each located
    /// inside the text (line within its lines, column at most one past the line's end) and
    /// rendered with a caret; both outcomes occur.
    @Test func garbageEndsInLocatedDiagnostics() throws {
        var rng = RandomGenerator(seed: 20261126)
        let alphabet = Array("let fn for in if else return ()[]{}.,:=+-*/%<>!|\"\\#\n 0123456789abcxyz_..<|>")
        var parsed = 0, failed = 0
        for _ in 0..<300 {
            let text = String((0..<Int.random(in: 0...60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            let source = SourceText(file: "fuzz", text: text)
            do {
                _ = try Parser.parse(source)
                parsed += 1
            } catch let e as ScriptError {
                failed += 1
                #expect(!e.diagnostics.isEmpty, "\(text.debugDescription)")
                for d in e.diagnostics {
                    let line = try #require(source.line(d.loc.line), "line \(d.loc.line) outside \(text.debugDescription)")
                    #expect(d.loc.column >= 1 && d.loc.column <= line.count + 1, "\(d.loc) in \(text.debugDescription)")
                    #expect(d.rendered(in: source).hasPrefix("fuzz:\(d.loc.line):\(d.loc.column): error: "))
                }
            }
        }
        #expect(parsed > 0 && failed > 0)
    }

    @Test func unicodeDigitsAreNotNumbers() {
        #expect(errorText("let x = ²").contains("unexpected character '²'"))
    }
}

