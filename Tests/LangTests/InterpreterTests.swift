import Testing
@testable import Lang
import Plugins
import Runtime
import Foundation

struct InterpreterTests {
    func value(_ code: String) throws -> Value { try Interpreter(registry: langTestRegistry()).run(code) }

    @Test func arithmeticPrecedenceAndLogic() throws {
        #expect(try value("1 + 2 * 3 - 4 / 2").summary == "5")
        #expect(try value("-2 * -3").summary == "6")
        #expect(try value("not 1 == 2 and 3 > 2 or false").summary == "true")
        #expect(try value("7 % 3").summary == "1")
        #expect(try value("\"a\" + \"b\" + 1").summary == "\"ab1\"")
        #expect(try value("[1, 2] == [1, 2]").summary == "true")
    }

    @Test func andOrShortCircuit() throws {
        // The right side would fail (a number is not a bool) if it were evaluated.
        #expect(try value("false and 1").summary == "false")
        #expect(try value("true or 1").summary == "true")
    }

    @Test func closuresSeeTheirDefiningScope() throws {
        #expect(try value("""
        fn counter() {
          let n = 0
          fn step() { n = n + 1
            return n }
          return step
        }
        let c = counter()
        c()
        c()
        """).summary == "2")
    }

    @Test func loopsOverRangesListsTablesAndRecords() {
        let r = run("""
        let s = 0
        for i in 2..<5 { s = s + i }
        print(s)
        for row in table([{a: 1}, {a: 2}]) { print(row.a) }
        for k in {x: 1, y: 2} { print(k) }
        let n = 0
        for i in 0..<1000000 { if i == 3 { n = i } }
        print(n)
        print(0..<3, 3..<1)
        """)
        #expect(r.error == nil)
        #expect(r.lines == ["9", "1", "2", "x", "y", "3", "[0, 1, 2] []"])
    }

    @Test func blockLetsDoNotLeak() {
        let r = run("for i in 0..<2 { let tmp = i }\nprint(tmp)")
        #expect(r.error?.description.contains("unknown name 'tmp'") == true)
        #expect(r.error?.exitCode == 70)
    }

    @Test func nestedAssignmentUpdatesContainers() throws {
        #expect(try value("let r = {a: {b: [1, 2]}}\nr.a.b[1] = 5\nr").summary == "{a: {b: [1, 5]}}")
        #expect(try value("let l = [1, 2, 3]\nl[-1] = 0\nl").summary == "[1, 2, 0]")
    }

    @Test func pipesInsertTheFirstArgument() throws {
        #expect(try value("fn sub(a, b) { return a - b }\n10 |> sub(3)").summary == "7")
        #expect(try value("[1, 2, 3] |> len").summary == "3")
    }

    @Test func tensorsBroadcastAndCompare() throws {
        #expect(try value("tensor([[1], [2]]) + tensor([10, 20])").summary == "tensor[2, 2] [11, 21, 12, 22]")
        #expect(try value("tensor([1, 5]) >= 3").summary == "tensor[2] [0, 1]")
        #expect(try value("2 - tensor([1, 2])").summary == "tensor[2] [1, 0]")
        #expect(try value("tensor([1, 2]) == tensor([1, 2])").summary == "true")
        #expect(try value("shape(zeros([2, 3]))").summary == "[2, 3]")
    }

    @Test func gradOfScriptFunctionsMatchesCalculus() throws {
        // d/dx sum(sigmoid(x)) = s(1 - s)
        let g = try value("fn f(x) { return sum(sigmoid(x)) }\ngrad(f, tensor([0, 2]))")
        let t = try #require(g.asTensor)
        let s2 = 1 / (1 + Foundation.exp(-2.0))
        #expect(Swift.abs(Double(t.scalars[0]) - 0.25) < 1e-6)
        #expect(Swift.abs(Double(t.scalars[1]) - s2 * (1 - s2)) < 1e-6)
        #expect(throws: ScriptError.self) { try value("fn f(x) { return 3 }\ngrad(f, tensor([1]))") }
    }

    @Test func sessionsKeepVariablesAcrossRuns() throws {
        let i = Interpreter(registry: langTestRegistry())
        try i.run("let a = 2")
        #expect(try i.run("a * 21").summary == "42")
        try i.run("seed(7)")
        #expect(i.seed == 7)
    }

    @Test func tablesFromRecordsOfColumns() throws {
        let t = try value("table({name: [\"a\", \"b\"], score: [0.5, 12]})")
        guard case let .table(tab) = t else { Issue.record("not a table"); return }
        #expect(tab.rendered() == "name  score\n----  -----\na       0.5\nb        12")
        #expect(tab.csv == "name,score\na,0.5\nb,12\n")
        #expect(tab.json == "[\n  {\"name\": \"a\", \"score\": 0.5},\n  {\"name\": \"b\", \"score\": 12}\n]\n")
        #expect(tab.markdown == "| name | score |\n| --- | --- |\n| a | 0.5 |\n| b | 12 |\n")
    }

    @Test func helpReadsTheBuiltinTableAndTheRegistry() {
        let r = run("help(predict)\nhelp(\"test_abs\")")
        #expect(r.lines[0] == "predict(model, x, top: 5)")
        #expect(r.lines.contains("method test_abs: channel max of |x|^power (test)"))
        #expect(r.lines.contains("    power: float = 1.0 in 0...4"))
        #expect(errorText("help(\"test_ab\")").contains("did you mean 'test_abs'?"))
    }

    @Test func timePrintsAndReturnsTheValue() {
        let r = run("let v = time(1 + 1)\nprint(v)")
        #expect(r.lines.count == 2)
        #expect(r.lines[0].hasPrefix("time: ") && r.lines[0].hasSuffix(" ms"))
        #expect(r.lines[1] == "2")
    }
}
