import Foundation
import Testing

/// `saliency-repl exec FILE --set NAME=VALUE --dry-run`: what the training recipes in models/ use.
struct ExecParamsCLITests {
    @Test func setFillsParamsAndTheRestStaysInArgs() throws {
        let path = try temporaryScript("let p = params({epochs: 4, out: \"m.onnx\"})\nprint(p, args)\n")
        let r = try runREPLBinary(["exec", path, "a", "--set", "epochs=2", "--set=out=/tmp/x.onnx", "b"])
        #expect(r.code == 0)
        #expect(r.out == "{epochs: 2, out: \"/tmp/x.onnx\"} [\"a\", \"b\"]\n")
        let typo = try runREPLBinary(["exec", path, "--set", "epoch=2"])
        #expect(typo.code == 70)
        #expect(typo.err.contains("error: params: --set epoch=2: the script has no parameter 'epoch'; did you mean 'epochs'?"))
        let missing = try runREPLBinary(["exec", path, "--set"])
        #expect(missing.code == 64 && missing.err == "error: --set needs NAME=VALUE\n")
        let noEquals = try runREPLBinary(["exec", path, "--set", "epochs"])
        #expect(noEquals.code == 64 && noEquals.err == "error: --set takes NAME=VALUE, got 'epochs'\n")
    }

    @Test func dryRunChecksTrainingWithoutComputing() throws {
        let path = try temporaryScript("""
            let d = dataset("shapes-loc", split: "train", size: 32, count: 5000)
            let r = train(resnet(classes: 8, input: [3, 32, 32]), d, 50, validation: 0.2)
            print(len(r.history), accuracy(r.model, d))
            """)
        let r = try runREPLBinary(["exec", path, "--dry-run"])
        #expect(r.code == 0)
        #expect(r.out == "dry run: would train small-resnet on shapes-loc[0..<4000] (4000 examples, validation shapes-loc[4000..<5000], 1000) for 50 epochs\n0 nan\n")
    }
}
