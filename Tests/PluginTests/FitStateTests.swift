import Foundation
import Testing
@testable import Plugins
import Runtime

/// Fitted states that hold trained networks: the `.salfit` format 2 round trip (graphs as
/// ONNX inside it, typed fit parameters), its graphs in onnxruntime, the refusal of format
/// 1, and explain parameters checked against the fit.
@Suite("Fitted states with graphs")
struct FitStateTests {
    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "fitstate-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    func images(_ n: Int, _ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor.uniform([n] + shape, low: -1, high: 1, rng: &rng)
    }

    /// A decoder as a fitting method would train one: 3x8x8 -> conv3x3(4) -> ReLU -> conv1x1(1) -> sigmoid.
    func decoder() throws -> Graph {
        let b = GraphBuilder(name: "decoder", inputShape: [3, 8, 8], seed: 5)
        try b.conv(name: "c1", out: 4, kernel: 3, padding: 1)
        try b.relu(name: "r1")
        try b.conv(name: "c2", out: 1, kernel: 1)
        try b.sigmoid(name: "map")
        return try b.build()
    }

    /// A state with every kind of content, the fine-tuned model a copy of `TinyNets.smoothCNN`.
    func fullState() throws -> (FitState, Graph) {
        let original = try TinyNets.smoothCNN()
        let tuned = try original.copy()
        try tuned.setWeight("fc.weight", tuned.weight("fc.weight")! * 2)
        let params = Params(["width": .int(4), "rate": .float(0.125), "mode": .string("fast"), "flag": .bool(true),
                             "sizes": .list([.int(1), .float(2.5)]), "base": .tensor(Tensor(shape: [2], data: [0.5, -1]))])
        let s = FitState(method: "m", modelDigest: original.contentDigest, dataset: "d (3 examples)", params: params, key: "kk",
                         tensors: ["t": Tensor(shape: [2, 2], data: [1, 2, 3, -4])],
                         scalars: ["loss": 0.25, "bad": .nan, "far": -.infinity], notes: ["n": "v"],
                         graphs: ["decoder": try decoder(), "student": try TinyNets.smoothCNN(seed: 3)], model: tuned, seconds: 2.5)
        return (s, original)
    }

    @Test func graphsModelAndTypedParametersRoundTrip() throws {
        let (s, _) = try fullState()
        let path = try tempDir() + "/s.salfit"
        try s.save(path: path)
        let t = try FitState.load(path: path)
        #expect(t.method == "m" && t.modelDigest == s.modelDigest && t.dataset == "d (3 examples)" && t.key == "kk" && t.seconds == 2.5)
        // Typed parameters come back typed (an int stays an int, the tensor its values).
        #expect(t.params == s.params)
        #expect(try t.params.int("width") == 4 && t.params.string("mode") == "fast" && t.params.numbers("sizes") == [1, 2.5])
        #expect(t.tensors["t"]!.scalars == [1, 2, 3, -4] && t.notes == ["n": "v"])
        #expect(t.scalars["loss"] == 0.25 && t.scalars["bad"]!.isNaN && t.scalars["far"] == -.infinity)
        #expect(t.graphs.keys.sorted() == ["decoder", "student"])
        // The networks run and give the same outputs. Their weights travel as raw float32
        // bytes, so the ONNX round trip itself is exact (the digests say so); the tolerance
        // only allows the re-imported graph's kernels another summation order.
        for (name, g) in s.graphs {
            #expect(t.graphs[name]!.contentDigest == g.contentDigest, "\(name)")
        }
        #expect(t.model!.contentDigest == s.model!.contentDigest)
        let x = images(2, [3, 8, 8], seed: 1)
        for (a, b) in [(s.graphs["decoder"]!, t.graphs["decoder"]!), (s.graphs["student"]!, t.graphs["student"]!), (s.model!, t.model!)] {
            let ya = try Autograd.noGrad { try a(x) }, yb = try Autograd.noGrad { try b(x) }
            #expect(ya.shape == yb.shape)
            for (u, v) in zip(ya.scalars, yb.scalars) { #expect(Swift.abs(u - v) <= 1e-6 * Swift.max(1, Swift.abs(u))) }
        }
    }

    /// The graph bytes inside a `.salfit`, cut out by the offsets its header gives, are an
    /// ONNX model onnxruntime runs with our outputs (read by a Python reader of the format,
    /// independent of ours).
    @Test func extractedGraphsRunInONNXRuntime() throws {
        let (s, _) = try fullState()
        let dir = try tempDir()
        try s.save(path: dir + "/s.salfit")
        let x = images(2, [3, 8, 8], seed: 2)
        try x.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: dir + "/x.f32"))
        let script = """
        import json, struct, sys, numpy as np, onnxruntime as ort
        data = open(sys.argv[1] + "/s.salfit", "rb").read()
        assert data[:8] == b"SALFIT2\\n", data[:8]
        (n,) = struct.unpack("<I", data[8:12])
        header = json.loads(data[12:12 + n])
        payload = data[12 + n:]
        x = np.fromfile(sys.argv[1] + "/x.f32", dtype="<f4").reshape(2, 3, 8, 8)
        for blob in header["blobs"]:
            if blob["kind"] not in ("graph", "model"):
                continue
            onnx_bytes = payload[blob["offset"]:blob["offset"] + blob["bytes"]]
            sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
            y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
            np.ascontiguousarray(y, dtype="<f4").tofile(sys.argv[1] + "/" + blob["kind"] + "-" + blob["name"] + ".f32")
            print(blob["kind"], blob["name"], ",".join(str(d) for d in y.shape))
        """
        let (status, printed, errors) = try runPython(script, [dir])
        try #require(status == 0, "python3 with numpy and onnxruntime (scripts/bootstrap --python-test-tools): \(errors)")
        #expect(printed == "graph decoder 2,1,8,8\ngraph student 2,3\nmodel model 2,3\n", "\(printed)")
        for (file, g) in [("graph-decoder", s.graphs["decoder"]!), ("graph-student", s.graphs["student"]!), ("model-model", s.model!)] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(file).f32"))
            let theirs = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let ours = try Autograd.noGrad { try g(x) }.scalars
            #expect(theirs.count == ours.count)
            // Two implementations (onnxruntime's convolution vs our im2col + sgemm) sum in
            // different orders: float32 rounding, about 1e-6 relative per term.
            for (a, b) in zip(theirs, ours) { #expect(Swift.abs(a - b) <= 1e-4 * Swift.max(1, Swift.abs(b)), "\(file): \(a) vs \(b)") }
        }
    }

    @Test func formatOneIsRefusedWithWhatToDo() throws {
        let path = try tempDir() + "/old.salfit"
        let header = Array(#"{"key":"k","method":"expected_gradients","tensors":[]}"#.utf8)
        var bytes = Array("SALFIT1\n".utf8)
        withUnsafeBytes(of: UInt32(header.count).littleEndian) { bytes += $0 }
        try Data(bytes + header).write(to: URL(fileURLWithPath: path))
        let e = #expect(throws: IOError.self) { try FitState.load(path: path) }
        #expect(e?.description == "\(path): a .salfit file of format 1; this saliency-repl (\(saliencyVersion)) reads format 2 "
            + "(format 1 kept no trained networks and no typed fit parameters): fit again")
    }

    @Test func damagedGraphBytesAreAnIOErrorNamingTheGraph() throws {
        var (s, _) = try fullState()
        s.graphs = ["decoder": try decoder()]
        s.model = nil
        let path = try tempDir() + "/s.salfit"
        try s.save(path: path)
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        // The graph is the last blob: zero its bytes (field number 0 is invalid protobuf).
        let onnxCount = try s.graphs["decoder"]!.onnxData().count
        for i in (bytes.count - onnxCount)..<bytes.count { bytes[i] = 0 }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let e = #expect(throws: IOError.self) { try FitState.load(path: path) }
        #expect(e?.description.hasPrefix("\(path) (graph 'decoder'): not a valid ONNX model") == true, "\(e?.description ?? "")")
    }

    /// Truncations and seeded bit flips anywhere (header, tensors, ONNX bytes) load as a
    /// state or fail with IOError: never a trap, never another error.
    @Test func damagedFilesNeverTrap() throws {
        let (s, _) = try fullState()
        let path = try tempDir() + "/s.salfit"
        try s.save(path: path)
        let base = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        var variants: [[UInt8]] = stride(from: 0, to: base.count, by: Swift.max(1, base.count / 97)).map { Array(base.prefix($0)) }
        var rng = RandomGenerator(seed: 11)
        for _ in 0..<300 {
            var b = base
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let i = Int(rng.next() % UInt64(b.count))
                b[i] ^= UInt8(1) << UInt8(rng.next() % 8)
            }
            variants.append(b)
        }
        var loaded = 0, refused = 0
        for v in variants {
            try Data(v).write(to: URL(fileURLWithPath: path))
            do {
                _ = try FitState.load(path: path)
                loaded += 1
            } catch is IOError {
                refused += 1
            } catch {
                Issue.record("\(type(of: error)): \(error)")
            }
        }
        #expect(loaded + refused == variants.count && refused > variants.count / 2, "\(loaded) loaded, \(refused) refused")
    }

    @Test func missingEntriesListWhatTheStateHas() throws {
        let (s, _) = try fullState()
        #expect(throws: PluginError.invalid("the fitted state of 'm' has no graph 'decodr'; did you mean 'decoder'? (it has: decoder, student)")) {
            try s.graph("decodr")
        }
        #expect(throws: PluginError.invalid("the fitted state of 'm' has no tensor 'references' (it has: t)")) { try s.tensor("references") }
        #expect(throws: PluginError.invalid("the fitted state of 'm' holds no fine-tuned model")) { try FitState(method: "m").fineTunedModel() }
    }

    /// Training a copy leaves the original as it was: how a fit fine-tunes.
    @Test func aCopyIsIndependent() throws {
        let g = try TinyNets.smoothCNN()
        g.setTrainable(["fc.weight"])
        let c = try g.copy()
        #expect(c.contentDigest == g.contentDigest && c.trainable == ["fc.weight"])
        let before = g.contentDigest
        try c.setWeight("fc.weight", c.weight("fc.weight")! + 1)
        #expect(g.contentDigest == before && c.contentDigest != before)
    }

    // MARK: explain parameters against the fit

    @Test func anExplainParameterMayRepeatTheFitButNotContradictIt() throws {
        let eg = ExpectedGradientsExplainer()
        let g = try TinyNets.smoothCNN()
        let state = try fit(eg, model: g, dataset: TensorDataset(images: images(6, [3, 8, 8], seed: 3)), params: ["references": .int(5)])
        #expect(state.params == Params(["references": .int(5)]))
        let x = images(1, [3, 8, 8], seed: 4)
        #expect(throws: PluginError.invalid("expected_gradients was fitted with references: 5; this call says references: 3: refit or drop the parameter")) {
            try explain(eg, model: g, images: x, params: ["references": .int(3), "samples": .int(2)], fitted: state)
        }
        // The fitted value repeated (as an int or a whole float), or left out: fine, and the
        // map records the value the fit used, not the default (100).
        for given in [["references": ParamValue.int(5)], ["references": .float(5)], [:]] {
            let m = try explain(eg, model: g, images: x, params: given.merging(["samples": .int(2)]) { a, _ in a }, fitted: state)
            #expect(m.params["references"] == .int(5))
        }
    }
}
