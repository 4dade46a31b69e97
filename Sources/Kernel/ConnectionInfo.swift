import Foundation

/// What the Jupyter front end writes into the connection file it starts the kernel with:
/// where to bind the five channels and the key that signs every message.
public struct ConnectionInfo: Decodable, Sendable {
    public var transport: String
    public var ip: String
    public var shellPort: Int
    public var iopubPort: Int
    public var stdinPort: Int
    public var controlPort: Int
    public var hbPort: Int
    public var key: String
    public var signatureScheme: String

    enum CodingKeys: String, CodingKey {
        case transport, ip, key
        case shellPort = "shell_port", iopubPort = "iopub_port", stdinPort = "stdin_port"
        case controlPort = "control_port", hbPort = "hb_port", signatureScheme = "signature_scheme"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        transport = try c.decodeIfPresent(String.self, forKey: .transport) ?? "tcp"
        ip = try c.decodeIfPresent(String.self, forKey: .ip) ?? "127.0.0.1"
        shellPort = try c.decode(Int.self, forKey: .shellPort)
        iopubPort = try c.decode(Int.self, forKey: .iopubPort)
        stdinPort = try c.decode(Int.self, forKey: .stdinPort)
        controlPort = try c.decode(Int.self, forKey: .controlPort)
        hbPort = try c.decode(Int.self, forKey: .hbPort)
        key = try c.decodeIfPresent(String.self, forKey: .key) ?? ""
        signatureScheme = try c.decodeIfPresent(String.self, forKey: .signatureScheme) ?? "hmac-sha256"
    }

    /// Reads and checks a connection file.
    public static func load(path: String) throws -> ConnectionInfo {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KernelError.connectionFile("cannot read connection file '\(path)'")
        }
        let info: ConnectionInfo
        do { info = try JSONDecoder().decode(ConnectionInfo.self, from: data) } catch {
            throw KernelError.connectionFile("connection file '\(path)' is not a Jupyter connection file: \(error)")
        }
        guard info.key.isEmpty || info.signatureScheme == "hmac-sha256" else {
            throw KernelError.connectionFile("signature scheme '\(info.signatureScheme)' is not supported (only hmac-sha256)")
        }
        guard ["tcp", "ipc"].contains(info.transport) else {
            throw KernelError.connectionFile("transport '\(info.transport)' is not supported (tcp or ipc)")
        }
        return info
    }

    /// The ZeroMQ endpoint of one channel (ipc endpoints are files named ip-port, as
    /// jupyter_client names them).
    public func endpoint(port: Int) -> String {
        transport == "ipc" ? "ipc://\(ip)-\(port)" : "tcp://\(ip):\(port)"
    }
}

/// Why the kernel cannot start or go on.
public enum KernelError: Error, CustomStringConvertible {
    case connectionFile(String)
    case wire(String)
    case install(String)

    public var description: String {
        switch self {
        case let .connectionFile(s), let .wire(s), let .install(s): return s
        }
    }
}
