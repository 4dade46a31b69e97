import Foundation
import Testing
@testable import Plugins
import Runtime

/// The attentive surrogate (Sources/Plugins/Explainers/Surrogate): its losses against hand
/// computation, the student and decoder shapes, a toy teacher whose evidence is a known patch
/// (the learned map must find it), determinism, the `.salfit` round trip and the student in
/// onnxruntime. CBAM's gradients and the KL / cross-entropy ops are checked against finite
/// differences in RuntimeTests (GraphBuilderAttentionTests, NormResampleLossTests); the
/// surrogate adds no op of its own.
@Suite("Surrogate (paper 004)")
struct SurrogateTests {
    /// Toy teacher on 1x16x16: a 3x3 box filter (bias -0.5), ReLU, global max pool and a
    /// 2-way head. Background pixels lie in [0, 0.3], so the box mean stays below 0.5 and the
    /// logits are (2, -2): class 0. A 4x4 patch of ones lifts the box mean to 1 inside it,
    /// the pooled value to 0.5 and the logits to (-2, 2): class 1. Its only evidence for
    /// class 1 is the patch.
    static func patchTeacher() throws -> Graph {
        let b = GraphBuilder(name: "patch-teacher", inputShape: [1, 16, 16])
        try b.conv(name: "box", out: 1, kernel: 3, padding: 1)
        try b.relu(name: "relu")
        try b.add("GlobalMaxPool", name: "gmp", inputs: ["relu"])
        try b.flatten(name: "flatten")
        try b.linear(name: "head", out: 2)
        let g = try b.build()
        try g.setWeight("box.weight", Tensor(shape: [1, 1, 3, 3], repeating: 1.0 / 9))
        try g.setWeight("box.bias", Tensor(shape: [1], data: [-0.5]))
        try g.setWeight("head.weight", Tensor(shape: [2, 1], data: [-8, 8]))
        try g.setWeight("head.bias", Tensor(shape: [2], data: [2, -2]))
        return g
    }

    /// `n` images; odd ones carry the patch at a seeded position (returned per image, nil for
    /// even ones), so TensorDataset's cycling labels (index % 2) are the teacher's classes.
    static func patchImages(_ n: Int, seed: UInt64) -> (Tensor, [(y: Int, x: Int)?]) {
        var rng = RandomGenerator(seed: seed)
        var data = [Float](repeating: 0, count: n * 256), where_: [(y: Int, x: Int)?] = []
        for i in 0..<n {
            for j in 0..<256 { data[i * 256 + j] = 0.3 * rng.nextUniform() }
            guard i % 2 == 1 else { where_.append(nil); continue }
            let (py, px) = (Int(rng.next() % 13), Int(rng.next() % 13))
            for y in py..<(py + 4) { for x in px..<(px + 4) { data[i * 256 + y * 16 + x] = 1 } }
            where_.append((py, px))
        }
        return (Tensor(shape: [n, 1, 16, 16], data: data), where_)
    }

    /// A short fit on the toy teacher (the settings the tests share).
    func toyFit(seed: UInt64 = 0, epochsDecoder: Int = 12) throws -> (FitState, Graph) {
        let teacher = try Self.patchTeacher()
        let (x, _) = Self.patchImages(96, seed: 1)
        let params: [String: ParamValue] = ["student": .string("vgg"), "epochs_student": .int(2), "epochs_decoder": .int(epochsDecoder),
                                            "batch": .int(16), "lambda_l1": .float(0.5)]
        let state = try fit(SurrogateExplainer(), model: teacher, dataset: TensorDataset(images: x), params: params, seed: seed)
        return (state, teacher)
    }

    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "surrogate-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    // MARK: losses by hand

    @Test func distillationLossByHand() throws {
        let z = Tensor(shape: [2, 3], data: [1, 0, -1, 0.5, 2, 0])
        let zT = Tensor(shape: [2, 3], data: [0, 1, 0, 2, -1, 1])
        let labels = [0, 1], alpha: Float = 0.25, t: Float = 2
        let l = AttentiveSurrogateFit.distillationLoss(student: z, teacher: zT, labels: labels, alpha: alpha, temperature: t)
        // Written out in Double from Eqs. 4-7.
        func softmax(_ v: [Double]) -> [Double] { let e = v.map { Foundation.exp($0) }; let s = e.reduce(0, +); return e.map { $0 / s } }
        var kl = 0.0, ce = 0.0
        for i in 0..<2 {
            let zs = (0..<3).map { Double(z[flat: i * 3 + $0]) }, zt = (0..<3).map { Double(zT[flat: i * 3 + $0]) }
            let p = softmax(zt.map { $0 / Double(t) }), q = softmax(zs.map { $0 / Double(t) })
            kl += zip(p, q).map { $0 * Foundation.log($0 / $1) }.reduce(0, +)
            ce -= Foundation.log(softmax(zs)[labels[i]])
        }
        let expected = Double(alpha) * Double(t * t) * kl / 2 + Double(1 - alpha) * ce / 2
        // float32 log-softmax of values of order 1: about 1e-6 relative.
        #expect(abs(Double(l.loss.item) - expected) < 1e-5 * max(1, expected), "\(l.loss.item) vs \(expected)")
        #expect(abs(Double(l.hard.item) - ce / 2) < 1e-5)
    }

    @Test func explanationLossByHand() throws {
        // Teacher probabilities (0.75, 0.25) from logits (ln 3, 0); the judge sees (0.5, 0.5).
        let teacher = Tensor(shape: [1, 2], data: [Float(Foundation.log(3.0)), 0])
        let judged = Tensor(shape: [1, 2], data: [0, 0])
        let h = Tensor(shape: [1, 1, 1, 2], data: [0.2, 0.6])
        let l = AttentiveSurrogateFit.explanationLoss(judged: judged, teacher: teacher, map: h, lambda: 0.5)
        let kl = 0.75 * Foundation.log(1.5) + 0.25 * Foundation.log(0.5)
        // float32 rounding of ln 3 and the softmax: about 1e-7 absolute here.
        #expect(abs(Double(l.keep.item) - kl) < 1e-6)
        #expect(abs(Double(l.size.item) - 0.4) < 1e-6)
        #expect(abs(Double(l.loss.item) - (kl + 0.2)) < 1e-6)
    }

    @Test func milestonesKeepThePapersFractions() {
        // 190 epochs: the paper's own 100, 130, 160; 16 decoder epochs: 10, 12, 14.
        #expect(AttentiveSurrogateFit.milestones(AttentiveSurrogateFit.studentMilestones, epochs: 190) == [100, 130, 160])
        #expect(AttentiveSurrogateFit.milestones(AttentiveSurrogateFit.decoderMilestones, epochs: 16) == [10, 12, 14])
        #expect(AttentiveSurrogateFit.milestones(AttentiveSurrogateFit.studentMilestones, epochs: 6) == [3, 4, 5])
        #expect(AttentiveSurrogateFit.milestones(AttentiveSurrogateFit.decoderMilestones, epochs: 1) == [1, 1, 1])
    }

    // MARK: networks

    @Test func studentsFollowTheTeachersFamilyAndWidths() throws {
        let teachers: [(Graph, SurrogateNetworks.Family, [Int])] = [
            (try ModelZoo.smallResNet(classes: 4, inputSize: 32, widths: [8, 12, 16]), .resnet, [3, 32, 32]),
            (try ModelZoo.vggStyle(classes: 5, inputSize: 32, widths: [4, 8, 12], hidden: 16), .vgg, [3, 32, 32]),
            (try ModelZoo.lenet5NICE(classes: 10), .lenet, [1, 28, 28]),
        ]
        for (teacher, family, shape) in teachers {
            #expect(SurrogateNetworks.family(of: teacher) == family)
            let classes = try Autograd.noGrad { try teacher(Tensor.zeros([1] + shape)) }.shape[1]
            let s = try SurrogateNetworks.student(family, teacher: teacher, inputShape: shape, classes: classes, seed: 1)
            // Every teacher weight has a same-named, same-shaped student weight.
            let copied = try SurrogateNetworks.initialise(s, from: teacher)
            #expect(copied == teacher.parameters.count, "\(family): \(copied) of \(teacher.parameters.count)")
            let out = try Autograd.noGrad { try s.forward([Tensor.zeros([2] + shape)]) }.outputs
            #expect(out.count == 4)
            #expect(out[0].shape == (try Autograd.noGrad { try teacher(Tensor.zeros([2] + shape)) }).shape)
            // Three scales, finest first.
            let sides = out[1...3].map { $0.shape[2] }
            #expect(sides[0] > sides[1] && sides[1] > sides[2], "\(family): \(sides)")
        }
        #expect(SurrogateNetworks.family(of: try TinyNets.randomCNN()) == nil)
    }

    @Test func decoderGivesOneSigmoidMapAtTheImageSize() throws {
        let d = try SurrogateNetworks.decoder(inputShape: [3, 20, 20], deltas: [[4, 10, 10], [8, 5, 5], [16, 3, 3]], seed: 2)
        var rng = RandomGenerator(seed: 3)
        let ins = [[2, 3, 20, 20], [2, 4, 10, 10], [2, 8, 5, 5], [2, 16, 3, 3]].map { Tensor.normal($0, std: 2, rng: &rng) }
        let h = try Autograd.noGrad { try d.forward(ins) }.output
        #expect(h.shape == [2, 1, 20, 20])
        #expect(h.scalars.allSatisfy { $0 > 0 && $0 < 1 })
        #expect(Set(h.scalars).count > 100, "the map is not constant")
        #expect(throws: PluginError.self) { try SurrogateNetworks.decoder(inputShape: [3, 8, 8], deltas: [[4, 4, 4]], seed: 0) }
    }

    // MARK: fit and explain

    /// The toy teacher's only evidence is the patch: after a short fit the decoder's map is
    /// higher on the patch than off it, on images the fit never saw.
    @Test func theMapFindsTheTeachersEvidence() throws {
        let (state, teacher) = try toyFit()
        let (x, patches) = Self.patchImages(40, seed: 99)
        let maps = try explain(SurrogateExplainer(), model: teacher, images: x, fitted: state)
        #expect(maps.map.shape == [40, 1, 16, 16])
        var inside = 0.0, outside = 0.0, wins = 0, count = 0
        for (i, p) in patches.enumerated() {
            guard let p else { continue }
            var sIn = 0.0, sOut = 0.0
            for y in 0..<16 { for xx in 0..<16 {
                let v = Double(maps.map[flat: i * 256 + y * 16 + xx])
                if (p.y..<(p.y + 4)).contains(y) && (p.x..<(p.x + 4)).contains(xx) { sIn += v } else { sOut += v }
            } }
            let (mIn, mOut) = (sIn / 16, sOut / 240)
            inside += mIn; outside += mOut; count += 1
            if mIn > mOut { wins += 1 }
        }
        inside /= Double(count); outside /= Double(count)
        #expect(inside > 2 * outside, "mean map on the patch \(inside), off it \(outside)")
        #expect(wins >= count * 9 / 10, "\(wins) of \(count) images have more map on the patch")
        // The map ignores the target.
        let other = try explain(SurrogateExplainer(), model: teacher, images: x, target: .index(0), fitted: state)
        #expect(other.map.scalars == maps.map.scalars)
    }

    @Test func theFitIsDeterministic() throws {
        let (a, _) = try toyFit(seed: 4, epochsDecoder: 1)
        let (b, _) = try toyFit(seed: 4, epochsDecoder: 1)
        let (c, _) = try toyFit(seed: 5, epochsDecoder: 1)
        for name in ["student", "decoder"] {
            #expect(try a.graph(name).contentDigest == b.graph(name).contentDigest, "\(name)")
            #expect(try a.graph(name).contentDigest != c.graph(name).contentDigest, "\(name) ignores the seed")
        }
    }

    /// fit -> save .salfit -> load -> the same maps; the student exported to ONNX runs in
    /// onnxruntime with our four outputs.
    @Test func stateRoundTripAndStudentInONNXRuntime() throws {
        let (state, teacher) = try toyFit(epochsDecoder: 1)
        let dir = try tempDir()
        try state.save(path: dir + "/s.salfit")
        let loaded = try FitState.load(path: dir + "/s.salfit")
        #expect(loaded.params == state.params && loaded.notes["student"] == "vgg")
        let (x, _) = Self.patchImages(6, seed: 7)
        let a = try explain(SurrogateExplainer(), model: teacher, images: x, fitted: state)
        let b = try explain(SurrogateExplainer(), model: teacher, images: x, fitted: loaded)
        // The weights travel as raw float32 bytes (exact); the tolerance only allows the
        // re-imported graphs another summation order in their kernels.
        for (u, v) in zip(a.map.scalars, b.map.scalars) { #expect(abs(u - v) <= 1e-6) }

        let student = try loaded.graph("student")
        try student.saveONNX(path: dir + "/student.onnx")
        try x.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: dir + "/x.f32"))
        let script = """
        import sys, numpy as np, onnxruntime as ort
        d = sys.argv[1]
        s = ort.InferenceSession(d + "/student.onnx", providers=["CPUExecutionProvider"])
        x = np.fromfile(d + "/x.f32", dtype="<f4").reshape(6, 1, 16, 16)
        for k, y in enumerate(s.run(None, {s.get_inputs()[0].name: x})):
            np.ascontiguousarray(y, dtype="<f4").tofile(d + "/out%d.f32" % k)
        print(len(s.get_outputs()))
        """
        let (status, printed, errors) = try runPython(script, [dir])
        try #require(status == 0, "python3 with numpy and onnxruntime (scripts/bootstrap --python-test-tools): \(errors)")
        #expect(printed == "4\n")
        let ours = try Autograd.noGrad { try student.forward([x]) }.outputs
        for (k, y) in ours.enumerated() {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/out\(k).f32"))
            let theirs = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            #expect(theirs.count == y.count)
            // Two implementations (onnxruntime's kernels vs our im2col + sgemm) sum in
            // different orders: float32 rounding, about 1e-6 relative per term.
            for (u, v) in zip(theirs, y.scalars) { #expect(abs(u - v) <= 1e-4 * max(1, abs(v)), "output \(k): \(u) vs \(v)") }
        }
    }

    @Test func wrongImageSizeAndUnknownFamilyAreErrors() throws {
        let (state, teacher) = try toyFit(epochsDecoder: 1)
        // The host's input check (a GraphError) or the plugin's own (a PluginError) refuses it.
        #expect(throws: (any Error).self) {
            try explain(SurrogateExplainer(), model: teacher, images: Tensor.zeros([1, 1, 8, 8]), fitted: state)
        }
        let (x, _) = Self.patchImages(8, seed: 1)
        #expect(throws: PluginError.self) {
            try fit(SurrogateExplainer(), model: teacher, dataset: TensorDataset(images: x), params: ["epochs_student": .int(1), "epochs_decoder": .int(1)])
        }
    }
}
