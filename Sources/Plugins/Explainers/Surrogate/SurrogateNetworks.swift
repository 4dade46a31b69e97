import Runtime

/// The surrogate paper's two networks (Sec. 3.1-3.2), built with GraphBuilder so they train
/// in the one training loop, live in the fitted state and export to ONNX.
///
/// The student S mirrors the teacher's family with the teacher's node names and widths (read
/// from its weights), so `init_from_teacher` copies every shared weight by name, and adds one
/// CBAM block (`GraphBuilder.cbam`, reduction 4 as in the notes: hidden width >= 4 at our
/// 16-64 channels) at the end of each of its last three stages. Each block's attention
/// residual Δf_s = CBAM(f_s) - f_s = (att - 1) ⊙ f_s (the notes' reading of Sec. 3.1) is an
/// extra output "s<k>.delta", k = 1 (finest) ... 3 (coarsest), after the logits.
///
/// The explanation decoder E reads [image, Δf1, Δf2, Δf3] (the image only for its size) and
/// goes coarse to fine through three upsampling blocks: 3x3 conv-BN-ReLU, bilinear resize to
/// the next finer scale, concatenation with that scale's Δf; the last block resizes to the
/// image, then a 1x1 conv and a sigmoid give H ∈ (0, 1) of shape [N, 1, H, W]. The paper
/// leaves E's widths and skip fusion open; we use the finest Δf's channel count throughout
/// and concatenation (U-Net's fusion). Sizes are read from the student's outputs, so the
/// same code builds E for 16-px contract images and 64-px datasets.
enum SurrogateNetworks {
    /// Student families; `auto` reads the teacher's node names.
    enum Family: String, CaseIterable {
        case resnet, vgg, lenet
    }

    /// The family a teacher built by ModelZoo belongs to, from its weight names; nil for
    /// other graphs (the caller then asks for an explicit `student`).
    static func family(of teacher: Graph) -> Family? {
        let w = teacher.parameters
        if w["layer1.0.conv1.weight"] != nil && w["conv1.weight"] != nil && w["fc.weight"] != nil { return .resnet }
        if w["block1.conv1.weight"] != nil && w["fc1.weight"] != nil && w["fc2.weight"] != nil { return .vgg }
        if w["conv1.weight"] != nil && w["conv2.weight"] != nil && w["fc1.weight"] != nil && w["fc2.weight"] != nil { return .lenet }
        return nil
    }

    /// Output channels of a conv/linear weight of the teacher, or a default when absent.
    private static func width(_ teacher: Graph, _ weight: String, default d: Int) -> Int {
        teacher.parameters[weight]?.value.shape.first ?? d
    }

    /// The student for `teacher` (inputs [C, H, W], `classes` logits). Outputs: logits, then
    /// Δf1 (finest), Δf2, Δf3.
    static func student(_ family: Family, teacher: Graph, inputShape: [Int], classes: Int, seed: UInt64) throws -> Graph {
        let b = GraphBuilder(name: "surrogate-student-\(family.rawValue)", inputShape: inputShape, seed: seed)
        var stages: [String] = []
        // CBAM after a stage's output: the refined value feeds the next stage, Δf is an output.
        func attend(_ value: String, _ k: Int) throws {
            let refined = try b.cbam(value, name: "s\(k).cbam", reduction: 4)
            stages.append(try b.add("Sub", name: "s\(k).delta", inputs: [refined, value]))
            _ = try b.add("Identity", name: "s\(k).out", inputs: [refined])
        }
        switch family {
        case .resnet:
            var widths: [Int] = []
            while let w = teacher.parameters["layer\(widths.count + 1).0.conv1.weight"]?.value.shape.first { widths.append(w) }
            if widths.isEmpty { widths = [16, 32, 64] }
            guard widths.count >= 3 else { throw PluginError.invalid("surrogate: a resnet student needs at least 3 stages, the teacher has \(widths.count)") }
            try b.conv(name: "conv1", out: width(teacher, "conv1.weight", default: widths[0]), kernel: 3, stride: 2, padding: 1, bias: false)
            try b.batchNorm(name: "bn1")
            try b.relu(name: "relu")
            var inChannels = width(teacher, "conv1.weight", default: widths[0])
            for (stage, w) in widths.enumerated() {
                try Architectures.basicBlock(b, prefix: "layer\(stage + 1).0", inChannels: inChannels, width: w, stride: stage == 0 ? 1 : 2)
                inChannels = w
                let k = stage - (widths.count - 3) + 1
                if k >= 1 { try attend(b.current, k) }
            }
            try b.globalAvgPool(name: "avgpool")
            try b.flatten(name: "flatten")
            try b.linear(name: "fc", out: classes)
        case .vgg:
            var widths: [Int] = []
            while let w = teacher.parameters["block\(widths.count + 1).conv1.weight"]?.value.shape.first { widths.append(w) }
            if widths.isEmpty { widths = [8, 16, 32] }
            guard widths.count >= 3 else { throw PluginError.invalid("surrogate: a vgg student needs at least 3 blocks, the teacher has \(widths.count)") }
            for (block, w) in widths.enumerated() {
                try Architectures.vggBlock(b, index: block + 1, width: w)
                let k = block - (widths.count - 3) + 1
                if k >= 1 { try attend(b.current, k) }
            }
            try b.globalAvgPool(name: "gap")
            try b.flatten(name: "flatten")
            try b.linear(name: "fc1", out: width(teacher, "fc1.weight", default: 64))
            try b.relu(name: "relu_fc1")
            try b.linear(name: "fc2", out: classes)
        case .lenet:
            // LeNet has two conv stages; the three scales are conv1's map, conv2's map and the
            // pooled map the classifier reads (24, 8 and 4 px at 28 px).
            try b.conv(name: "conv1", out: width(teacher, "conv1.weight", default: 20), kernel: 5)
            try b.relu(name: "relu_conv1")
            try attend(b.current, 1)
            try b.maxPool(name: "pool1", kernel: 2)
            try b.conv(name: "conv2", out: width(teacher, "conv2.weight", default: 50), kernel: 5)
            try b.relu(name: "relu_conv2")
            try attend(b.current, 2)
            try b.maxPool(name: "pool2", kernel: 2)
            try attend(b.current, 3)
            try b.flatten(name: "flatten")
            try b.linear(name: "fc1", out: width(teacher, "fc1.weight", default: 500))
            try b.relu(name: "relu1")
            try b.linear(name: "fc2", out: classes)
        }
        let logits = b.current
        return try b.build(outputs: [logits] + stages, labels: teacher.labels)
    }

    /// The decoder E for a student's Δf shapes (each [C, h, w] without the batch) and images
    /// of `inputShape`.
    static func decoder(inputShape: [Int], deltas: [[Int]], seed: UInt64) throws -> Graph {
        guard deltas.count == 3, deltas.allSatisfy({ $0.count == 3 }) else {
            throw PluginError.invalid("surrogate: the decoder needs three [C, H, W] attention residuals, got \(deltas)")
        }
        let b = GraphBuilder(name: "surrogate-decoder", inputShape: inputShape, inputName: "image", seed: seed)
        let d = try (1...3).map { try b.input("delta\($0)", shape: deltas[$0 - 1]) }
        let width = deltas[0][0]
        // Block 3 -> scale 2, block 2 -> scale 1, block 1 -> the image.
        var x = d[2]
        for (k, reference) in [(3, d[1]), (2, d[0]), (1, "image")] {
            try b.conv(x, name: "up\(k).conv", out: width, kernel: 3, padding: 1, bias: false)
            try b.batchNorm(name: "up\(k).bn")
            try b.relu(name: "up\(k).relu")
            x = try b.resize(like: reference, name: "up\(k).resize", mode: .bilinear)
            if k > 1 { x = try b.concat([x, reference], name: "up\(k).concat") }
        }
        try b.conv(x, name: "head", out: 1, kernel: 1)
        try b.sigmoid(name: "map")
        return try b.build()
    }

    /// Copies every teacher weight whose name and shape the student shares (all but CBAM's)
    /// and starts each CBAM block as a near-constant gate: the last MLP layer's and the
    /// spatial convolution's weights at zero, their biases at 1.1 and 2.2, so both attentions
    /// start at sigmoid(2.2) = 0.90 everywhere and the student starts close to the teacher's
    /// function (a He-random CBAM scales channels and positions anywhere in (0, 1), which in
    /// our runs left a teacher-initialised student at 18 % agreement after two epochs). The
    /// gates stay away from saturation, so they learn at once. Returns the weights copied.
    @discardableResult
    static func initialise(_ student: Graph, from teacher: Graph) throws -> Int {
        var copied = 0
        for (name, p) in teacher.parameters {
            guard let s = student.parameters[name], s.value.shape == p.value.shape else { continue }
            try student.setWeight(name, p.value.detached())
            copied += 1
        }
        for k in 1...3 {
            // The MLP runs on both pooled branches and their outputs add: 2 x 1.1 = 2.2.
            for (w, bias) in [("s\(k).cbam.mlp.2", Float(1.1)), ("s\(k).cbam.conv", Float(2.2))] {
                guard let wt = student.weight("\(w).weight"), let bt = student.weight("\(w).bias") else { continue }
                try student.setWeight("\(w).weight", Tensor.zeros(wt.shape))
                try student.setWeight("\(w).bias", Tensor.full(bt.shape, bias))
            }
        }
        return copied
    }
}
