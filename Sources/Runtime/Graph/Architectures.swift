/// Reference architectures built with GraphBuilder: the shapes the papers and benchmarks use.
public enum Architectures {
    /// LeNet5-Caffe as in the NICE paper's Table 1 (and Caffe's MNIST example): conv 20@5x5,
    /// max-pool 2, conv 50@5x5, max-pool 2, fc 500, ReLU, fc classes.
    public static func lenet5Caffe(inputShape: [Int] = [1, 28, 28], classes: Int = 10, seed: UInt64 = 0) throws -> Graph {
        let b = GraphBuilder(name: "lenet5-caffe", inputShape: inputShape, seed: seed)
        try b.conv(name: "conv1", out: 20, kernel: 5)
        try b.maxPool(name: "pool1", kernel: 2)
        try b.conv(name: "conv2", out: 50, kernel: 5)
        try b.maxPool(name: "pool2", kernel: 2)
        try b.flatten(name: "flatten")
        try b.linear(name: "fc1", out: 500)
        try b.relu(name: "relu1")
        try b.linear(name: "fc2", out: classes)
        return try b.build()
    }

    /// ResNet-18 (He et al. 2016) as torchvision defines it: 7x7/2 stem, max-pool, four stages
    /// of two basic blocks (64, 128, 256, 512 channels), global average pool, fc.
    public static func resnet18(inputShape: [Int] = [3, 224, 224], classes: Int = 1000, seed: UInt64 = 0) throws -> Graph {
        let b = GraphBuilder(name: "resnet18", inputShape: inputShape, seed: seed)
        try b.conv(name: "conv1", out: 64, kernel: 7, stride: 2, padding: 3, bias: false)
        try b.batchNorm(name: "bn1")
        try b.relu(name: "relu")
        try b.maxPool(name: "maxpool", kernel: 3, stride: 2, padding: 1)
        var channels = 64
        for (stage, width) in [64, 128, 256, 512].enumerated() {
            for block in 0..<2 {
                let stride = (stage > 0 && block == 0) ? 2 : 1
                try basicBlock(b, prefix: "layer\(stage + 1).\(block)", inChannels: channels, width: width, stride: stride)
                channels = width
            }
        }
        try b.globalAvgPool(name: "avgpool")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: classes)
        return try b.build()
    }

    /// One VGG-style block `blockK`: two (3x3 conv without bias, batch norm, ReLU) at `width`,
    /// then a 2x2 max pool, under the names the shipped VGGs use (`blockK.conv1` ...), so
    /// graphs built from it share weights by name.
    public static func vggBlock(_ b: GraphBuilder, index k: Int, width: Int) throws {
        for i in 1...2 {
            try b.conv(name: "block\(k).conv\(i)", out: width, kernel: 3, padding: 1, bias: false)
            try b.batchNorm(name: "block\(k).bn\(i)")
            try b.relu(name: "block\(k).relu\(i)")
        }
        try b.maxPool(name: "block\(k).pool", kernel: 2)
    }

    /// conv3x3-BN-ReLU-conv3x3-BN plus the (projected when the shape changes) identity, ReLU.
    /// Node names follow torchvision: <prefix>.conv1, .bn1, ..., .downsample.0/1, .add.
    public static func basicBlock(_ b: GraphBuilder, prefix p: String, inChannels: Int, width: Int, stride: Int) throws {
        let input = b.current
        try b.conv(input, name: "\(p).conv1", out: width, kernel: 3, stride: stride, padding: 1, bias: false)
        try b.batchNorm(name: "\(p).bn1")
        try b.relu(name: "\(p).relu1")
        try b.conv(name: "\(p).conv2", out: width, kernel: 3, padding: 1, bias: false)
        let main = try b.batchNorm(name: "\(p).bn2")
        var shortcut = input
        if stride != 1 || inChannels != width {
            try b.conv(input, name: "\(p).downsample.0", out: width, kernel: 1, stride: stride, bias: false)
            shortcut = try b.batchNorm(name: "\(p).downsample.1")
        }
        try b.sum(main, shortcut, name: "\(p).add")
        try b.relu(name: "\(p).relu2")
    }

    /// Multiply-accumulates of one forward pass (conv and fully connected layers), for
    /// GFLOP/s reporting: 2 * MACs FLOPs.
    public static func macs(_ g: Graph, example: Tensor) throws -> Int {
        let shapes = try g.layerShapes(for: example)
        var total = 0
        for (node, outs) in shapes {
            guard let out = outs.first else { continue }
            switch node.opType {
            // Weights computed at run time (not initializers), or of another rank, are not counted.
            case "Conv":
                guard node.inputs.count > 1, let w = g.weight(node.inputs[1])?.shape, w.count == 4 else { continue }
                total += out.reduce(1, *) * w[1] * w[2] * w[3]
            case "Gemm", "MatMul":
                guard node.inputs.count > 1, let w = g.weight(node.inputs[1])?.shape, w.count == 2 else { continue }
                total += out.reduce(1, *) * (node.int("transB") == 1 ? w[1] : w[0])
            default: break
            }
        }
        return total
    }
}
