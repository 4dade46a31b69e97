import Testing
@testable import Runtime

/// The cached Winograd kernel transforms of frozen weights (WeightTransformCache): the same
/// results as computing them every call, never stale after the weight changes, bounded.
@Suite("Weight transform cache", .serialized)
struct WeightTransformCacheTests {
    /// A 3x3 stride-1 geometry that takes Winograd F(2x2, 3x3) by default, with a cached
    /// transform or without (10 x 10 = 100 of its tiles; 25 of F(4x4, 3x3)'s, too few for it).
    /// (Tests never set the global `ConvTuning.algorithm`: suites run in parallel.)
    private let xShape = [1, 16, 20, 20], wShape = [16, 16, 3, 3]

    @Test func frozenWeightsUseTheCacheAndAgreeWithUncached() {
        let x = randomTensor(xShape, seed: 1), w = randomTensor(wShape, seed: 2)
        let cache = WeightTransformCache.shared  // shared with suites running in parallel: ask about w only
        #expect(!cache.holds(w, kind: 0))
        let cached = x.conv2d(w, padding: [1, 1])            // w requires no gradient: cacheable
        #expect(cache.holds(w, kind: 0))
        let again = x.conv2d(w, padding: [1, 1])             // a hit: same U, same bytes
        // Exact on purpose: a hit reuses the identical U array, so the arithmetic is identical.
        #expect(again.scalars == cached.scalars)
        let trainable = w.requiringGrad()
        let uncached = x.conv2d(trainable, padding: [1, 1])  // trainable: computed in place, not kept
        // The same U computed twice by the same code; the GEMMs see the same operands.
        expectClose(cached, uncached.detached(), tol: 0)
        // The backward pass's flipped transform is cached as its own entry.
        #expect(!cache.holds(w, kind: 1))
        let xi = x.requiringGrad()
        _ = gradient(of: xi.conv2d(w, padding: [1, 1]).sum(), wrt: xi)
        #expect(cache.holds(w, kind: 1))
    }

    @Test func aWeightChangedInPlaceIsNeverServedAStaleTransform() throws {
        // The cache keys on the storage address and keeps the storage alive; an in-place write
        // must copy first (copy-on-write), so the new values get a new address and a new U.
        let x = randomTensor(xShape, seed: 3)
        let conv = GraphNode(name: "conv", opType: "Conv", inputs: ["x", "w"], outputs: ["y"],
                             attributes: ["pads": .ints([1, 1, 1, 1])])
        let g = try Graph(name: "one conv", inputs: [ValueInfo(name: "x", shape: xShape)], outputs: ["y"], nodes: [conv],
                          weights: ["w": randomTensor(wShape, seed: 4)])
        let before = try Autograd.noGrad { try g(x) }
        let replacement = randomTensor(wShape, seed: 5)
        try g.setWeight("w", replacement)                    // Parameter.assign: in place
        let after = try Autograd.noGrad { try g(x) }
        let expected = x.conv2d(replacement, padding: [1, 1])
        // Float rounding only: the same geometry and lowering, fresh weights on both sides.
        expectClose(after, expected, tol: 1e-5)
        #expect(before.maxAbsDifference(after) > 0.1)
    }

    @Test func theCacheStaysWithinItsBudget() {
        let cache = WeightTransformCache(budget: 1000)
        var kept: [Tensor] = []
        for i in 0..<10 {
            let w = randomTensor([100], seed: UInt64(10 + i))
            kept.append(w)
            _ = cache.transform(of: w, kind: 0, size: 300) { src, dst in
                for j in 0..<300 { dst[j] = src[j % 100] }
            }
            #expect(cache.usage.floats <= 1000)
        }
        #expect(cache.usage.entries == 3)
        // Larger than half the budget: computed, not kept.
        _ = cache.transform(of: randomTensor([100], seed: 99), kind: 0, size: 600) { _, dst in dst.update(repeating: 0, count: 600) }
        #expect(cache.usage.entries == 3)
    }

    @Test func f4IsChosenOnlyWithACachedTransformAndEnoughTiles() {
        // ResNet's layer1 at batch 1: 14 x 14 = 196 F(4x4, 3x3) tiles.
        var geo = Tensor.convGeometry(op: "t", input: [1, 64, 56, 56], weight: [64, 64, 3, 3], outChannels: 64,
                                      weightInChannels: 64, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1)
        geo.algorithm = .automatic
        geo.cacheWeightTransforms = true
        #expect(geo.usesWinograd && geo.winogradTile == 4)
        geo.cacheWeightTransforms = false
        #expect(geo.usesWinograd && geo.winogradTile == 2)
        // layer4 at batch 1: 2 x 2 tiles of F(4x4, 3x3).
        var small = Tensor.convGeometry(op: "t", input: [1, 512, 7, 7], weight: [512, 512, 3, 3], outChannels: 512,
                                        weightInChannels: 512, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1)
        small.cacheWeightTransforms = true
        #expect(small.winogradTile == 2)
        // layer4 at batch 16 has tiles enough, but 512 x 512 channels: F2's smaller U.
        var wide = Tensor.convGeometry(op: "t", input: [16, 512, 7, 7], weight: [512, 512, 3, 3], outChannels: 512,
                                       weightInChannels: 512, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1)
        wide.cacheWeightTransforms = true
        #expect(wide.winogradTile == 2)
    }

    @Test func trainableWeightsWithFewTilesUseIm2col() {
        // ResNet's layer4 geometry at batch 1 (16 tiles): Winograd only with a cached transform.
        var geo = Tensor.convGeometry(op: "t", input: [1, 512, 7, 7], weight: [512, 512, 3, 3], outChannels: 512,
                                      weightInChannels: 512, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1)
        geo.algorithm = .automatic
        geo.cacheWeightTransforms = true
        #expect(geo.usesWinograd)
        geo.cacheWeightTransforms = false
        #expect(!geo.usesWinograd)
    }

    @Test func tilePlanesAreNeverAMultipleOf4KiBApart() {
        for count in [1024, 2048, 8192, 50_176, 262_144, 12_544, 25_088, 1000, 1030, 5] {
            let p = ConvGeometry.paddedPlane(count)
            #expect(p >= count && p - count <= 1088)
            let r = p % 1024
            #expect(r >= 32 && r <= 992 || p < 1024)
        }
    }
}
