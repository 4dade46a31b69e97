/// The one error type of every reader and writer in the runtime (IDX, gzip, checkpoints,
/// images, model files): the file concerned and what is wrong with it, in words a user can
/// act on. Readers throw it for malformed input instead of trapping.
public struct IOError: Error, CustomStringConvertible, Sendable {
    /// The file (or stream name) the problem is about.
    public let path: String
    /// What is wrong, e.g. "truncated: header promises 784 values, 12 present".
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// `"<path>: <message>"`.
    public var description: String { "\(path): \(message)" }
}
