import Foundation
import Plugins
import Testing

/// `saliency-repl methods`: every registered plugin with its parameters, as text and JSON.
struct MethodsCLITests {
    @Test func listsEveryBuiltinMethodWithItsParameters() throws {
        let r = try runREPLBinary(["methods"])
        #expect(r.code == 0, "\(r.err)")
        let registry = Registry()
        #expect(registry.explainers.count >= 14)
        for e in registry.explainers {
            #expect(r.out.contains("method \(e.name): \(e.summary)\n  \(e.reference)\n  capabilities: "), "missing \(e.name)")
            for p in e.parameters {
                #expect(r.out.contains("    \(p.signature)"), "missing \(e.name).\(p.name)")
            }
        }
        // Defaults and ranges as users read them.
        #expect(r.out.contains("method integrated_gradients:"))
        #expect(r.out.range(of: #"    steps: int = \d+ in \d+\.\.\.\d+"#, options: .regularExpression) != nil)
        #expect(!r.out.contains("method deletion:"), "metrics only with --metrics")
        // A method that fits lists its fit parameters apart from its explain parameters.
        #expect(r.out.contains("  fit parameters (fixed by the fit; explain reads them from the state):\n    references: int = 100 in 1...100000\n"
            + "        dataset images kept as the reference distribution\n  explain parameters:\n    samples: int = 64"), "\(r.out)")
    }

    @Test func metricsAndDatasetsOnRequest() throws {
        let m = try runREPLBinary(["methods", "--metrics"])
        #expect(m.code == 0)
        for metric in Registry().metrics { #expect(m.out.contains("metric \(metric.name): "), "missing \(metric.name)") }
        #expect(!m.out.contains("method gradient:"))
        let d = try runREPLBinary(["methods", "--datasets"])
        for ds in Registry().datasets { #expect(d.out.contains("dataset \(ds.name): "), "missing \(ds.name)") }
        let all = try runREPLBinary(["methods", "--all"])
        #expect(all.out.contains("method gradcam: ") && all.out.contains("metric deletion: ") && all.out.contains("dataset fashion-mnist: "))
    }

    @Test func jsonParsesAndCarriesTheSchemas() throws {
        let r = try runREPLBinary(["methods", "--all", "--json"])
        #expect(r.code == 0, "\(r.err)")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let methods = try #require(root["methods"] as? [[String: Any]])
        let registry = Registry()
        #expect(methods.compactMap { $0["name"] as? String } == registry.explainers.map(\.name))
        #expect((root["metrics"] as? [[String: Any]])?.count == registry.metrics.count)
        #expect((root["datasets"] as? [[String: Any]])?.count == registry.datasets.count)
        let gradcam = try #require(methods.first { $0["name"] as? String == "gradcam" })
        #expect((gradcam["capabilities"] as? [String])?.contains("layer") == true)
        for e in registry.explainers {
            let entry = try #require(methods.first { $0["name"] as? String == e.name })
            let params = try #require(entry["parameters"] as? [[String: Any]])
            #expect(params.compactMap { $0["name"] as? String } == e.parameters.map(\.name))
            for (p, spec) in zip(params, e.parameters) {
                #expect((p["default"] != nil) == (spec.defaultValue != nil), "\(e.name).\(spec.name) default")
                #expect(p["phase"] as? String == spec.phase.rawValue, "\(e.name).\(spec.name) phase")
                if let r = spec.range, r.upperBound.isFinite { #expect((p["max"] as? Double) == r.upperBound) }
            }
        }
        // Only the asked kinds.
        let only = try runREPLBinary(["methods", "--json"])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(only.out.utf8)) as? [String: Any])
        #expect(Set(o.keys) == ["methods"])
    }

    /// The REPL's :methods shows a method a cell registered, with its parameters; `exec`
    /// reports an error inside a script method at its own line with a caret (exit 70).
    @Test func scriptMethodsInTheREPLAndExec() throws {
        let cell = "fn twice(model, x, target, params) { return x * params.k }\n"
            + "register_method(\"twice\", twice, params: {k: {default: 2, min: 0, max: 5, doc: \"factor\"}}, summary: \"x times k\")\n"
        let r = try runREPLBinary([], stdin: cell + ":methods\n")
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("method twice: x times k\n  script: fn twice(model, x, target, params) at In[1]:1:1\n  capabilities: gradients, batched\n  parameters:\n    k: float = 2.0 in 0...5\n        factor"), "\(r.out)")
        #expect(r.out.contains("method gradient: "))

        let path = try temporaryScript("""
        fn broken(model, x, target, params) {
          return x * params.nope
        }
        register_method("broken", broken)
        print("registered")
        explain(model("lenet5"), ones([1, 1, 28, 28]), "broken")
        """, name: "broken.sal")
        let e = try runREPLBinary(["exec", path])
        #expect(e.code == 70)
        #expect(e.out == "registered\n")
        #expect(e.err.contains("broken.sal:2:21: error: a record has no field 'nope'"), "\(e.err)")
        #expect(e.err.contains("  return x * params.nope\n                    ^\nnote: in script method 'broken' (fn broken(model, x, target, params) at \(path):1:1)"), "\(e.err)")
    }
}
