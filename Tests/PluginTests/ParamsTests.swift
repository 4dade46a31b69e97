import Testing
@testable import Plugins
import Runtime

@Suite("Plugin parameters")
struct ParamsTests {
    let schema = [
        ParamSpec("steps", .int, default: .int(50), range: 1...10_000, doc: "integration steps"),
        ParamSpec("baseline", .choice(["zeros", "blur", "noise"]), default: .string("zeros"), doc: "baseline"),
        ParamSpec("sigma", .float, default: .float(0.15), range: 0...10, doc: "noise level"),
        ParamSpec("layer", .layer, doc: "layer (default: last conv)"),
    ]

    @Test func defaultsFillAndNumbersConvert() throws {
        let p = try Params.resolve(["steps": .float(20), "sigma": .int(1)], schema: schema, plugin: "ig")
        #expect(try p.int("steps") == 20)
        #expect(try p.float("sigma") == 1)
        #expect(try p.string("baseline") == "zeros")
        #expect(p["layer"] == nil)
        #expect(p.description == "baseline=\"zeros\", sigma=1.0, steps=20")
    }

    @Test func errorsSayWhatIsWrong() {
        #expect(throws: PluginError.unknownParameter(plugin: "ig", name: "stpes", suggestion: "steps")) {
            try Params.resolve(["stpes": .int(3)], schema: schema, plugin: "ig")
        }
        #expect(throws: PluginError.wrongType(plugin: "ig", name: "steps", expected: "int", got: "a string")) {
            try Params.resolve(["steps": .string("many")], schema: schema, plugin: "ig")
        }
        #expect(throws: PluginError.outOfRange(plugin: "ig", name: "steps", value: "0", range: "1...10000")) {
            try Params.resolve(["steps": .int(0)], schema: schema, plugin: "ig")
        }
        #expect(throws: PluginError.wrongType(plugin: "ig", name: "steps", expected: "int", got: "a float")) {
            try Params.resolve(["steps": .float(2.5)], schema: schema, plugin: "ig")
        }
        do {
            _ = try Params.resolve(["baseline": .string("blurr")], schema: schema, plugin: "ig")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)" == "parameter 'baseline' of 'ig' must be one of \"zeros\" | \"blur\" | \"noise\", got \"blurr\"; did you mean \"blur\"?")
        }
        #expect(schema[0].signature == "steps: int = 50 in 1...10000")
    }

    /// A plugin that reads a misspelt, missing or mistyped parameter gets an error naming
    /// itself and the parameter, never a trap.
    @Test func readingAParameterWrongIsAnErrorNotATrap() throws {
        let p = try Params.resolve([:], schema: schema, plugin: "ig")
        #expect(throws: PluginError.parameterAccess(plugin: "ig", name: "stpes", problem: "its schema declares no such parameter; did you mean 'steps'?")) {
            try p.int("stpes")
        }
        #expect(throws: PluginError.parameterAccess(plugin: "ig", name: "layer", problem: "it has no value (no default, and none was given)")) {
            try p.float("layer")
        }
        #expect(throws: PluginError.parameterAccess(plugin: "ig", name: "baseline", problem: "it is a string, not an int")) {
            try p.int("baseline")
        }
        // Optional parameters not given are nil; a misspelt optional one is still an error.
        #expect(try p.string("layer") == nil)
        #expect(throws: PluginError.self) { try p.string("lyer") }
        #expect(PluginError.parameterAccess(plugin: "ig", name: "stpes", problem: "its schema declares no such parameter").description
            == "'ig' cannot read its parameter 'stpes': its schema declares no such parameter")
        // Through the host: the explain call fails with that error.
        struct Misspelt: Explainer {
            let name = "misspelt"
            let summary = "reads a parameter it does not declare (test)"
            let reference = "test"
            var parameters: [ParamSpec] { [ParamSpec("steps", .int, default: .int(2), doc: "steps")] }
            func explain(_ ctx: inout ExplainContext) throws -> Explanation {
                _ = try ctx.params.int("stpes")
                return Explanation(map: Tensor.zeros([ctx.images.shape[0], 1, ctx.images.shape[2], ctx.images.shape[3]]))
            }
        }
        #expect(throws: PluginError.parameterAccess(plugin: "misspelt", name: "stpes", problem: "its schema declares no such parameter; did you mean 'steps'?")) {
            try explain(Misspelt(), model: try TinyNets.smoothCNN(), images: Tensor.zeros([1, 3, 8, 8]), target: .index(0))
        }
        // An int parameter given as a float too large for Int is a type error, not a trap.
        #expect(throws: PluginError.wrongType(plugin: "ig", name: "steps", expected: "int", got: "a float")) {
            try Params.resolve(["steps": .float(1e300)], schema: schema, plugin: "ig")
        }
    }

    @Test func registryNamesUnknownPlugins() {
        let r = Registry(builtins: false)
        #expect(throws: PluginError.self) { try r.explainer("gradcam") }
        #expect(CancellationToken.never.isCancelled == false)
        let t = CancellationToken()
        t.cancel()
        #expect(throws: PluginError.cancelled) { try t.check() }
    }
}
