import Runtime

/// The pool of filter-wise features of VEbI §3.1 and the image-wise response x_i over it.
///
/// - Which values: every node output that depends on the image, in graph order, except
///   - the class layer: the graph's first output and the values it is a relabelling of
///     (walking back through Softmax, LogSoftmax, Sigmoid, Identity, Dropout, Flatten and
///     Reshape: "we do not consider the last layer whose output is directly related to the
///     classes of interest, e.g. the last two layers from VGG-F", fc8 and its softmax);
///   - outputs of Flatten, Reshape, Squeeze, Unsqueeze, Identity and Dropout nodes: the same
///     numbers as their input under another shape, which would enter x_i twice;
///   - values that are not [N, C, ...] (shape arithmetic of imported graphs, rank < 2).
///   Only a node's first output counts (MaxPool's indices, batch norm's running statistics
///   are not responses). This is the authors' code's `sidx 2:20` on VGG-F, every conv, ReLU,
///   LRN, pool and fc output up to relu7, written for any graph.
/// - `features: "conv"` keeps the values with a spatial map larger than 1x1 (the paper's
///   OnlyConv, §4.1: "features produced by the convolutional layers"); a global pooling
///   output ([N, C, 1, 1]) and fully connected values ([N, F]) belong to "all" only.
/// - Response of channel c of a layer: the squared L2 norm of its map, sum_s a_c(s)^2 (the
///   authors' code; `response: "l2"` takes the square root, the paper's wording "L2 norm").
///   A fully connected unit is a channel with a 1x1 map.
/// - Each layer's responses are L1-normalised ("to compensate for the difference in length
///   among different layers"); a layer whose responses are all zero stays zero.
struct FeaturePool: Sendable {
    enum Selection: String, Sendable, CaseIterable { case all, conv }
    enum Response: String, Sendable, CaseIterable {
        case l2Squared = "l2_squared"
        case l2
    }

    struct Layer: Sendable, Equatable {
        /// Value name (what `capture`, interventions and `accuracy(..., ablate:)` take).
        let name: String
        let channels: Int
        /// Whether the value has a spatial map larger than 1x1 (OnlyConv; upsampling applies).
        let spatial: Bool
        /// Index of the layer's first channel in x_i.
        let offset: Int
    }

    let layers: [Layer]
    let response: Response
    /// m, the length of x_i.
    var count: Int { layers.last.map { $0.offset + $0.channels } ?? 0 }
    var names: [String] { layers.map(\.name) }

    init(layers: [(name: String, channels: Int, spatial: Bool)], response: Response) {
        var offset = 0
        self.layers = layers.map { l in defer { offset += l.channels }; return Layer(name: l.name, channels: l.channels, spatial: l.spatial, offset: offset) }
        self.response = response
    }

    /// The pool of `graph` under `selection`, with shapes from one inference pass on `example`
    /// ([1, C, H, W] or a batch).
    init(graph: Graph, example: Tensor, selection: Selection, response: Response) throws {
        let candidates = FeaturePool.candidateValues(graph)
        let captured = try Autograd.noGrad { try graph.forward(example, options: ForwardOptions(capture: candidates)).captured }
        var layers: [(name: String, channels: Int, spatial: Bool)] = []
        for name in candidates {
            guard let v = captured[name], v.rank >= 2, v.shape[0] == example.shape[0], v.shape[1] >= 1 else { continue }
            let spatial = v.rank >= 3 && v.shape.dropFirst(2).reduce(1, *) > 1
            if selection == .conv && !spatial { continue }
            layers.append((name, v.shape[1], spatial))
        }
        guard !layers.isEmpty else {
            throw PluginError.invalid("'vebi': model '\(graph.name)' has no internal \(selection == .conv ? "spatial feature map" : "value with channels") before its class layer to select features from")
        }
        self.init(layers: layers, response: response)
    }

    /// Ops whose output is their input's numbers under another shape (or unchanged).
    static let relabelling: Set<String> = ["Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout"]
    /// Ops after the class layer that only rescale its scores.
    static let classTail: Set<String> = ["Softmax", "LogSoftmax", "Sigmoid", "Identity", "Dropout", "Flatten", "Reshape"]

    /// Value names of the candidate layers, in graph order (see the type's comment).
    static func candidateValues(_ graph: Graph) -> [String] {
        var classLayer = Set<String>()
        if var value = graph.outputs.first {
            classLayer.insert(value)
            while let p = graph.producer(of: value), classTail.contains(p.opType), let input = p.inputs.first, !input.isEmpty {
                classLayer.insert(input)
                value = input
            }
        }
        var fromImage = Set(graph.inputs.map(\.name))
        var out: [String] = []
        for node in graph.nodes where node.inputs.contains(where: fromImage.contains) {
            for o in node.outputs where !o.isEmpty { fromImage.insert(o) }
            guard let first = node.outputs.first, !first.isEmpty, !relabelling.contains(node.opType), !classLayer.contains(first) else { continue }
            out.append(first)
        }
        return out
    }

    /// x_i for every image of a batch, [n, m] row-major, from the captured values of the pool's
    /// layers (a forward pass with `capture: names`).
    func descriptors(_ captured: [String: Tensor], images n: Int) throws -> [Float] {
        let m = count
        var x = [Float](repeating: 0, count: n * m)
        var sums = [Double](repeating: 0, count: 0)
        for layer in layers {
            guard let v = captured[layer.name] else { throw PluginError.invalid("'vebi': layer '\(layer.name)' was not computed") }
            guard v.rank >= 2, v.shape[0] == n, v.shape[1] == layer.channels else {
                throw PluginError.invalid("'vebi': layer '\(layer.name)' has shape \(v.shape); the fitted feature pool has \(layer.channels) channels there (fitted on inputs of another size?)")
            }
            let c = layer.channels, spatial = v.count / (n * c)
            sums = [Double](repeating: 0, count: c)
            v.withUnsafeBufferPointer { p in
                for i in 0..<n {
                    var total = 0.0
                    for ch in 0..<c {
                        let base = (i * c + ch) * spatial
                        var s = 0.0
                        for k in 0..<spatial { let a = Double(p[base + k]); s += a * a }
                        sums[ch] = response == .l2 ? s.squareRoot() : s
                        total += sums[ch]
                    }
                    let scale = total > 0 ? 1 / total : 0
                    for ch in 0..<c { x[i * m + layer.offset + ch] = Float(sums[ch] * scale) }
                }
            }
        }
        return x
    }

    /// The layer holding feature `index` and the feature's channel within it.
    func locate(_ index: Int) -> (layer: Layer, channel: Int) {
        // Layers are few (tens); a linear scan is clearer than a search.
        let layer = layers.last { $0.offset <= index } ?? layers[0]
        return (layer, index - layer.offset)
    }
}
