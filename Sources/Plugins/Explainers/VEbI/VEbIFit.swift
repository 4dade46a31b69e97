import Runtime

extension VEbIExplainer {
    /// §3.1: X^T [N, m] from batched inference passes that capture every pool layer, L^T
    /// [N, C] one-hot from the ground-truth labels (C = the model's classes), then Eq. 1 by
    /// `LassoSPG` with tau = mu. Scalars: `features_total` (m), `selected` (features with a
    /// non-zero weight for some class), `nonzeros` (non-zero entries of W), the solver's
    /// largest relative duality gap and iteration count over the classes, and how many
    /// classes stopped `converged`.
    public func fit(_ ctx: FitContext) throws -> FitState {
        let n = ctx.dataset.count
        let mu = try ctx.params.float("mu")
        guard let selection = FeaturePool.Selection(rawValue: try ctx.params.string("features") ?? ""),
              let response = FeaturePool.Response(rawValue: try ctx.params.string("response") ?? "") else {
            throw PluginError.invalid("'vebi': features and response must be set")
        }
        let first = try ctx.dataset.example(0).image
        let pool = try FeaturePool(graph: ctx.model, example: first.reshaped([1] + first.shape), selection: selection, response: response)
        let m = pool.count
        var design = [Float](repeating: 0, count: n * m)
        var labels: [Int] = []
        labels.reserveCapacity(n)
        var classes = 0
        let ranges = chunks(n, try ctx.params.int("batch_size"))
        for (done, r) in ranges.enumerated() {
            try ctx.cancellation.check()
            let batch = try ctx.dataset.batch(Array(r))
            guard Array(batch.images.shape.dropFirst()) == first.shape else {
                throw PluginError.invalid("'vebi': the dataset's images have different shapes (\(first.shape), \(Array(batch.images.shape.dropFirst()))); load it with size: to resize")
            }
            let out = try Autograd.noGrad { try ctx.model.forward(batch.images, options: ForwardOptions(capture: pool.names)) }
            let logits = try logitsChecked(out.output, model: ctx.model)
            classes = logits.shape[1]
            let x = try pool.descriptors(out.captured, images: r.count)
            design.replaceSubrange((r.lowerBound * m)..<(r.upperBound * m), with: x)
            labels += batch.labels
            ctx.progress?(done + 1, ranges.count + 1)
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) {
            throw PluginError.invalid("'vebi': the dataset has label \(bad) but the model has \(classes) classes (0...\(classes - 1))")
        }
        var onehot = [Float](repeating: 0, count: n * classes)
        for (i, l) in labels.enumerated() { onehot[i * classes + l] = 1 }
        try ctx.cancellation.check()
        let solved: LassoSPG.Result
        do {
            solved = try LassoSPG.solve(design: Tensor(shape: [n, m], data: design), targets: Tensor(shape: [n, classes], data: onehot),
                                        tau: mu, options: LassoSPG.Options(maxIterations: try ctx.params.int("max_iterations")))
        } catch let e as SolverError {
            throw PluginError.invalid("'vebi': \(e)")
        }
        ctx.progress?(ranges.count + 1, ranges.count + 1)
        let fitted = try RelevantFeatures(pool: pool, weights: solved.solution)
        let nonzeros = fitted.weights.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        return fitted.state(classNames: ctx.model.labels ?? ctx.dataset.classNames, scalars: [
            "features_total": Double(m),
            "selected": Double(fitted.selectedAny.count),
            "nonzeros": Double(nonzeros),
            "solver_max_relative_gap": solved.relativeGaps.max() ?? 0,
            "solver_max_iterations": Double(solved.iterations.max() ?? 0),
            "solver_converged_classes": Double(solved.status.filter { $0 == .converged }.count),
        ])
    }
}
