extension Registry {
    /// Built-in metrics.
    static var builtinMetrics: [any Metric] { [] }
}
