import Foundation
import Testing

/// Issue 21 through the binary: what an attacker's pipeline or a careless command line can
/// make `run` and `exec` do. Each case used to write outside --out, hang, or die on a signal.
@Suite("Hostile input end to end", .serialized)
struct HostileCLITests {
    let lenet = repositoryRoot + "/models/lenet-fmnist.onnx"

    func pipeline(in dir: String, save path: String) throws -> String {
        let file = dir + "/p.yaml"
        try """
        steps:
          - load: {dataset: fashion-mnist, split: test, limit: 1, as: data}
          - model: {path: \(lenet), as: m}
          - explain: {model: m, data: data, methods: [gradient], as: maps}
          - save: {value: maps, path: \(path)}
        """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// A relative escape, an absolute path and a `--set` override are validation errors: exit
    /// 65, nothing computed, the victim untouched; a symlink out of --out is refused before
    /// the first step.
    @Test func nothingIsWrittenOutsideOut() throws {
        let dir = try freshDirectory("escape")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let victim = dir + "/victim.csv"
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)

        for (path, sets) in [("../victim.csv", [String]()), (victim, []), ("\"${params.p}\"", ["--set", "params.p=../victim.csv"])] {
            var file = try pipeline(in: dir, save: path)
            if !sets.isEmpty {
                try ("params: {p: x.csv}\n" + String(contentsOfFile: file, encoding: .utf8)).write(toFile: file, atomically: true, encoding: .utf8)
                file = dir + "/p.yaml"
            }
            for extra in [["--dry-run"], []] {
                let r = try runREPLBinary(["run", file, "--out", dir + "/out", "--quiet"] + sets + extra)
                #expect(r.code == 65, "\(path) \(extra): \(r.err)")
                #expect(r.err.contains("save paths are relative to --out and stay inside it"), "\(path): \(r.err)")
                #expect(!r.out.contains("//"), "the plan printed \(r.out)")
            }
        }
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/out/link.csv", withDestinationPath: victim)
        let file = try pipeline(in: dir, save: "link.csv")
        for extra in [["--dry-run"], []] {
            let r = try runREPLBinary(["run", file, "--out", dir + "/out", "--quiet"] + extra)
            #expect(r.code == 65, "\(r.err)")
            #expect(r.err.contains("outside the output directory"), "\(r.err)")
            #expect(!r.out.contains("[1/4]"), "a step ran: \(r.out)")
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/.resume"), "nothing was computed")
    }

    /// Nested YAML aliases: an error in well under a second with little memory, not 4.8 GB.
    @Test func anAliasBombIsRefusedQuickly() throws {
        let dir = try freshDirectory("bomb")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        for i in 1...8 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ", ") + "]") }
        lines.append("steps: *a8")
        try lines.joined(separator: "\n").write(toFile: dir + "/bomb.yaml", atomically: true, encoding: .utf8)
        let t0 = Date()
        let r = try runREPLBinary(["run", dir + "/bomb.yaml", "--dry-run"])
        #expect(r.code == 65)
        #expect(r.err.contains("the file expands to more than 100000 YAML values"), "\(r.err)")
        #expect(Date().timeIntervalSince(t0) < 20)
    }

    /// Scripts: stack-deep input ends with exit 65 or 70 and a position, never a signal.
    @Test func deepScriptsEndWithAnError() throws {
        let long = try temporaryScript("print(" + Array(repeating: "1", count: 6000).joined(separator: "+") + ")\n")
        let r1 = try runREPLBinary(["exec", long])
        #expect(r1.code == 65, "\(r1.err.prefix(300))")
        #expect(r1.err.contains("expression too long or nested too deeply"))
        let deep = try temporaryScript("let x = []\nfor i in 0..<100000 { x = [x] }\nprint(x == x)\n")
        let r2 = try runREPLBinary(["exec", deep])
        #expect(r2.code == 70, "\(r2.err)")
        #expect(r2.err.contains(":2:") && r2.err.contains("value nested too deeply"))
        let selfLoading = try temporaryScript("load_plugin(\"self.sal\")\n", name: "self.sal")
        let r3 = try runREPLBinary(["exec", "--plugin", selfLoading, selfLoading])
        #expect(r3.code == 65, "\(r3.err)")
        #expect(r3.err.contains("self.sal -> self.sal"), "\(r3.err)")
    }

    /// A bad byte gives its position; a FIFO given as --plugin is refused, not waited on.
    @Test func badFilesAreNamedNotHungOn() throws {
        let dir = try freshDirectory("files")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(Array("print(1)\n# caf".utf8) + [0xE9] + Array("\n".utf8)).write(to: URL(fileURLWithPath: dir + "/latin1.sal"))
        let r = try runREPLBinary(["exec", dir + "/latin1.sal"])
        #expect(r.code == 65)
        #expect(r.err.hasPrefix("\(dir)/latin1.sal:2:6: error: invalid UTF-8 (byte 0xe9 at offset 14)"), "\(r.err)")
        #expect(mkfifo(dir + "/fifo.so", 0o600) == 0)
        let t0 = Date()
        let f = try runREPLBinary(["exec", "--plugin", dir + "/fifo.so", try temporaryScript("print(1)\n")])
        #expect(f.code == 65)
        #expect(f.err.contains("is a FIFO (named pipe), expected a regular file"), "\(f.err)")
        #expect(Date().timeIntervalSince(t0) < 20)
    }

    /// --max-memory: a bad size is a usage error; a small one refuses the model's input.
    @Test func maxMemoryIsHonoured() throws {
        let bad = try runREPLBinary(["exec", "--max-memory", "lots", try temporaryScript("print(1)\n")])
        #expect(bad.code == 64)
        #expect(bad.err.contains("--max-memory takes a size such as 512M, 8G or 50%, got 'lots'"), "\(bad.err)")
        // Building ResNet-18 runs its first convolution, whose output is the first refusal.
        let script = try temporaryScript("print(layers(model(\"resnet18\")))\n")
        let r = try runREPLBinary(["exec", "--max-memory", "100K", script])
        #expect(r.code == 70)
        #expect(r.err.contains("the output [1, 64, 112, 112] needs 3.2 MB, over the memory budget of 102.4 KB"), "\(r.err)")
    }
}
