import Foundation
import Testing
@testable import Lang
import Plugins
import Runtime

/// Script input that used to reach a trap (an Int conversion of a huge number, a missing
/// dictionary entry) gives a positioned error instead.
struct UserInputTrapTests {
    @Test func hugeNumbersWhereIntegersAreExpected() {
        #expect(errorText("explain(model(\"lenet5\"), zeros([1, 1, 28, 28]), \"test_abs\", target: 1e300)")
            .contains("target must be a class index >= 0, a class name or \"predicted\", got 1e+300"))
        #expect(errorText("pick(zeros([2, 3]), [1e300, 0])").contains("'target' must be class indices, got 1e+300"))
        #expect(errorText("train(model(\"lenet5\"), dataset(\"test_squares\", count: 4), 1, validation: 1e300)")
            .contains("validation as a fraction must leave at least one example on each side (0 < f < 1), got 1e+300 of 4"))
    }

    /// compare over an empty batch used to trap merging zero per-batch maps.
    @Test func comparingNoImagesIsAnError() {
        #expect(errorText("compare(model(\"lenet5\"), zeros([0, 1, 28, 28]), [\"test_abs\"])")
            .contains("there are no images to explain (a batch of 0)"))
    }

    /// A node name and its output value name are one layer: asking for both captures it once
    /// and says so, instead of trapping on the second name.
    @Test func twoNamesOfOneLayerInActivations() throws {
        let g = try Graph(name: "named", inputs: [ValueInfo(name: "x", shape: [-1, 1, 2, 2])], outputs: ["y"],
                          nodes: [GraphNode(name: "act", opType: "Relu", inputs: ["x"], outputs: ["act_out"]),
                                  GraphNode(name: "flat", opType: "Flatten", inputs: ["act_out"], outputs: ["y"])],
                          weights: [:])
        let i = Interpreter(registry: langTestRegistry())
        i.globals.define("m", .model(ModelValue(graph: g, source: "named")))
        let r = run("activations(m, ones([1, 1, 2, 2]), [\"act\", \"act_out\"])", interpreter: i)
        #expect(r.error?.description.contains("'act_out' names the same value as another layer in the list; list it once") == true,
                "\(r.error?.description ?? "no error")")
        #expect(run("print(activations(m, ones([1, 1, 2, 2]), [\"act\"]).act.shape)", interpreter: i).lines == ["[1, 1, 2, 2]"])
    }
}
