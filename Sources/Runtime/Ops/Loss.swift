import Foundation

// Losses, each a scalar (rank-0) mean over the batch. Classification losses take logits
// [N, C] and work through a stable log-softmax (max subtracted, log-sum-exp in Double);
// their backward rules are written out directly rather than taped op by op.

extension Tensor {
    /// Row-wise log-softmax of an [N, C] tensor into a flat array (no autograd).
    fileprivate func logSoftmaxRows(_ op: String, temperature: Float = 1) -> (n: Int, c: Int, logp: [Float]) {
        precondition(rank == 2, "\(op): logits must be [N, C], got \(shape)")
        let (n, c) = (shape[0], shape[1])
        precondition(c > 0, "\(op): logits need at least one class, got \(shape)")
        let invT = 1 / temperature
        var logp = [Float](repeating: 0, count: n * c)
        storage.withUnsafeBufferPointer { x in logp.withUnsafeMutableBufferPointer { o in
            let (px, po) = (x.baseAddress!, o.baseAddress!)
            Threads.parallelFor(n, minPerThread: Swift.max(1, (1 << 14) / c)) { rows in
                for r in rows {
                    let src = px + r * c, dst = po + r * c
                    var m = -Float.infinity
                    for j in 0..<c { m = Swift.max(m, src[j] * invT) }
                    var s = 0.0
                    for j in 0..<c { s += Foundation.exp(Double(src[j] * invT - m)) }
                    let lse = m + Float(Foundation.log(s))
                    for j in 0..<c { dst[j] = src[j] * invT - lse }
                }
            }
        } }
        return (n, c, logp)
    }

    /// Cross entropy of logits [N, C] against class indices (one per row), averaged over the
    /// batch: mean_i( -log softmax(logits_i)[label_i] ). Gradient (softmax - onehot) / N.
    public static func crossEntropy(logits: Tensor, labels: [Int]) -> Tensor {
        let (n, c, logp) = logits.logSoftmaxRows("crossEntropy")
        precondition(labels.count == n, "crossEntropy: \(labels.count) labels for \(n) rows")
        for (i, l) in labels.enumerated() { precondition(l >= 0 && l < c, "crossEntropy: label \(l) of row \(i) out of range 0..<\(c)") }
        var acc = 0.0
        for i in 0..<n { acc -= Double(logp[i * c + labels[i]]) }
        let loss = Tensor(n > 0 ? Float(acc / Double(n)) : .nan)
        return loss.recording("cross_entropy", inputs: [logits]) { g in
            let k = g.item / Float(n)
            return [Tensor(shape: [n, c]) { d in
                for i in 0..<(n * c) { d[i] = Foundation.exp(logp[i]) * k }
                for i in 0..<n { d[i * c + labels[i]] -= k }
            }]
        }
    }

    /// Cross entropy of logits [N, C] against target distributions [N, C] (soft labels),
    /// averaged over the batch: mean_i( -sum_c t_ic * log softmax(logits_i)_c ).
    /// Differentiable in the logits and, if it requires one, the target.
    public static func crossEntropy(logits: Tensor, targetProbabilities target: Tensor) -> Tensor {
        let (n, c, logp) = logits.logSoftmaxRows("crossEntropy")
        precondition(target.shape == logits.shape, "crossEntropy: target \(target.shape) differs from logits \(logits.shape)")
        let t = target.storage
        var acc = 0.0
        for i in 0..<(n * c) where t[i] != 0 { acc -= Double(t[i]) * Double(logp[i]) }
        let loss = Tensor(n > 0 ? Float(acc / Double(n)) : .nan)
        let (needL, needT) = (logits.requiresGrad, target.requiresGrad)
        return loss.recording("soft_cross_entropy", inputs: [logits, target]) { g in
            let k = g.item / Float(n)
            // d/dlogits_ic = (softmax_ic * sum_c' t_ic' - t_ic) / N;  d/dt_ic = -logp_ic / N
            let dl: Tensor? = needL ? Tensor(shape: [n, c]) { d in
                for i in 0..<n {
                    var ts: Float = 0
                    for j in 0..<c { ts += t[i * c + j] }
                    for j in 0..<c { d[i * c + j] = (Foundation.exp(logp[i * c + j]) * ts - t[i * c + j]) * k }
                }
            } : nil
            let dt: Tensor? = needT ? Tensor(shape: [n, c]) { d in
                for i in 0..<(n * c) { d[i] = -logp[i] * k }
            } : nil
            return [dl, dt]
        }
    }

    /// Knowledge-distillation loss (Hinton et al. 2015):
    /// T² · mean_i KL( softmax(teacher_i / T) ‖ softmax(student_i / T) ), the KL summed over
    /// classes and averaged over the batch (PyTorch `kl_div(..., reduction='batchmean')` · T²).
    /// Gradient w.r.t. the student logits, T/N · (p - q); w.r.t. the teacher logits when they
    /// require one, T/N · q · (log q - log p - KL_i).
    public static func klDivergence(studentLogits: Tensor, teacherLogits: Tensor, temperature: Float) -> Tensor {
        precondition(temperature > 0, "klDivergence: temperature must be positive, got \(temperature)")
        precondition(studentLogits.shape == teacherLogits.shape,
                     "klDivergence: student \(studentLogits.shape) and teacher \(teacherLogits.shape) differ")
        let (n, c, logp) = studentLogits.logSoftmaxRows("klDivergence", temperature: temperature)
        let (_, _, logq) = teacherLogits.logSoftmaxRows("klDivergence", temperature: temperature)
        var rowKL = [Float](repeating: 0, count: n)
        var acc = 0.0
        for i in 0..<n {
            var s = 0.0
            for j in 0..<c {
                let lq = Double(logq[i * c + j])
                s += Foundation.exp(lq) * (lq - Double(logp[i * c + j]))
            }
            rowKL[i] = Float(s)
            acc += s
        }
        let tt = temperature
        let loss = Tensor(n > 0 ? Float(Double(tt * tt) * acc / Double(n)) : .nan)
        let (needS, needT) = (studentLogits.requiresGrad, teacherLogits.requiresGrad)
        return loss.recording("kl_divergence", inputs: [studentLogits, teacherLogits]) { g in
            let k = g.item * tt / Float(n)
            let ds: Tensor? = needS ? Tensor(shape: [n, c]) { d in
                for i in 0..<(n * c) { d[i] = (Foundation.exp(logp[i]) - Foundation.exp(logq[i])) * k }
            } : nil
            let dt: Tensor? = needT ? Tensor(shape: [n, c]) { d in
                for i in 0..<n { for j in 0..<c {
                    let idx = i * c + j
                    d[idx] = Foundation.exp(logq[idx]) * (logq[idx] - logp[idx] - rowKL[i]) * k
                } }
            } : nil
            return [ds, dt]
        }
    }

    /// Mean squared error over all elements of two equal-shaped tensors.
    public static func mse(_ a: Tensor, _ b: Tensor) -> Tensor {
        elementwiseLoss("mse", a, b, value: { $0 * $0 }, derivative: { 2 * $0 })
    }

    /// Mean absolute error over all elements of two equal-shaped tensors (gradient sign(a - b),
    /// 0 where they are equal).
    public static func l1(_ a: Tensor, _ b: Tensor) -> Tensor {
        elementwiseLoss("l1", a, b, value: { Swift.abs($0) }, derivative: { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) })
    }

    /// mean(f(a - b)) with gradient f'(a - b) / count (negated for b).
    private static func elementwiseLoss(_ op: String, _ a: Tensor, _ b: Tensor,
                                        value: (Float) -> Float, derivative: @escaping (Float) -> Float) -> Tensor {
        precondition(a.shape == b.shape, "\(op): shapes \(a.shape) and \(b.shape) differ")
        let n = a.count
        let diff = a.detached().zipRaw(b.detached(), -)
        var acc = 0.0
        diff.storage.withUnsafeBufferPointer { d in for i in 0..<n { acc += Double(value(d[i])) } }
        let loss = Tensor(n > 0 ? Float(acc / Double(n)) : .nan)
        let (needA, needB) = (a.requiresGrad, b.requiresGrad)
        return loss.recording(op, inputs: [a, b]) { g in
            let k = g.item / Float(n)
            let da = diff.mapRaw { derivative($0) * k }
            return [needA ? da : nil, needB ? da.mapRaw { -$0 } : nil]
        }
    }
}
