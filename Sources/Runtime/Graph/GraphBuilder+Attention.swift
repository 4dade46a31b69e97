// Builder helpers for the networks the papers train (mask generators, explanation decoders,
// attention students): resampling, concatenation, channel pooling, sigmoid gating and CBAM.
// Each emits plain ONNX nodes at the builder's opset (17), so the networks export and run in
// onnxruntime like any other graph.

/// How `upsample` and `resize(like:)` interpolate.
public enum ResizeMode: String, Sendable {
    /// Each output pixel copies the input pixel it falls in (ONNX Resize "asymmetric" +
    /// "floor": PyTorch's `nn.Upsample(mode="nearest")`).
    case nearest
    /// Bilinear with half-pixel centres (PyTorch's `align_corners=False`), edges clamped.
    case bilinear

    var attributes: [String: AttributeValue] {
        switch self {
        case .nearest: ["mode": .string("nearest"), "coordinate_transformation_mode": .string("asymmetric"), "nearest_mode": .string("floor")]
        case .bilinear: ["mode": .string("linear"), "coordinate_transformation_mode": .string("half_pixel")]
        }
    }
}

extension GraphBuilder {
    /// Upsamples [N, C, H, W] to [N, C, factor H, factor W]. The scale factors are a constant
    /// weight "<name>.scales" ([1, 1, factor, factor]), which no training updates.
    @discardableResult
    public func upsample(_ x: String? = nil, name: String, factor: Int, mode: ResizeMode = .nearest) throws -> String {
        let input = x ?? current
        guard try requireShape(input, for: name).count == 4 else { throw GraphError.malformed("upsample '\(name)' needs [N, C, H, W] input, '\(input)' is \(shape(of: input))") }
        guard factor >= 1 else { throw GraphError.malformed("upsample '\(name)': factor must be at least 1, got \(factor)") }
        let scales = "\(name).scales"
        return try add("Resize", name: name, inputs: [input, "", scales], attributes: mode.attributes,
                       weights: [(scales, Tensor(shape: [4], data: [1, 1, Float(factor), Float(factor)]), false)])
    }

    /// Resizes [N, C, h, w] to the height and width of `reference` ([N', C', H, W]) as the
    /// graph runs, so the net follows any input size: Resize's sizes are N, C of `x` and
    /// H, W of `reference`, read with Shape nodes ("<name>.batch_channels", "<name>.spatial",
    /// concatenated in "<name>.sizes").
    @discardableResult
    public func resize(_ x: String? = nil, like reference: String, name: String, mode: ResizeMode = .bilinear) throws -> String {
        let input = x ?? current
        for v in [input, reference] where try requireShape(v, for: name).count != 4 {
            throw GraphError.malformed("resize '\(name)' needs [N, C, H, W] values, '\(v)' is \(shape(of: v))")
        }
        let lead = try add("Shape", name: "\(name).batch_channels", inputs: [input], attributes: ["end": .int(2)])
        let spatial = try add("Shape", name: "\(name).spatial", inputs: [reference], attributes: ["start": .int(2)])
        let sizes = try add("Concat", name: "\(name).sizes", inputs: [lead, spatial], attributes: ["axis": .int(0)])
        return try add("Resize", name: name, inputs: [input, "", "", sizes], attributes: mode.attributes)
    }

    /// Concatenates values along `axis` (channels by default); other dimensions must agree.
    @discardableResult
    public func concat(_ values: [String], name: String, axis: Int = 1) throws -> String {
        guard values.count >= 2 else { throw GraphError.malformed("concat '\(name)' needs at least two values, got \(values)") }
        let shapes = try values.map { try requireShape($0, for: name) }
        let rank = shapes[0].count
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a < rank, shapes.allSatisfy({ s in s.count == rank && s.indices.allSatisfy { $0 == a || s[$0] == shapes[0][$0] } }) else {
            throw GraphError.malformed("concat '\(name)': shapes \(shapes) do not concatenate along axis \(axis)")
        }
        return try add("Concat", name: name, inputs: values, attributes: ["axis": .int(axis)])
    }

    /// Mean over the channels, kept as one channel: [N, C, H, W] -> [N, 1, H, W].
    @discardableResult
    public func channelMean(_ x: String? = nil, name: String) throws -> String {
        let input = x ?? current
        _ = try channels(input, for: name)
        return try add("ReduceMean", name: name, inputs: [input], attributes: ["axes": .ints([1]), "keepdims": .int(1)])
    }

    /// Max over the channels, kept as one channel: [N, C, H, W] -> [N, 1, H, W].
    @discardableResult
    public func channelMax(_ x: String? = nil, name: String) throws -> String {
        let input = x ?? current
        _ = try channels(input, for: name)
        return try add("ReduceMax", name: name, inputs: [input], attributes: ["axes": .ints([1]), "keepdims": .int(1)])
    }

    /// x * sigmoid(g), with g broadcasting over x ([N, C, 1, 1] weighs channels, [N, 1, H, W]
    /// positions). The sigmoid is a node of its own, `attention` (default "<name>.sigmoid"),
    /// so the attention map can be captured by name.
    @discardableResult
    public func gate(_ x: String, by g: String, name: String, attention: String? = nil) throws -> String {
        let xs = try requireShape(x, for: name), gs = try requireShape(g, for: name)
        guard Broadcast.tryShape(xs, gs) == xs else {
            throw GraphError.malformed("gate '\(name)': gates \(gs) of '\(g)' do not broadcast over '\(x)' \(xs)")
        }
        let map = try add("Sigmoid", name: attention ?? "\(name).sigmoid", inputs: [g])
        return try add("Mul", name: name, inputs: [x, map])
    }

    /// CBAM, the convolutional block attention module (Woo et al., ECCV 2018), on
    /// [N, C, H, W]: channel attention then spatial attention, each a sigmoid gate.
    ///
    ///     M_c = sigmoid(MLP(AvgPool(F)) + MLP(MaxPool(F)))       (Eq. 2; pools over H, W)
    ///     F'  = M_c * F
    ///     M_s = sigmoid(conv_k([AvgPool(F'); MaxPool(F')]))      (Eq. 3; pools over C)
    ///     F'' = M_s * F'
    ///
    /// The shared MLP is two 1x1 convolutions C -> max(1, C / reduction) -> C with a ReLU
    /// between (weights "<name>.mlp.0.*" and "<name>.mlp.2.*", each used by both pooled
    /// branches); the spatial convolution has one output channel, a k x k kernel with "same"
    /// padding and a bias (the paper's equation has no batch norm there).
    /// Values to capture: "<name>.channel_attention" (M_c, [N, C, 1, 1]),
    /// "<name>.spatial_attention" (M_s, [N, 1, H, W]) and "<name>" (F'', the block's output).
    @discardableResult
    public func cbam(_ x: String? = nil, name p: String, reduction: Int = 16, kernel: Int = 7) throws -> String {
        let input = x ?? current
        let c = try channels(input, for: p)
        guard shape(of: input).count == 4 else { throw GraphError.malformed("cbam '\(p)' needs [N, C, H, W] input, '\(input)' is \(shape(of: input))") }
        guard reduction >= 1 else { throw GraphError.malformed("cbam '\(p)': reduction must be at least 1, got \(reduction)") }
        guard kernel >= 1, kernel % 2 == 1 else { throw GraphError.malformed("cbam '\(p)': the spatial kernel must be odd (same padding), got \(kernel)") }
        let hidden = Swift.max(1, c / reduction)
        var branches: [String] = []
        for (pool, op) in [("avg", "GlobalAveragePool"), ("max", "GlobalMaxPool")] {
            let pooled = try add(op, name: "\(p).\(pool)_pool", inputs: [input])
            try conv(pooled, name: "\(p).mlp.\(pool).0", out: hidden, kernel: 1, weights: "\(p).mlp.0")
            try relu(name: "\(p).mlp.\(pool).1")
            branches.append(try conv(name: "\(p).mlp.\(pool).2", out: c, kernel: 1, weights: "\(p).mlp.2"))
        }
        let logits = try sum(branches[0], branches[1], name: "\(p).channel_sum")
        let refined = try gate(input, by: logits, name: "\(p).channel", attention: "\(p).channel_attention")
        let mean = try channelMean(refined, name: "\(p).mean")
        let max = try channelMax(refined, name: "\(p).max")
        let pooled = try concat([mean, max], name: "\(p).pooled")
        let spatial = try conv(pooled, name: "\(p).conv", out: 1, kernel: kernel, padding: kernel / 2)
        return try gate(refined, by: spatial, name: p, attention: "\(p).spatial_attention")
    }
}
