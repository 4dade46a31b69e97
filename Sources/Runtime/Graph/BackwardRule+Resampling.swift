// The stride-1 resampling rule of "Visual Explanation by Interpretation" (Oramas, Wang,
// Tuytelaars; §3.3, Eqs. 2-3).

extension BackwardRule {
    /// VEbI's fix for the grid artefacts that strided layers leave in deconvnet-style
    /// backward passes (§3.3). For a block with input A x A, kernel M, padding O and stride
    /// S > 1, whose output is B x B with A + 2O = M + (B - 1)S (Eq. 2): the incoming B x B
    /// signal is resampled with nearest neighbour to A'_d = B|_{S=1} = A + 2O - M + 1 (Eq. 3
    /// with S = 1), then the block's backward runs with stride 1, which gives A x A again.
    ///
    /// - Conv: transposed convolution at stride 1 with the layer's own weights, padding,
    ///   dilation (M becomes the extent d(M - 1) + 1) and groups. The weight and bias keep their
    ///   true gradients.
    /// - MaxPool: unpooling with the switches of a stride-1 max pooling of the same input
    ///   (same kernel, padding, dilation); where stride-1 windows share a switch their signals
    ///   add, which is the gradient of the stride-1 pooling.
    /// - Each spatial axis is handled on its own (A, O = its two pads, M), so non-square inputs
    ///   and asymmetric ONNX pads follow the same formula.
    /// - Nearest neighbour is MATLAB `imresize(..., 'nearest')`'s, which the authors' released
    ///   code uses: output cell d reads input cell floor((d + 1/2) B / A'_d) (pixel centres
    ///   aligned; ONNX half_pixel + floor). PyTorch's legacy `nearest` (floor(d B / A'_d))
    ///   would shift the map by up to half a cell.
    /// - Stride-1 nodes are declined: there the rule is the ordinary backward (A'_d = B, and
    ///   the stride-1 backward is the backward), so they keep the ordinary code path.
    ///
    /// Deviation from the authors' code: it applies the fix to strided convolutions only, and
    /// computes A from the image size (right for conv1 only); here A is each layer's own input.
    public static let strideOneResampling = BackwardRule(
        name: "stride1_resampling", opTypes: ["Conv", "MaxPool"],
        appliesTo: { node in (node.ints("strides") ?? []).contains { $0 > 1 } },
        prepare: { ctx in try StrideOneGeometry.vjp(ctx) })
}

/// A strided Conv or MaxPool node's geometry as the kernels read it, as 2-D (1-D layers are
/// [N, C, 1, L]).
struct StrideOneGeometry {
    let kernel: [Int], dilation: [Int], pads: [Int]
    /// The node's input viewed as [N, C, H, W].
    let x: Tensor

    /// The resampled stride-1 backward of a Conv or MaxPool node, whatever its stride (at
    /// stride 1 it is the ordinary backward; the rule declines those nodes, tests force it).
    static func vjp(_ ctx: BackwardRuleContext) throws -> VectorJacobianProduct {
        let geometry = try StrideOneGeometry(ctx)
        return ctx.node.opType == "Conv" ? try geometry.convVJP(ctx) : try geometry.maxPoolVJP(ctx)
    }

    init(_ ctx: BackwardRuleContext) throws {
        let k = ctx.kernel
        let (x4, sr) = try Kernels.spatial4D(try ctx.input(0), k)
        x = x4
        if k.node.opType == "Conv" {
            // The weight's own kernel ([O, C/g, kH, kW], or [O, C/g, kL] for 1-D), as the kernel reads it.
            let w = try ctx.input(1)
            kernel = w.rank == 3 ? [1, w.shape[2]] : [w.shape[2], w.shape[3]]
        } else {
            guard let ks = k.node.ints("kernel_shape") else { throw k.fail("kernel_shape is required") }
            kernel = try Kernels.pair(ks, default: 1, spatialRank: sr, "kernel_shape", k)
        }
        dilation = try Kernels.pair(k.node.ints("dilations"), default: 1, spatialRank: sr, "dilations", k)
        let stride = try Kernels.pair(k.node.ints("strides"), default: 1, spatialRank: sr, "strides", k)
        pads = try Kernels.pads(k, input: [x4.shape[2], x4.shape[3]], kernel: kernel, stride: stride, dilation: dilation, spatialRank: sr)
    }

    /// A'_d per axis: the output size of the block at stride 1 (Eq. 3 with S = 1).
    var resampledSize: [Int] {
        (0..<2).map { d in x.shape[2 + d] + pads[d] + pads[d + 2] - dilation[d] * (kernel[d] - 1) }
    }

    /// `g` [N, C, B_h, B_w] resampled to A'_d with MATLAB's nearest neighbour.
    func resample(_ g: Tensor) -> Tensor {
        let size = resampledSize
        let (bh, bw) = (g.shape[2], g.shape[3])
        return g.gatherRowsCols(rows: StrideOneGeometry.nearestSources(from: bh, to: size[0]),
                                cols: StrideOneGeometry.nearestSources(from: bw, to: size[1]))
    }

    /// Source cell of each of `m` output cells when resizing `n` cells: floor((d + 1/2) n / m),
    /// in integers ((2d + 1) n / 2m) so no rounding can move a boundary.
    static func nearestSources(from n: Int, to m: Int) -> [Int] {
        (0..<m).map { Swift.min((2 * $0 + 1) * n / (2 * m), n - 1) }
    }

    /// A 4-D input signal `t` back in the node input's shape (1-D layers are [N, C, L]).
    func restore(_ t: Tensor, like input: Tensor) -> Tensor { input.rank == t.rank ? t : t.reshaped(input.shape) }

    func convVJP(_ ctx: BackwardRuleContext) throws -> VectorJacobianProduct {
        var w = try ctx.input(1)
        if w.rank == 3 { w = w.reshaped([w.shape[0], w.shape[1], 1, w.shape[2]]) }
        let groups = ctx.node.int("group") ?? 1
        let geo = Tensor.convGeometry(op: "conv2d", input: x.shape, weight: w.shape, outChannels: w.shape[0],
                                      weightInChannels: w.shape[1], stride: [1, 1], padding: pads,
                                      dilation: dilation, groups: groups)
        let input = try ctx.input(0), x4Shape = x.shape, needs = ctx.needsGradient
        let weightsNeed = needs.dropFirst().contains(true)
        return { g in
            let g4 = g.rank == 4 ? g : g.reshaped([g.shape[0], g.shape[1], 1, g.shape[2]])
            let dx = Tensor.convBackwardDataRaw(geo, gy: self.resample(g4), weight: w, outShape: x4Shape)
            var grads: [Tensor?] = weightsNeed ? ctx.ordinaryVJP(g) : [Tensor?](repeating: nil, count: needs.count)
            grads[0] = needs[0] ? self.restore(dx, like: input) : nil
            return grads
        }
    }

    func maxPoolVJP(_ ctx: BackwardRuleContext) throws -> VectorJacobianProduct {
        // Every stride-1 window must see an input cell (the strided pass may skip the ones that
        // would not); PyTorch keeps pads at most half the kernel, which guarantees it.
        let size = resampledSize
        for d in 0..<2 {
            let empty = (0..<size[d]).contains {
                validRange(offset: $0 - pads[d], stride: dilation[d], inSize: self.x.shape[2 + d], outSize: kernel[d]).isEmpty
            }
            if empty {
                throw ctx.kernel.fail("backward rule 'stride1_resampling': with pads \(pads) some stride-1 window of kernel \(kernel) (dilation \(dilation)) sees only padding")
            }
        }
        let input = try ctx.input(0), x4 = x, needs = ctx.needsGradient
        return { g in
            let g4 = g.rank == 4 ? g : g.reshaped([g.shape[0], g.shape[1], 1, g.shape[2]])
            // Switches of the stride-1 pooling, found only when a backward pass runs.
            let switches = x4.maxPool2dWithSwitches(kernel: self.kernel, stride: [1, 1], padding: self.pads,
                                                   dilation: self.dilation).switches
            let dx = Tensor.unpoolRaw(self.resample(g4), switches)
            return [needs[0] ? self.restore(dx, like: input) : nil] + [Tensor?](repeating: nil, count: needs.count - 1)
        }
    }
}
