// What the attribution rules (DeepLIFT, LRP, excitation backprop) need beyond the node's own
// backward: the same node evaluated on other inputs (modified weights, the reference input),
// and the elementwise helpers their formulas share.

extension BackwardRuleContext {
    /// The node's kernel run on `inputs` in place of its own (same attributes, same op), with
    /// the vector-Jacobian product of that evaluation with respect to the inputs listed in
    /// `differentiating` (the others get nil, and cost nothing).
    ///
    /// This is how a rule uses "the layer with other weights" (LRP's z+ and gamma rules and
    /// excitation backprop's W+ run the layer with clamped weights) or "the layer at the
    /// reference" (DeepLIFT's max-pool rule routes through the reference's switches) without
    /// re-deriving each op's geometry: the kernel is the one the forward pass uses.
    public func evaluate(_ inputs: [Tensor?], differentiating: Set<Int> = [0]) throws -> (output: Tensor, vjp: VectorJacobianProduct) {
        guard let run = Kernels.table[node.opType] else {
            throw GraphError.unsupportedOperator(op: node.opType, node: node.name, opset: opset)
        }
        let local: [Tensor?] = inputs.enumerated().map { i, t in
            t.map { differentiating.contains(i) ? $0.detached().requiringGrad() : $0.detached() }
        }
        var c = KernelContext(node: node, inputs: local, options: kernel.options, opset: opset)
        // Recording is on inside a rule's prepare (rules only run where gradients flow), but
        // the local tape must exist whatever the caller's scope, so switch it on here.
        let outs = try Autograd.$recording.withValue(true) { try run(&c) }
        guard let y = outs.first else { throw kernel.fail("produced no output") }
        let wanted = local.indices.filter { differentiating.contains($0) && local[$0] != nil }
        // unreachable from input: `wanted` keeps only indices whose local input is not nil
        let leaves = wanted.map { local[$0]! }
        let count = inputs.count
        return (y.detached(), { g in
            var grads = [Tensor?](repeating: nil, count: count)
            for (i, t) in zip(wanted, gradients(of: y, wrt: leaves, seed: g)) { grads[i] = t }
            return grads
        })
    }

    /// The node's inputs with input `i` replaced by `t` (what `evaluate` takes).
    public func inputs(replacing i: Int, with t: Tensor?) -> [Tensor?] {
        var v = inputs
        if i < v.count { v[i] = t }
        return v
    }
}

extension Tensor {
    /// self / (z + eps * sign(z)) elementwise, with sign(0) = +1: the stabilised division of
    /// the epsilon-LRP rule (Bach et al. 2015, Eq. 58; Captum's `PropagationRule`, which also
    /// counts 0 as positive). Shapes must match.
    public func lrpDivided(by z: Tensor, epsilon: Float) -> Tensor {
        precondition(shape == z.shape, "lrpDivided: \(shape) vs \(z.shape)")
        return detached().zipRaw(z) { r, d in r / (d + (d >= 0 ? epsilon : -epsilon)) }
    }

    /// self / z elementwise, 0 where z is 0 (or, with `positiveOnly`, not positive):
    /// excitation backprop's normalisation 1 / sum_i a_i w+_ij (Zhang et al. 2016, Eq. 3; a
    /// unit that nothing excites passes nothing on). The authors' Caffe layers test z == 0
    /// for convolutions and inner products and z > 0 for average pooling.
    public func excitationDivided(by z: Tensor, positiveOnly: Bool = false) -> Tensor {
        precondition(shape == z.shape, "excitationDivided: \(shape) vs \(z.shape)")
        return positiveOnly ? detached().zipRaw(z) { p, d in d > 0 ? p / d : 0 }
                            : detached().zipRaw(z) { p, d in d != 0 ? p / d : 0 }
    }

    /// max(self, 0) without a tape entry (clamped weights).
    public func positivePart() -> Tensor { detached().mapRaw { $0 > 0 ? $0 : 0 } }
}
