import Foundation
import Testing

/// Runs python3 on `code`; returns what it printed on stdout and on stderr.
func python(_ code: String) throws -> (out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", code]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (o, e)
}

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
        let (text, error) = try python(check)
        #expect(text == "ok\n", "\(error)")
    }

    /// `:time` times a whole cell, a binding included, in the piped REPL too.
    @Test func timeOfALetInThePipedREPL() throws {
        let r = try runREPLBinary([], stdin: ":time let r = 6 * 7\nprint(r)\n")
        #expect(r.code == 0)
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0].hasPrefix("time: ") && lines[1] == "42", "\(r)")
    }
}

@Suite("Notebook exports")
struct NotebookExportCLITests {
    /// :save notebook.ipynb is valid nbformat 4 (checked by nbformat itself); :save
    /// notebook.sal leaves the failed cell out, so the script reruns.
    @Test func ipynbValidatesAndTheScriptReruns() throws {
        let dir = try freshDirectory("notebook")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cells = """
        let m = model("lenet5")
        print("hello")
        explain(m, zeros([1, 1, 28, 28]), "gradcm")
        table([{a: 1, b: 2}])
        explain(m, zeros([1, 1, 28, 28]), "gradient")
        :save \(dir)/nb.ipynb
        :save \(dir)/nb.sal

        """
        let r = try runREPLBinary([], stdin: cells)
        #expect(r.out.contains("saved 4 cells to \(dir)/nb.sal (1 failed cell(s) left out, so the script reruns)"), "\(r.out)")
        let check = """
        import nbformat
        nb = nbformat.read("\(dir)/nb.ipynb", as_version=4)
        nbformat.validate(nb)
        kinds = [[o.output_type for o in c.outputs] for c in nb.cells]
        assert kinds == [[], ["stream"], ["error"], ["execute_result"], ["execute_result"]], kinds
        assert "image/png" in nb.cells[4].outputs[0].data and "text/html" in nb.cells[3].outputs[0].data
        assert "gradcm" in nb.cells[2].outputs[0].evalue
        print("ok")
        """
        let (text, error) = try python(check)
        #expect(text == "ok\n", "\(error)")
        let rerun = try runREPLBinary(["exec", dir + "/nb.sal"])
        #expect(rerun.code == 0 && rerun.out == "hello\n", "\(rerun)")
    }
}
