import ArgumentParser
import Foundation
import Lang
import Plugins

/// `saliency-repl methods`: what the REPL's `:methods` shows, from the command line, and as
/// JSON for tools (editor completion, pipeline generators). The text comes from the same
/// `PluginCatalog` formatter as `:methods` and `help("name")`.
struct Methods: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the registered explanation methods (and metrics, datasets) with their parameters.",
        discussion: """
        Each method is shown with its summary, paper reference, capabilities and
        parameters (name: type = default in min...max, then the doc line).

        EXAMPLES
          saliency-repl methods
          saliency-repl methods --metrics
          saliency-repl methods --all --json
        """)

    @Flag(help: "List the metrics instead of the methods.") var metrics = false
    @Flag(help: "List the datasets instead of the methods.") var datasets = false
    @Flag(help: "List methods, metrics and datasets.") var all = false
    @Flag(help: "Machine-readable output: {\"methods\": [...], \"metrics\": [...], \"datasets\": [...]} with the kinds asked for.") var json = false

    /// Methods unless --metrics / --datasets say otherwise; --all is every kind. `--metrics
    /// --datasets` lists both (and no methods), which is what the flags read like.
    var kinds: [PluginCatalog.Kind] {
        if all { return PluginCatalog.Kind.allCases }
        let chosen = (metrics ? [PluginCatalog.Kind.metrics] : []) + (datasets ? [.datasets] : [])
        return chosen.isEmpty ? [.methods] : chosen
    }

    func run() throws {
        let registry = Registry.shared
        if json {
            print(try PluginCatalog.json(registry, kinds: kinds))
        } else {
            print(PluginCatalog.text(registry, kinds: kinds))
        }
    }
}
