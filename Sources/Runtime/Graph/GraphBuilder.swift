import Foundation

/// Builds a Graph from Swift, one layer at a time, with the same ONNX-shaped nodes an
/// imported model has, so our own networks train, explain and export like any other.
///
/// Each node's output value is named after the node, and its weights "<node>.weight",
/// "<node>.bias" (PyTorch's naming). Shapes are inferred by running every new node once on
/// an example batch of one, so a mistake surfaces at the line that made it.
/// Weights start from He-normal (fan-in) initialisation, biases at zero, batch norm at
/// identity: the usual choice for ReLU networks trained from scratch.
public final class GraphBuilder {
    public let name: String
    public let inputName: String
    private var nodes: [GraphNode] = []
    private var weights: [String: Tensor] = [:]
    private var trainable: Set<String> = []
    private var integerValues: Set<String> = []
    private var examples: [String: Tensor] = [:]
    private var rng: RandomGenerator
    private let inputShape: [Int]
    /// Graph inputs after the first, in order (`input(_:shape:)`).
    private var extraInputs: [ValueInfo] = []
    /// The most recently produced value: the default input of the next layer.
    public private(set) var current: String

    /// `inputShape` excludes the batch dimension, e.g. [1, 28, 28].
    public init(name: String, inputShape: [Int], inputName: String = "input", seed: UInt64 = 0) {
        self.name = name
        self.inputName = inputName
        self.inputShape = inputShape
        self.rng = RandomGenerator(seed: seed)
        self.current = inputName
        examples[inputName] = Tensor.zeros([1] + inputShape)
    }

    /// Declares another graph input (a decoder that reads features at several scales), with
    /// its shape without the batch dimension; inputs follow the first in declaration order.
    @discardableResult
    public func input(_ name: String, shape: [Int]) throws -> String {
        guard examples[name] == nil, weights[name] == nil else { throw GraphError.malformed("graph '\(self.name)': a value named '\(name)' exists already") }
        examples[name] = Tensor.zeros([1] + shape)
        extraInputs.append(ValueInfo(name: name, shape: [-1] + shape))
        return name
    }

    /// Shape of a value for a batch of one (empty for a name nothing has produced yet).
    public func shape(of value: String? = nil) -> [Int] { examples[value ?? current]?.shape ?? [] }

    /// Shape of a value for a batch of one, or an error naming the layer that reads it.
    func requireShape(_ value: String, for layer: String) throws -> [Int] {
        guard let t = examples[value] else { throw GraphError.malformed("layer '\(layer)' reads '\(value)', which is not defined yet") }
        return t.shape
    }

    /// The channel count (axis 1) of a value, or an error naming the layer that needs it.
    func channels(_ value: String, for layer: String) throws -> Int {
        let s = try requireShape(value, for: layer)
        guard s.count >= 2 else { throw GraphError.malformed("layer '\(layer)' needs [N, C, ...] input, '\(value)' is \(s)") }
        return s[1]
    }

    private func heNormal(_ shape: [Int], fanIn: Int) -> Tensor {
        Tensor.normal(shape, std: (2 / Float(Swift.max(fanIn, 1))).squareRoot(), rng: &rng)
    }

    /// Adds a node, runs it on the example values, and makes its output current.
    @discardableResult
    public func add(_ opType: String, name: String, inputs: [String], attributes: [String: AttributeValue] = [:],
                    weights newWeights: [(String, Tensor, Bool)] = [], outputs: Int = 1) throws -> String {
        guard !examples.keys.contains(name), !nodes.contains(where: { $0.name == name }) else {
            throw GraphError.malformed("graph '\(self.name)': a layer named '\(name)' exists already")
        }
        for (w, t, train) in newWeights {
            weights[w] = t
            if train { trainable.insert(w) }
        }
        let outNames = outputs == 1 ? [name] : (0..<outputs).map { $0 == 0 ? name : "\(name):\($0)" }
        let node = GraphNode(name: name, opType: opType, inputs: inputs, outputs: outNames, attributes: attributes)
        guard let kernel = Kernels.table[opType] else { throw GraphError.unsupportedOperator(op: opType, node: name, opset: 17) }
        let ins: [Tensor?] = try inputs.map { i in
            if i.isEmpty { return nil }
            guard let t = examples[i] ?? weights[i] else {
                throw GraphError.malformed("layer '\(name)' reads '\(i)', which is not defined yet")
            }
            return t
        }
        var ctx = KernelContext(node: node, inputs: ins, options: ForwardOptions(), opset: 17)
        let outs = try Autograd.noGrad { try kernel(&ctx) }
        for (n, t) in zip(outNames, outs) { examples[n] = t }
        nodes.append(node)
        current = name
        return name
    }

    /// A convolution. `weights` names its weights "<weights>.weight" / ".bias" (default: the
    /// node's name); when those weights exist already the node shares them (CBAM's MLP runs
    /// once on the average-pooled and once on the max-pooled features with the same weights),
    /// and their shapes must fit.
    @discardableResult
    public func conv(_ x: String? = nil, name: String, out: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                     dilation: Int = 1, groups: Int = 1, bias: Bool = true, weights: String? = nil) throws -> String {
        let input = x ?? current
        let cin = try channels(input, for: name)
        guard out > 0, kernel > 0, groups > 0, cin % groups == 0, out % groups == 0 else {
            throw GraphError.malformed("conv '\(name)': \(cin) -> \(out) channels, kernel \(kernel), groups \(groups) do not fit")
        }
        let prefix = weights ?? name
        let shape = [out, cin / groups, kernel, kernel]
        var ws: [(String, Tensor, Bool)] = []
        if let shared = self.weights["\(prefix).weight"] {
            guard shared.shape == shape, bias == (self.weights["\(prefix).bias"] != nil) else {
                throw GraphError.malformed("conv '\(name)' shares '\(prefix)' weights of shape \(shared.shape), it needs \(shape)"
                    + (bias ? " with a bias" : " without a bias"))
            }
        } else {
            ws.append(("\(prefix).weight", heNormal(shape, fanIn: cin / groups * kernel * kernel), true))
            if bias { ws.append(("\(prefix).bias", Tensor.zeros([out]), true)) }
        }
        return try add("Conv", name: name, inputs: [input, "\(prefix).weight"] + (bias ? ["\(prefix).bias"] : []), attributes: [
            "kernel_shape": .ints([kernel, kernel]), "strides": .ints([stride, stride]),
            "pads": .ints([padding, padding, padding, padding]), "dilations": .ints([dilation, dilation]), "group": .int(groups),
        ], weights: ws)
    }

    @discardableResult
    public func batchNorm(_ x: String? = nil, name: String, eps: Float = 1e-5, momentum: Float = 0.1) throws -> String {
        let input = x ?? current
        let c = try channels(input, for: name)
        let ws: [(String, Tensor, Bool)] = [
            ("\(name).weight", .ones([c]), true), ("\(name).bias", .zeros([c]), true),
            ("\(name).running_mean", .zeros([c]), false), ("\(name).running_var", .ones([c]), false),
        ]
        // ONNX momentum weights the running value (1 - PyTorch's momentum).
        return try add("BatchNormalization", name: name, inputs: [input] + ws.map(\.0),
                       attributes: ["epsilon": .float(eps), "momentum": .float(1 - momentum)], weights: ws)
    }

    @discardableResult
    public func relu(_ x: String? = nil, name: String) throws -> String { try add("Relu", name: name, inputs: [x ?? current]) }
    @discardableResult
    public func sigmoid(_ x: String? = nil, name: String) throws -> String { try add("Sigmoid", name: name, inputs: [x ?? current]) }

    @discardableResult
    public func maxPool(_ x: String? = nil, name: String, kernel: Int, stride: Int? = nil, padding: Int = 0) throws -> String {
        let s = stride ?? kernel
        return try add("MaxPool", name: name, inputs: [x ?? current], attributes: [
            "kernel_shape": .ints([kernel, kernel]), "strides": .ints([s, s]), "pads": .ints([padding, padding, padding, padding]),
        ])
    }

    @discardableResult
    public func avgPool(_ x: String? = nil, name: String, kernel: Int, stride: Int? = nil, padding: Int = 0) throws -> String {
        let s = stride ?? kernel
        return try add("AveragePool", name: name, inputs: [x ?? current], attributes: [
            "kernel_shape": .ints([kernel, kernel]), "strides": .ints([s, s]), "pads": .ints([padding, padding, padding, padding]),
        ])
    }

    @discardableResult
    public func globalAvgPool(_ x: String? = nil, name: String) throws -> String {
        try add("GlobalAveragePool", name: name, inputs: [x ?? current])
    }

    @discardableResult
    public func flatten(_ x: String? = nil, name: String) throws -> String {
        try add("Flatten", name: name, inputs: [x ?? current], attributes: ["axis": .int(1)])
    }

    /// Fully connected layer as ONNX Gemm with transB (weight [out, in] as PyTorch).
    @discardableResult
    public func linear(_ x: String? = nil, name: String, out: Int, bias: Bool = true) throws -> String {
        let input = x ?? current
        let s = try requireShape(input, for: name)
        guard s.count == 2 else { throw GraphError.malformed("linear layer '\(name)' needs a flat [N, features] input, '\(input)' is \(s); add flatten first") }
        var ws: [(String, Tensor, Bool)] = [("\(name).weight", heNormal([out, s[1]], fanIn: s[1]), true)]
        if bias { ws.append(("\(name).bias", Tensor.zeros([out]), true)) }
        return try add("Gemm", name: name, inputs: [input] + ws.map(\.0), attributes: ["transB": .int(1)], weights: ws)
    }

    @discardableResult
    public func sum(_ a: String, _ b: String, name: String) throws -> String { try add("Add", name: name, inputs: [a, b]) }
    @discardableResult
    public func product(_ a: String, _ b: String, name: String) throws -> String { try add("Mul", name: name, inputs: [a, b]) }

    public func build(outputs: [String]? = nil, labels: [String]? = nil, metadata: [String: String] = [:]) throws -> Graph {
        let g = try Graph(name: name, inputs: [ValueInfo(name: inputName, shape: [-1] + inputShape)] + extraInputs, outputs: outputs ?? [current],
                          nodes: nodes, weights: weights, trainable: trainable, labels: labels, opset: 17, metadata: metadata)
        g.integerValues = integerValues
        return g
    }
}
