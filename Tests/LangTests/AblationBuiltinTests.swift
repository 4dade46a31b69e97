import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// accuracy(..., ablate:), random_ablation(...), and metric(..., fit:) for sanity checks of a
/// fitting method: values, and argument errors with their locations.
struct AblationBuiltinTests {
    func interpreter() -> Interpreter {
        let r = langTestRegistry()
        r.register(ExpectedGradientsExplainer())
        r.register(SanityRandomizationMetric())
        let i = Interpreter(registry: r)
        i.fitCache = FitCache(directory: NSTemporaryDirectory() + "ablation-lang-" + UUID().uuidString)
        i.quiet = true
        return i
    }

    static let prelude = "let net = lenet5(seed: 0)\nlet d = dataset(\"test_squares\", split: \"test\", count: 8)\n"

    func error(_ line: String) -> String {
        let r = run(Self.prelude + line, interpreter: interpreter())
        #expect(r.error != nil, "expected an error from \(line)")
        return r.error?.description ?? ""
    }

    @Test func ablatedAccuracyAndMatchedRandomControls() throws {
        let i = interpreter()
        _ = try i.run(Self.prelude + """
            let plain = accuracy(net, d)
            let none = accuracy(net, d, ablate: {conv2: []})
            let dead = accuracy(net, d, ablate: {fc2: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]})
            let r = random_ablation(net, d, like: {conv1: [0, 1, 2], fc1: [7]}, repeats: 3, seed: 4)
            """, file: "t.sal")
        func number(_ name: String) -> Double? { if case let .number(x)? = i.globals.lookup(name) { return x }; return nil }
        #expect(number("none") == number("plain"))
        // All logits zeroed: every prediction is class 0; labels 0...7 of test_squares: 1 of 8.
        #expect(number("dead") == 0.125)
        guard case let .record(r)? = i.globals.lookup("r"), case let .list(accs)? = r["accuracy"], case let .list(draws)? = r["channels"] else {
            Issue.record("random_ablation returned no record"); return
        }
        #expect(r.keys == ["accuracy", "mean", "std", "ci95", "repeats", "channels"])
        #expect(accs.count == 3 && draws.count == 3)
        // Each repeat's accuracy is accuracy(..., ablate: its draw).
        for (acc, draw) in zip(accs, draws) {
            guard case let .record(d) = draw, case let .list(c1)? = d["conv1"], case let .list(f1)? = d["fc1"] else { Issue.record("bad draw"); continue }
            #expect(c1.count == 3 && f1.count == 1)
            i.globals.define("draw", draw)
            #expect(try i.run("accuracy(net, d, ablate: draw)", file: "t.sal").summary == acc.summary)
        }
        let again = try i.run("random_ablation(net, d, like: {conv1: [0, 1, 2], fc1: [7]}, repeats: 3, seed: 4)", file: "t.sal")
        guard case let .record(a) = again else { Issue.record("no record"); return }
        #expect(a["channels"]?.summary == r["channels"]?.summary)
    }

    @Test func ablationArgumentsAreCheckedWithLocations() {
        #expect(error("accuracy(net, d, ablate: {cnv1: [0]})").hasPrefix(
            "t.sal:3:1: error: wrong arguments to accuracy: ablate: unknown layer 'cnv1'; did you mean 'conv1'?"))
        #expect(error("accuracy(net, d, ablate: [1])").hasPrefix(
            "t.sal:3:1: error: wrong arguments to accuracy: ablate must be a record of channel lists such as {conv2: [0, 5]}, got a list"))
        #expect(error("accuracy(net, d, ablate: {conv1: [20]})").hasPrefix(
            "t.sal:3:1: error: wrong arguments to accuracy: ablate: channel 20 is out of range for layer 'conv1', which has 20 channels (0...19)"))
        #expect(error("accuracy(net, d, ablate: {conv1: [1.5]})").hasPrefix(
            "t.sal:3:1: error: wrong arguments to accuracy: ablate.conv1 must list channel indices (whole numbers >= 0), got 1.5"))
        #expect(error("random_ablation(net, d, like: {conv1: [3, 3]})").hasPrefix(
            "t.sal:3:1: error: wrong arguments to random_ablation: like: channel 3 is listed twice for layer 'conv1'"))
        #expect(error("random_ablation(net, d, like: {conv1: [3]}, repeats: 0)").hasPrefix(
            "t.sal:3:1: error: wrong arguments to random_ablation: repeats must be >= 1, got 0"))
        #expect(error("random_ablation(net, d)").hasPrefix("t.sal:3:1: error: wrong arguments to random_ablation: missing 'like'"))
        #expect(Builtins.table["random_ablation"]?.doc.isEmpty == false)
        #expect(Builtins.table["accuracy"]?.doc.contains("ablate") == true)
    }

    @Test func sanityRandomizationOfAFittingMethodTakesTheFitDataset() throws {
        let i = interpreter()
        _ = try i.run(Self.prelude + """
            let x = d[0]
            let m = explain(net, x, "expected_gradients", fit: d, references: 4, samples: 4)
            let s = metric("sanity_randomization", net, x, m, fit: d, layers: 2)
            """, file: "t.sal")
        guard case let .number(v)? = i.globals.lookup("s") else { Issue.record("no sanity value"); return }
        #expect(v.isFinite && v >= -1 && v <= 1)
        let script = Self.prelude + "let x = d[0]\nlet m = explain(net, x, \"expected_gradients\", fit: d, references: 4, samples: 4)\n"
        let missing = run(script + "metric(\"sanity_randomization\", net, x, m, layers: 1)", interpreter: interpreter()).error?.description ?? ""
        #expect(missing.hasPrefix("t.sal:5:1: error: metric: metric 'sanity_randomization': 'expected_gradients' learns from a dataset"))
        let state = run(script + "metric(\"sanity_randomization\", net, x, m, fit: fit(net, d, \"expected_gradients\", references: 4))",
                        interpreter: interpreter()).error?.description ?? ""
        #expect(state.hasPrefix("t.sal:5:1: error: wrong arguments to metric: fit: takes the dataset the method was fitted on, not a fitted state"))
    }
}
