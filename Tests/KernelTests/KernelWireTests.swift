import Foundation
import Testing
@testable import Kernel
import Runtime

/// The wire format of Jupyter messages: framing, signing, rejection of forged messages.
struct KernelWireTests {
    let signer = MessageSigner(key: "a0436f6c-1916-498b-8eb9-e81ab9368e84")
    let factory = MessageFactory(session: "test-session")

    func sample() -> JupyterMessage {
        factory.message("execute_request", content: ["code": "1 + 2", "silent": false],
                        parent: [:], identities: [Array("client-a".utf8)])
    }

    @Test func roundTripKeepsIdentitiesAndFrames() throws {
        let frames = try sample().encode(signer: signer)
        #expect(frames[0] == Array("client-a".utf8))
        #expect(frames[1] == JupyterMessage.delimiter)
        // hex HMAC-SHA256: 64 lowercase hex digits.
        #expect(frames[2].count == 64)
        let back = try JupyterMessage.decode(frames, signer: signer)
        #expect(back.identities == [Array("client-a".utf8)])
        #expect(back.type == "execute_request")
        #expect(back.content.string("code") == "1 + 2")
        #expect(back.content.bool("silent", default: true) == false)
        #expect(back.header.string("version") == "5.3")
        #expect(back.header.string("session") == "test-session")
    }

    @Test func signatureCoversTheFourJSONFrames() throws {
        let frames = try sample().encode(signer: signer)
        let expected = SHA256.hex(HMACSHA256.mac(key: Array("a0436f6c-1916-498b-8eb9-e81ab9368e84".utf8),
                                                 message: frames[3] + frames[4] + frames[5] + frames[6]))
        #expect(String(decoding: frames[2], as: UTF8.self) == expected)
    }

    @Test func forgedMessagesAreRejected() throws {
        let frames = try sample().encode(signer: signer)
        var tampered = frames
        tampered[6] = Array("{\"code\":\"print(1)\"}".utf8)
        #expect(throws: KernelError.self) { try JupyterMessage.decode(tampered, signer: signer) }
        var unsigned = frames
        unsigned[2] = []
        #expect(throws: KernelError.self) { try JupyterMessage.decode(unsigned, signer: signer) }
        #expect(throws: KernelError.self) { try JupyterMessage.decode(frames, signer: MessageSigner(key: "other key")) }
        #expect(throws: KernelError.self) { try JupyterMessage.decode(Array(frames[2...]), signer: signer) }
        #expect(throws: KernelError.self) { try JupyterMessage.decode(Array(frames.prefix(5)), signer: signer) }
    }

    @Test func emptyKeyMeansNoAuthentication() throws {
        let open = MessageSigner(key: "")
        let frames = try sample().encode(signer: open)
        #expect(frames[2].isEmpty)
        #expect(try JupyterMessage.decode(frames, signer: open).type == "execute_request")
    }

    @Test func connectionFileGivesEndpoints() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("conn-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try """
        {"shell_port": 5001, "iopub_port": 5002, "stdin_port": 5003, "control_port": 5004, "hb_port": 5005,
         "ip": "127.0.0.1", "key": "k", "transport": "tcp", "signature_scheme": "hmac-sha256", "kernel_name": "saliency-repl"}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let info = try ConnectionInfo.load(path: path)
        #expect(info.endpoint(port: info.shellPort) == "tcp://127.0.0.1:5001")
        #expect(info.hbPort == 5005)
        try #"{"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5, "key": "k", "signature_scheme": "hmac-md5"}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: KernelError.self) { try ConnectionInfo.load(path: path) }
        #expect(throws: KernelError.self) { try ConnectionInfo.load(path: path + ".missing") }
    }

    @Test func utf8CutsAreHeldBack() {
        let e = Array("é".utf8), euro = Array("€".utf8)
        #expect(OutputCapture.completeUTF8Prefix(Array("ab".utf8)) == 2)
        #expect(OutputCapture.completeUTF8Prefix(Array("a".utf8) + [e[0]]) == 1)
        #expect(OutputCapture.completeUTF8Prefix(Array("a".utf8) + e) == 3)
        #expect(OutputCapture.completeUTF8Prefix(Array(euro.dropLast())) == 0)
        #expect(OutputCapture.completeUTF8Prefix(euro) == 3)
    }

    @Test func kernelspecInstallsWhereJupyterLooks() throws {
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("spec-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let dir = try Kernelspec.install(kernelsDirectory: Kernelspec.kernelsDirectory(prefix: prefix), executable: "/opt/bin/saliency-repl")
        #expect(dir == prefix + "/share/jupyter/kernels/saliency-repl")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/kernel.json"))) as? JSONObject
        #expect(json?["argv"] as? [String] == ["/opt/bin/saliency-repl", "kernel", "--connection-file", "{connection_file}"])
        #expect(json?.string("language") == "sal")
        let logo = try readPNG(path: dir + "/logo-64x64.png")
        #expect(logo.shape == [3, 64, 64])
        #expect(Kernelspec.userKernelsDirectory(environment: ["HOME": "/h", "JUPYTER_DATA_DIR": "/d"]) == "/d/kernels")
        #expect(Kernelspec.spec(executable: "/b/s", plugins: ["/p/a.so"])["argv"] as? [String]
                == ["/b/s", "kernel", "--plugin", "/p/a.so", "--connection-file", "{connection_file}"])
    }
}
