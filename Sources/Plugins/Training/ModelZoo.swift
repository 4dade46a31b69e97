import Runtime

/// Small classifiers we train ourselves (models/), built with GraphBuilder so they explain
/// and export like any imported model.
public enum ModelZoo {
    /// The NICE paper's MNIST discriminator exactly as its Table 1 lists it:
    /// Conv(1,20,5,1,0) + ReLU + MaxPool(2), Conv(20,50,5,1,0) + ReLU + MaxPool(2),
    /// FC(800,500) + ReLU, FC(500,10). `Architectures.lenet5Caffe` follows Caffe's original
    /// prototxt, which has no ReLU after the convolutions; Table 1 has them, so this builder
    /// adds them ("relu_conv1", "relu_conv2") and keeps every other node name the same.
    public static func lenet5NICE(classes: Int = 10, inputShape: [Int] = [1, 28, 28], seed: UInt64 = 0,
                                  labels: [String]? = nil) throws -> Graph {
        let b = GraphBuilder(name: "lenet5-caffe-nice", inputShape: inputShape, seed: seed)
        try b.conv(name: "conv1", out: 20, kernel: 5)
        try b.relu(name: "relu_conv1")
        try b.maxPool(name: "pool1", kernel: 2)
        try b.conv(name: "conv2", out: 50, kernel: 5)
        try b.relu(name: "relu_conv2")
        try b.maxPool(name: "pool2", kernel: 2)
        try b.flatten(name: "flatten")
        try b.linear(name: "fc1", out: 500)
        try b.relu(name: "relu1")
        try b.linear(name: "fc2", out: classes)
        return try b.build(labels: labels)
    }

    /// A VGG-style net: three blocks of two 3x3 conv + batch norm + ReLU layers, each block
    /// ending in 2x2 max-pooling, then global average pooling and two fully connected layers
    /// (hidden ReLU). Widths default to 8/16/32 and the hidden layer to 64: a few minutes of
    /// training on 2 cores at 64x64. Global average pooling (instead of flattening the last
    /// feature map) makes the classifier translation invariant, which the synthetic sets with
    /// random object positions need to generalise from a few thousand images.
    /// Node names: block{b}.conv{i}, block{b}.bn{i}, block{b}.relu{i}, block{b}.pool, gap,
    /// flatten, fc1, relu_fc1, fc2.
    public static func vggStyle(classes: Int, inputSize: Int, channels: Int = 3, widths: [Int] = [8, 16, 32],
                                hidden: Int = 64, seed: UInt64 = 0, labels: [String]? = nil) throws -> Graph {
        guard widths.count == 3, widths.allSatisfy({ $0 > 0 }) else {
            throw GraphError.malformed("vggStyle needs 3 positive block widths, got \(widths)")
        }
        guard inputSize >= 8 else { throw GraphError.malformed("vggStyle needs inputs of at least 8x8, got \(inputSize)") }
        let b = GraphBuilder(name: "vgg-style", inputShape: [channels, inputSize, inputSize], seed: seed)
        for (block, width) in widths.enumerated() { try Architectures.vggBlock(b, index: block + 1, width: width) }
        try b.globalAvgPool(name: "gap")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc1", out: hidden)
        try b.relu(name: "relu_fc1")
        try b.linear(name: "fc2", out: classes)
        return try b.build(labels: labels)
    }

    /// A small ResNet: 3x3 stride-2 stem conv + BN + ReLU, three stages of one basic block
    /// each (conv-BN-ReLU-conv-BN plus identity or 1x1 projection, then ReLU) with widths
    /// 16/32/64 (stages 2 and 3 halve the resolution), global average pooling, fc.
    /// Node names follow torchvision: layer{s}.0.conv1, layer{s}.0.bn1, ..., layer{s}.0.add.
    public static func smallResNet(classes: Int, inputSize: Int, channels: Int = 3, widths: [Int] = [16, 32, 64],
                                   seed: UInt64 = 0, labels: [String]? = nil) throws -> Graph {
        guard !widths.isEmpty, widths.allSatisfy({ $0 > 0 }) else { throw GraphError.malformed("smallResNet needs positive widths, got \(widths)") }
        guard inputSize >= 8 else { throw GraphError.malformed("smallResNet needs inputs of at least 8x8, got \(inputSize)") }
        let b = GraphBuilder(name: "small-resnet", inputShape: [channels, inputSize, inputSize], seed: seed)
        try b.conv(name: "conv1", out: widths[0], kernel: 3, stride: 2, padding: 1, bias: false)
        try b.batchNorm(name: "bn1")
        try b.relu(name: "relu")
        var inChannels = widths[0]
        for (stage, width) in widths.enumerated() {
            try Architectures.basicBlock(b, prefix: "layer\(stage + 1).0", inChannels: inChannels, width: width, stride: stage == 0 ? 1 : 2)
            inChannels = width
        }
        try b.globalAvgPool(name: "avgpool")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: classes)
        return try b.build(labels: labels)
    }
}
