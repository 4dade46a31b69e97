import Foundation
import Runtime

public typealias JSONObject = [String: Any]

/// One message of the Jupyter messaging protocol (5.3) as it travels over ZeroMQ:
/// routing identities, the delimiter `<IDS|MSG>`, the HMAC signature, four JSON frames
/// (header, parent header, metadata, content) and optional binary buffers.
public struct JupyterMessage {
    public static let delimiter = Array("<IDS|MSG>".utf8)
    public static let protocolVersion = "5.3"

    public var identities: [[UInt8]]
    public var header: JSONObject
    public var parentHeader: JSONObject
    public var metadata: JSONObject
    public var content: JSONObject
    public var buffers: [[UInt8]] = []

    public init(identities: [[UInt8]] = [], header: JSONObject, parentHeader: JSONObject = [:],
                metadata: JSONObject = [:], content: JSONObject) {
        self.identities = identities; self.header = header; self.parentHeader = parentHeader
        self.metadata = metadata; self.content = content
    }

    public var type: String { header["msg_type"] as? String ?? "" }

    /// Parses the frames of a received message. Throws when the delimiter or a frame is
    /// missing, the signature does not match (a message from someone without the key), or
    /// a JSON frame is not an object.
    public static func decode(_ frames: [[UInt8]], signer: MessageSigner) throws -> JupyterMessage {
        guard let d = frames.firstIndex(of: delimiter) else { throw KernelError.wire("message without the <IDS|MSG> delimiter") }
        guard frames.count >= d + 6 else { throw KernelError.wire("message with \(frames.count - d - 1) frames after the delimiter, expected at least 5") }
        let signed = Array(frames[(d + 2)..<(d + 6)])
        guard signer.verify(signed, signature: frames[d + 1]) else { throw KernelError.wire("message with a bad signature") }
        func object(_ bytes: [UInt8], _ name: String) throws -> JSONObject {
            guard let o = try? JSONSerialization.jsonObject(with: Data(bytes)) as? JSONObject else {
                throw KernelError.wire("message whose \(name) is not a JSON object")
            }
            return o
        }
        var m = JupyterMessage(identities: Array(frames[..<d]), header: try object(signed[0], "header"),
                               parentHeader: try object(signed[1], "parent header"),
                               metadata: try object(signed[2], "metadata"), content: try object(signed[3], "content"))
        m.buffers = Array(frames[(d + 6)...])
        return m
    }

    /// The frames to send, signed with `signer`.
    public func encode(signer: MessageSigner) throws -> [[UInt8]] {
        let parts = try [header, parentHeader, metadata, content].map { o -> [UInt8] in
            // Sorted keys: stable bytes, so the same message always carries the same signature.
            Array(try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]))
        }
        return identities + [Self.delimiter, signer.signature(parts)] + parts + buffers
    }
}

/// Signs and checks messages with the connection file's key (HMAC-SHA256, hex digest).
/// An empty key switches authentication off, as the protocol specifies.
public struct MessageSigner: Sendable {
    let key: [UInt8]
    public init(key: String) { self.key = Array(key.utf8) }

    public func signature(_ parts: [[UInt8]]) -> [UInt8] {
        guard !key.isEmpty else { return [] }
        var mac = HMACSHA256(key: key)
        for p in parts { mac.update(p) }
        return Array(SHA256.hex(mac.finalize()).utf8)
    }

    public func verify(_ parts: [[UInt8]], signature: [UInt8]) -> Bool {
        guard !key.isEmpty else { return true }
        return HMACSHA256.constantTimeEqual(self.signature(parts), signature)
    }
}

/// Makes headers for the messages the kernel sends: one session id per kernel process.
public struct MessageFactory: Sendable {
    public let session: String
    public init(session: String = UUID().uuidString.lowercased()) { self.session = session }

    public func header(_ type: String) -> JSONObject {
        ["msg_id": UUID().uuidString.lowercased(), "session": session, "username": "kernel",
         "date": MessageFactory.timestamp(Date()), "msg_type": type, "version": JupyterMessage.protocolVersion]
    }

    /// A message answering or caused by the request whose header is `parent`.
    public func message(_ type: String, content: JSONObject, parent: JSONObject, identities: [[UInt8]] = []) -> JupyterMessage {
        JupyterMessage(identities: identities, header: header(type), parentHeader: parent, content: content)
    }

    /// ISO 8601 with fractional seconds in UTC, which jupyter_client parses.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// Typed reads of JSON values (JSONSerialization hands back NSNumber for numbers and bools).
extension Dictionary where Key == String, Value == Any {
    func string(_ key: String) -> String? { self[key] as? String }
    func int(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue ?? self[key] as? Int }
    func bool(_ key: String, default d: Bool) -> Bool {
        if let b = self[key] as? Bool { return b }
        return (self[key] as? NSNumber)?.boolValue ?? d
    }
}
