import Runtime

/// NICE's sparse mask generators (Table 1), built as graphs so they train in the one training
/// loop, travel inside the fitted state and export to ONNX. Each maps an image [N, C, H, W] to
/// log alpha [N, 1, H, W]. Weights start He-normal with zero biases (the paper does not say
/// how it initialises them), drawn from the fit's seeded generator.
enum NICEGenerator: String, CaseIterable {
    /// Table 1's MNIST generator: one Conv(C, 1, 3, 1, 1): 9 C + 1 parameters (10 on gray
    /// images, as in the paper; 28 on RGB).
    case mnist
    /// Table 1's Caltech256 generator with `levels` = 3: Conv(C, 1, 3, 1, 1) + ReLU +
    /// MaxPool(2), Conv(1, 1, 3, 1, 1) + ReLU + MaxPool(2), Conv(1, 1, 3, 1, 1) + MaxPool(2),
    /// Upsample(8) (nearest): 9 C + 1 + 20 parameters (48 on RGB, as in the paper). The mask is
    /// constant on 2^levels-pixel blocks. `levels` keeps a sensible grid on small images: the
    /// paper's 256-px inputs get a 32 x 32 grid at levels 3; our 64-px images get 8 x 8 at
    /// levels 3 and 32 x 32 at levels 1 (one Conv + MaxPool(2), Upsample(2)). Stages past the
    /// first are Conv(1, 1, 3, 1, 1); every stage but the last has a ReLU.
    case caltech

    /// The generator for images of `inputShape` ([C, H, W]). The caltech generator needs H and
    /// W divisible by 2^levels (its upsampling must give the input size back); anything else
    /// is an error naming the largest `levels` that fits, never a silent change.
    func build(inputShape: [Int], levels: Int, seed: UInt64) throws -> Graph {
        guard inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
            throw PluginError.invalid("nice: the generator needs [C, H, W] images, got \(inputShape)")
        }
        let b = GraphBuilder(name: "nice_generator_\(rawValue)", inputShape: inputShape, seed: seed)
        switch self {
        case .mnist:
            try b.conv(name: "conv1", out: 1, kernel: 3, padding: 1)
        case .caltech:
            let (h, w) = (inputShape[1], inputShape[2])
            let factor = 1 << levels
            guard h % factor == 0, w % factor == 0 else {
                var fits = 0
                while h % (1 << (fits + 1)) == 0 && w % (1 << (fits + 1)) == 0 { fits += 1 }
                throw PluginError.invalid("nice: the caltech generator with levels: \(levels) needs image sides divisible by \(factor); "
                    + "these images are \(h) x \(w)" + (fits >= 1 ? " (levels: \(fits) fits)" : " (no level fits: use generator: \"mnist\")"))
            }
            for level in 1...levels {
                try b.conv(name: "conv\(level)", out: 1, kernel: 3, padding: 1)
                if level < levels { try b.relu(name: "relu\(level)") }
                try b.maxPool(name: "pool\(level)", kernel: 2)
            }
            try b.upsample(name: "upsample", factor: factor, mode: .nearest)
        }
        return try b.build()
    }
}
