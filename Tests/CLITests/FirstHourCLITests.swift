import Foundation
import Testing

/// The command line as a new user meets it: files that name their mode, help that lists
/// the options, pipelines that stop before computing, raw maps out of a pipeline.
@Suite("First hour on the command line", .serialized)
struct FirstHourCLITests {
    @Test func aSalOrYamlFileAloneNamesItsMode() throws {
        let script = try temporaryScript("print(\"ran\", args)\n")
        let r = try runREPLBinary([script, "x"])
        #expect(r.code == 0 && r.out == "ran [\"x\"]\n", "\(r)")
        let r2 = try runREPLBinary([repositoryRoot + "/examples/quick.yaml", "--dry-run"])
        #expect(r2.code == 0 && r2.out.hasPrefix("pipeline quick ("), "\(r2)")
    }

    @Test func execHelpListsSetAndDryRun() throws {
        let r = try runREPLBinary(["exec", "--help"])
        #expect(r.code == 0)
        #expect(r.out.contains("--set NAME=VALUE") && r.out.contains("--dry-run"), "\(r.out)")
    }

    @Test func setOfAnUnknownPipelineParameterFails() throws {
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/quick.yaml", "--set", "params.m=2", "--dry-run"])
        #expect(r.code != 0)
        #expect(r.err.contains("--set params.m: the pipeline has no parameter 'm'; did you mean 'n'?"), "\(r.err)")
    }

    /// A pipeline saves its maps as numpy arrays; numpy reads them.
    @Test func aPipelineSavesRawMaps() throws {
        let dir = try freshDirectory("maps-npy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let yaml = """
        steps:
          - load: {dataset: fashion-mnist, split: test, limit: 3, as: data}
          - model: {path: \(repositoryRoot)/models/lenet-fmnist.onnx, as: lenet}
          - explain: {model: lenet, data: data, methods: [gradient, gradcam], target: label, as: maps}
          - save: {value: maps, path: maps.npy}
          - save: {value: maps, path: maps.npz}
        """
        let path = dir + "/p.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try runREPLBinary(["run", path, "--out", dir + "/out", "--quiet"])
        #expect(r.code == 0, "\(r.err)")
        let check = """
        import numpy as np
        a = np.load("\(dir)/out/maps.npy"); z = np.load("\(dir)/out/maps.npz")
        assert a.shape == (2, 3, 1, 28, 28) and sorted(z.files) == ["gradcam", "gradient"]
        assert (a[1] == z["gradcam"]).all()
        print("ok")
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", check]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(text == "ok\n")
    }

    /// `:time` times a whole cell, a binding included, in the piped REPL too.
    @Test func timeOfALetInThePipedREPL() throws {
        let r = try runREPLBinary([], stdin: ":time let r = 6 * 7\nprint(r)\n")
        #expect(r.code == 0)
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0].hasPrefix("time: ") && lines[1] == "42", "\(r)")
    }
}
