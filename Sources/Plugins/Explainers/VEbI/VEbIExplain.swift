import Runtime

extension VEbIExplainer {
    /// §3.2 for each image of the batch (see the type's comment): rank the fitted pool's
    /// features by r = w_j ∘ x_i for the explained class j, visualise the top ones, combine by
    /// pixel-wise max (or return the `feature_rank`-th alone).
    public func explain(_ ctx: inout ExplainContext) throws -> Explanation {
        let fitted = try RelevantFeatures(state: try ctx.fittedState())
        guard let visualization = Visualization(rawValue: try ctx.params.string("visualization") ?? "") else {
            throw PluginError.invalid("'vebi': visualization must be set")
        }
        let top = try ctx.params.int("top"), rank = try ctx.params.int("feature_rank")
        let view = FeatureVisualization(visualization, pool: fitted.pool, resamplePools: try ctx.params.bool("resample_pools"))
        let images = ctx.images
        let (n, h, w, m) = (images.shape[0], images.shape[2], images.shape[3], fitted.pool.count)
        var map = [Float](repeating: 0, count: n * h * w)
        var used = [Double](repeating: 0, count: n), fallback = used
        var ranked = [[Double]](repeating: [Double](repeating: -1, count: n), count: top)
        let ranges = chunks(n, try ctx.params.int("batch_size"))
        for (done, r) in ranges.enumerated() {
            try ctx.cancellation.check()
            let pass = try view.forward(ctx.model, images.slice(axis: 0, r))
            let x = try fitted.pool.descriptors(pass.captured, images: r.count)
            var chosen: [[Int]] = []
            for (j, i) in r.enumerated() {
                let order = fitted.ranking(descriptor: x[(j * m)..<((j + 1) * m)], class: ctx.targets[i % ctx.targets.count],
                                           eligible: view.canShow)
                for k in 0..<Swift.min(top, order.features.count) { ranked[k][i] = Double(order.features[k]) }
                fallback[i] = order.fallback ? 1 : 0
                chosen.append(rank == 0 ? Array(order.features.prefix(top))
                              : order.features.count >= rank ? [order.features[rank - 1]] : [])
                used[i] = Double(chosen[j].count)
            }
            // Rank by rank: one backward pass serves every image's k-th feature.
            var combined = [Float](repeating: 0, count: r.count * h * w)
            for k in 0..<(chosen.map(\.count).max() ?? 0) {
                try ctx.cancellation.check()
                let heat = view.heatmaps(chosen.map { k < $0.count ? $0[k] : nil }, pass)
                heat.withUnsafeBufferPointer { p in for e in 0..<combined.count { combined[e] = Swift.max(combined[e], p[e]) } }
            }
            map.replaceSubrange((r.lowerBound * h * w)..<(r.upperBound * h * w), with: combined)
            ctx.progress?(done + 1, ranges.count)
        }
        var scalars = ["features_used": used, "fallback": fallback]
        for k in 0..<top { scalars["feature_\(k + 1)"] = ranked[k] }
        return Explanation(map: Tensor(shape: [n, 1, h, w], data: map), scalars: scalars)
    }
}
