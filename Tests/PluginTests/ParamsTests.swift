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
        #expect(p.int("steps") == 20)
        #expect(p.float("sigma") == 1)
        #expect(p.string("baseline") == "zeros")
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

    @Test func registryNamesUnknownPlugins() {
        let r = Registry(builtins: false)
        #expect(throws: PluginError.self) { try r.explainer("gradcam") }
        #expect(CancellationToken.never.isCancelled == false)
        let t = CancellationToken()
        t.cancel()
        #expect(throws: PluginError.cancelled) { try t.check() }
    }
}
