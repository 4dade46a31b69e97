import Synchronization

/// A flag long computations poll between steps (Ctrl-C in the REPL sets it; a pipeline's
/// SIGTERM handler too). Checking is cheap: one atomic load.
public final class CancellationToken: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func cancel() { flag.store(true, ordering: .relaxed) }
    public func reset() { flag.store(false, ordering: .relaxed) }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
    /// Throws `PluginError.cancelled` once cancelled.
    public func check() throws { if isCancelled { throw PluginError.cancelled } }
    /// A token that is never cancelled.
    public static let never = CancellationToken()
}
