import Runtime

/// Explainer, metric and dataset plugins live in one folder each under Sources/Plugins.
/// The registry (the plugin host issue) is the only way the language finds them.
public enum PluginsModule {
    public static var runtimeThreads: Int { Threads.count }
}
