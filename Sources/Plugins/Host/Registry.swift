import Foundation
import Runtime

/// The one explicit table of plugins. The language finds plugins only here. Built-in
/// plugins are listed in Registry+Explainers.swift, Registry+Metrics.swift and
/// Registry+Datasets.swift; plugins defined in scripts or loaded from shared libraries are
/// added at run time with `register`.
public final class Registry: @unchecked Sendable {
    public static let shared = Registry()

    private let lock = NSLock()
    private var explainerTable: [String: any Explainer] = [:]
    private var metricTable: [String: any Metric] = [:]
    private var datasetTable: [String: any DatasetProvider] = [:]

    public init(builtins: Bool = true) {
        guard builtins else { return }
        for e in Registry.builtinExplainers { explainerTable[e.name] = e }
        for m in Registry.builtinMetrics { metricTable[m.name] = m }
        for d in Registry.builtinDatasets { datasetTable[d.name] = d }
    }

    public var explainers: [any Explainer] { lock.withLock { explainerTable.sorted { $0.key < $1.key }.map(\.value) } }
    public var metrics: [any Metric] { lock.withLock { metricTable.sorted { $0.key < $1.key }.map(\.value) } }
    public var datasets: [any DatasetProvider] { lock.withLock { datasetTable.sorted { $0.key < $1.key }.map(\.value) } }

    public func explainer(_ name: String) throws -> any Explainer {
        try lock.withLock {
            guard let e = explainerTable[name] else {
                throw PluginError.unknownPlugin(kind: "method", name: name, suggestion: closestName(to: name, in: Array(explainerTable.keys)))
            }
            return e
        }
    }
    public func metric(_ name: String) throws -> any Metric {
        try lock.withLock {
            guard let m = metricTable[name] else {
                throw PluginError.unknownPlugin(kind: "metric", name: name, suggestion: closestName(to: name, in: Array(metricTable.keys)))
            }
            return m
        }
    }
    public func dataset(_ name: String) throws -> any DatasetProvider {
        try lock.withLock {
            guard let d = datasetTable[name] else {
                throw PluginError.unknownPlugin(kind: "dataset", name: name, suggestion: closestName(to: name, in: Array(datasetTable.keys)))
            }
            return d
        }
    }

    /// Adds or replaces a plugin (user plugins may shadow built-ins on purpose).
    public func register(_ e: any Explainer) { lock.withLock { explainerTable[e.name] = e } }
    public func register(_ m: any Metric) { lock.withLock { metricTable[m.name] = m } }
    public func register(_ d: any DatasetProvider) { lock.withLock { datasetTable[d.name] = d } }
}
