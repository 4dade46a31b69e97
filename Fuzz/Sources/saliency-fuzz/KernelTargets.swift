import Foundation
import Kernel
@testable import Plugins
import Runtime

/// A Jupyter wire message as the shell and control sockets receive it: the input's bytes
/// split at every zero byte are the ZeroMQ frames (identities, `<IDS|MSG>`, signature,
/// header, parent header, metadata, content, buffers). The key is empty, so the signature
/// is not checked (a keyed kernel only gets further with the key; the fuzzer should reach
/// the JSON and the handlers). A decoded request goes to the session's handlers, except
/// `execute_request`: running cells is what a kernel is for, and scripts are fuzzed as `sal`.
enum JupyterTarget {
    nonisolated(unsafe) static let kernel = NotebookKernel(cancellation: CancellationToken(), publish: { _, _ in })
    static let signer = MessageSigner(key: "")

    static func run(_ bytes: [UInt8]) {
        let frames = bytes.split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
        guard let m = try? JupyterMessage.decode(frames, signer: signer), m.type != "execute_request" else { return }
        _ = kernel.reply(to: m.type, content: m.content)
    }
}

/// A training loop's checkpoint directory. The first byte chooses the file the rest is:
/// even, the tensor file (`decodeTensors`); odd, `checkpoint.json`, written next to a
/// valid tensor file of a small graph and loaded into it as a resumed run would.
///
/// The directory, the graph and its tensor file are made once per process: the tensor file
/// is the same for every input (`load` only reads it), and writing it (with its fsync) for
/// each input was most of the time (its fsync alone 40 % of a profile). The directory is on /dev/shm (tmpfs) where there
/// is one, so the manifest each input writes never waits for a disk.
enum CheckpointTarget {
    static let directory = (FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory)
        .appendingPathComponent("saliency-fuzz-checkpoint-\(getpid())")
    static let setup: (store: TrainingCheckpoint, graph: Graph)? = {
        let b = GraphBuilder(name: "net", inputShape: [1, 4, 4], seed: 1)
        guard (try? b.conv(name: "conv", out: 2, kernel: 3, padding: 1)) != nil,
              (try? b.flatten(name: "flatten")) != nil, (try? b.linear(name: "fc", out: 3)) != nil,
              let graph = try? b.build(),
              let store = try? TrainingCheckpoint(directory: directory, fingerprint: [("run", "fuzz")]) else { return nil }
        let entries = graph.parameters.sorted { $0.key < $1.key }.map { ("weights/0/\($0.key)", $0.value.value) }
        guard (try? saveTensors(entries, to: directory.appendingPathComponent("epoch-1.params"))) != nil else { return nil }
        // tmpfs is memory: leave nothing behind when libFuzzer exits normally.
        atexit { _ = try? FileManager.default.removeItem(at: CheckpointTarget.directory) }
        return (store, graph)
    }()

    static func run(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        guard first & 1 == 1 else { _ = try? decodeTensors(rest, path: "fuzz.params"); return }
        guard let (store, graph) = setup else {
            // Without its directory and tensor file the target would test nothing: say so and stop.
            FileHandle.standardError.write(Data("checkpoint: cannot set up \(directory.path)\n".utf8))
            exit(2)
        }
        guard (try? Data(rest).write(to: store.manifestURL)) != nil else { return }
        let trained = TrainedGraph(graph)
        let optimizer = OptimizerSpec.adam(learningRate: 0.01).make(trained.weights.compactMap { graph.parameters[$0] })
        _ = try? store.load(into: [trained], optimizer: optimizer, count: 4)
    }
}
