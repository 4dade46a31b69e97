import Foundation
import Testing

/// Runs the built `saliency-repl` with arguments and stdin; returns exit code, stdout, stderr.
func runREPLBinary(_ args: [String], stdin: String = "", environment: [String: String]? = nil) throws -> (code: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = productsDirectory.appendingPathComponent("saliency-repl")
    p.arguments = args
    if let environment { p.environment = environment }
    let input = Pipe(), output = Pipe(), error = Pipe()
    p.standardInput = input; p.standardOutput = output; p.standardError = error
    try p.run()
    input.fileHandleForWriting.write(Data(stdin.utf8))
    try input.fileHandleForWriting.close()
    // Read both pipes before waiting so a full pipe cannot block the child.
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    let errData = error.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

func temporaryScript(_ text: String, name: String = "script.sal") throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(getpid())-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

struct REPLCLITests {
    @Test func helpTeachesTheModes() throws {
        let r = try runREPLBinary(["--help"])
        #expect(r.code == 0)
        #expect(r.out.contains("saliency-repl exec FILE [ARGS]"))
        #expect(r.out.contains("65 script error"))
        #expect(r.out.contains("In [1]: let m = model(\"lenet5\")"))
    }

    @Test func execRunsAScriptWithArguments() throws {
        let path = try temporaryScript("print(\"hello\", args)\nprint(len(layers(model(\"lenet5\"))))\n")
        let r = try runREPLBinary(["exec", path, "a", "--flag"])
        #expect(r.code == 0)
        #expect(r.out == "hello [\"a\", \"--flag\"]\n8\n")
        #expect(r.err.isEmpty)
    }

    @Test func execParseErrorsExit65AndRunNothing() throws {
        let path = try temporaryScript("print(\"ran\")\nlet x = [1, 2\nlet = 4\n", name: "bad.sal")
        let r = try runREPLBinary(["exec", path])
        #expect(r.code == 65)
        #expect(r.out.isEmpty)
        #expect(r.err == """
        \(path):3:1: error: expected ']' or ',' in the list opened at 2:9, found 'let'
        let = 4
        ^

        """)
    }

    @Test func execRuntimeErrorsExit70AfterEarlierOutput() throws {
        let path = try temporaryScript("print(\"first\")\nlet m = model(\"missing.onnx\")\nprint(\"never\")\n", name: "rt.sal")
        let r = try runREPLBinary(["exec", path])
        #expect(r.code == 70)
        #expect(r.out == "first\n")
        let dir = (path as NSString).deletingLastPathComponent
        #expect(r.err.hasPrefix("\(path):2:9: error: model: no such file: \(dir)/missing.onnx (built-in architectures: \"lenet5\", \"resnet18\")"))
    }

    @Test func execRunsTheShippedExample() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/basics.sal").path
        let r = try runREPLBinary(["exec", example])
        #expect(r.code == 0)
        #expect(r.out.hasPrefix("x = 7\nsaliency maps 2\n"))
    }

    @Test func pipedSessionHasNoPromptsOrEcho() throws {
        let r = try runREPLBinary([], stdin: "let a = [1,\n2]\na\nprint(\"x\")\nnope\n:vars\nlet b = (1 +\n")
        #expect(r.code == 0)
        // Not a terminal: no banner, no prompts, no echo of the input; values and output only.
        #expect(r.out == "Out[2]: [1, 2]\nx\na = [1, 2]\n")
        #expect(r.err.contains("In[4]:1:1: error: unknown name 'nope'"))
        // End of input inside an unfinished cell reports what is missing.
        #expect(r.err.contains("error: expected an expression, found end of input"))
    }
}
