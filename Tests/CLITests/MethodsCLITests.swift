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
                if let r = spec.range, r.upperBound.isFinite { #expect((p["max"] as? Double) == r.upperBound) }
            }
        }
        // Only the asked kinds.
        let only = try runREPLBinary(["methods", "--json"])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(only.out.utf8)) as? [String: Any])
        #expect(Set(o.keys) == ["methods"])
    }
}
