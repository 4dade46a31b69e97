import Foundation
import Runtime

/// Hand-set tiny networks whose saliency is known in closed form.
enum TinyNets {
    /// A linear "CNN" on 1x8x8 images: one full-image 8x8 conv with two output channels,
    /// flattened to two logits. Class 0's filter is `pattern` (zero outside a block), class 1's
    /// is zero, so logit0 = sum(pattern * x): the gradient is `pattern`, IG with a zero
    /// baseline is x * pattern, and occlusion only sees the block.
    static func blockLinear(pattern: [Float]) throws -> Graph {
        let b = GraphBuilder(name: "block-linear", inputShape: [1, 8, 8])
        try b.conv(name: "conv", out: 2, kernel: 8, bias: false)
        try b.flatten(name: "flatten")
        let g = try b.build()
        try g.setWeight("conv.weight", Tensor(shape: [2, 1, 8, 8], data: pattern + [Float](repeating: 0, count: 64)))
        return g
    }

    /// The 8x8 pattern used with `blockLinear`: distinct positive weights on rows 2..<4,
    /// columns 4..<6, zero elsewhere.
    static let blockPattern: [Float] = (0..<64).map { p in
        let (y, x) = (p / 8, p % 8)
        return (2..<4).contains(y) && (4..<6).contains(x) ? Float(1 + y * 8 + x) / 10 : 0
    }

    /// Two-channel GAP head: input [2, H, W] -> 1x1 conv (identity weights, optional stride)
    /// -> ReLU -> GlobalAveragePool -> Flatten -> Gemm with weights `w` [3, 2] and a bias.
    /// So A_k = relu(x_k) (subsampled by the stride) and CAM_c = sum_k w[c, k] A_k.
    static func gapHead(h: Int, w: Int, stride: Int = 1, fc: [Float]) throws -> Graph {
        let b = GraphBuilder(name: "gap-head", inputShape: [2, h, w])
        try b.conv(name: "conv", out: 2, kernel: 1, stride: stride, bias: false)
        try b.relu(name: "relu")
        try b.globalAvgPool(name: "gap")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: 3)
        let g = try b.build()
        try g.setWeight("conv.weight", Tensor(shape: [2, 2, 1, 1], data: [1, 0, 0, 1]))
        try g.setWeight("fc.weight", Tensor(shape: [3, 2], data: fc))
        try g.setWeight("fc.bias", Tensor(shape: [3], data: [0.5, -0.25, 1]))
        return g
    }

    /// A two-input ReLU net: x (a 1x1x2 image) -> fc1 V [3, 2] -> ReLU -> fc2 [u; 0] -> 2 logits.
    /// At x = (2, -1): V x = (2, -1, 1), the ReLU passes units 0 and 2, and with
    /// u = (1, 2, -3): gradient = V^T (u * mask) = (-2, -3), guided backprop = V^T (relu(u) *
    /// mask) = (1, 0), deconvnet = V^T relu(u) = (1, 2).
    static func reluPair() throws -> Graph {
        try mlp(name: "relu-pair", inputShape: [1, 1, 2], hidden: 3, classes: 2,
                weights: ["fc1.weight": [1, 0, 0, 1, 1, 1], "fc2.weight": [1, 2, -3, 0, 0, 0]])
    }

    /// flatten -> fc1 (hidden) -> ReLU -> fc2 (classes), with the given weights (flat values,
    /// by name: fc1.weight, fc1.bias, fc2.weight, fc2.bias); biases not given are zero.
    static func mlp(name: String, inputShape: [Int], hidden: Int, classes: Int, weights: [String: [Float]]) throws -> Graph {
        let b = GraphBuilder(name: name, inputShape: inputShape)
        try b.flatten(name: "flatten")
        try b.linear(name: "fc1", out: hidden)
        try b.relu(name: "relu")
        try b.linear(name: "fc2", out: classes)
        let g = try b.build()
        for (key, values) in weights {
            guard let shape = g.weight(key)?.shape else { throw GraphError.badInput("the MLP has no weight \(key)") }
            try g.setWeight(key, Tensor(shape: shape, data: values))
        }
        return g
    }

    /// A small seeded random CNN with every feature the explainers look for (convs, ReLUs,
    /// max-pool, GAP + linear head): 3x16x16 -> 5 classes.
    static func randomCNN(seed: UInt64 = 7) throws -> Graph {
        let b = GraphBuilder(name: "random-cnn", inputShape: [3, 16, 16], seed: seed)
        try b.conv(name: "conv1", out: 4, kernel: 3, padding: 1)
        try b.relu(name: "relu1")
        try b.maxPool(name: "pool1", kernel: 2)
        try b.conv(name: "conv2", out: 6, kernel: 3, padding: 1)
        try b.relu(name: "relu2")
        try b.globalAvgPool(name: "gap")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: 5)
        var rng = RandomGenerator(seed: seed &+ 1)
        let g = try b.build()
        try g.setWeight("fc.bias", Tensor.normal([5], std: 0.1, rng: &rng))
        return g
    }

    /// A smooth nonlinear net (sigmoid units, no ReLU kinks) for IG convergence: 3x8x8 -> 3.
    static func smoothCNN(seed: UInt64 = 3) throws -> Graph {
        let b = GraphBuilder(name: "smooth-cnn", inputShape: [3, 8, 8], seed: seed)
        try b.conv(name: "conv1", out: 4, kernel: 3, padding: 1)
        try b.sigmoid(name: "sig1")
        try b.conv(name: "conv2", out: 4, kernel: 3, padding: 1)
        try b.sigmoid(name: "sig2")
        try b.globalAvgPool(name: "gap")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: 3)
        let g = try b.build()
        var rng = RandomGenerator(seed: seed)
        try g.setWeight("fc.weight", Tensor.normal([3, 4], std: 4, rng: &rng))
        return g
    }
}

extension TinyNets {
    /// sin-formula values, computed in Double and rounded to Float (as numpy float64 -> float32).
    static func formula(_ n: Int, _ a: Double, _ b: Double, _ s: Double) -> [Float] {
        (0..<n).map { Float(Foundation.sin(Double($0) * a + b) * s) }
    }

    /// The network and inputs of the Captum cross-check (same formulas in the Python script
    /// that produced the reference numbers): conv(3->4, 3x3, pad 1) ReLU maxpool 2,
    /// conv(4->6, 3x3, pad 1) ReLU, GAP, flatten, fc(6->5); two 3x12x12 images.
    static func captumNet() throws -> (Graph, Tensor) {
        let b = GraphBuilder(name: "captum-net", inputShape: [3, 12, 12])
        try b.conv(name: "conv1", out: 4, kernel: 3, padding: 1)
        try b.relu(name: "relu1")
        try b.maxPool(name: "pool1", kernel: 2)
        try b.conv(name: "conv2", out: 6, kernel: 3, padding: 1)
        try b.relu(name: "relu2")
        try b.globalAvgPool(name: "gap")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: 5)
        let g = try b.build()
        for (name, shape, a, bb, s) in [("conv1.weight", [4, 3, 3, 3], 0.9, 0.1, 0.4), ("conv1.bias", [4], 1.1, 0.5, 0.05),
                                        ("conv2.weight", [6, 4, 3, 3], 0.7, 0.3, 0.25), ("conv2.bias", [6], 1.3, 1.0, 0.05),
                                        ("fc.weight", [5, 6], 1.3, 0.2, 0.6), ("fc.bias", [5], 2.0, 0.7, 0.1)] {
            try g.setWeight(name, Tensor(shape: shape, data: formula(shape.reduce(1, *), a, bb, s)))
        }
        let x = Tensor(shape: [2, 3, 12, 12], data: formula(2 * 3 * 144, 0.37, 0, 0.5).map { 0.5 + $0 })
        return (g, x)
    }
}
