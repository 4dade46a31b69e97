import Foundation
import Testing
@testable import Plugins
@testable import Runtime

/// The perturbation and sampling methods run their batches (and Noise Mask the parts of its
/// batch) concurrently, each on one thread (`Threads.forEachItem`). Random draws stay on the
/// calling thread in a fixed order and sums accumulate in batch order, so a seed gives the
/// same maps as the serial run: compared here with every loop forced serial
/// (`Threads.insideItem`, as inside an item). Tolerance 1e-5 (relative to the map's
/// largest value): the serial run's GEMMs are not split over threads, which may change the
/// rounding of a product's blocks, nothing else.
@Suite("Concurrent batches give the serial maps")
struct ParallelExplainTests {
    let registry = Registry.shared

    func maps(_ name: String, _ g: Graph, _ x: Tensor, params: [String: ParamValue]) throws -> (split: Tensor, serial: Tensor) {
        let e = try registry.explainer(name)
        var rng = RandomGenerator(seed: 5)
        let state = e.capabilities.contains(.fits)
            ? try fit(e, model: g, dataset: TensorDataset(images: Tensor.uniform([6] + Array(x.shape.dropFirst()), rng: &rng)), params: params)
            : nil
        func run() throws -> Tensor { try explain(e, model: g, images: x, params: params, seed: 42, fitted: state).map }
        return (try run(), try Threads.$insideItem.withValue(true) { try run() })
    }

    @Test(arguments: [
        ("rise", ["masks": ParamValue.int(40), "batch_size": .int(8)]),
        ("smoothgrad", ["samples": .int(6), "batch_size": .int(4)]),
        ("vargrad", ["samples": .int(6), "batch_size": .int(4)]),
        ("integrated_gradients", ["steps": .int(8), "batch_size": .int(4)]),
        ("expected_gradients", ["samples": .int(6), "batch_size": .int(4)]),
        ("occlusion", ["window": .int(4), "stride": .int(2), "batch_size": .int(5)]),
        ("noise_mask", ["max_iterations": .int(12), "beta_draws": .int(2)]),
    ])
    func seededMapsDoNotDependOnThreads(_ name: String, _ params: [String: ParamValue]) throws {
        let g = try TinyNets.randomCNN()
        var rng = RandomGenerator(seed: 9)
        let x = Tensor.uniform([3, 3, 16, 16], rng: &rng)
        let (split, serial) = try maps(name, g, x, params: params)
        let scale = serial.scalars.map(Swift.abs).max() ?? 0
        #expect(scale > 0)
        #expect(split.maxAbsDifference(serial) <= 1e-5 * Swift.max(scale, 1), "\(name)")
    }

    /// Deletion and insertion score their batches concurrently: the same curves as serially.
    @Test func perturbationCurvesDoNotDependOnThreads() throws {
        let g = try TinyNets.randomCNN()
        var rng = RandomGenerator(seed: 10)
        let x = Tensor.uniform([3, 3, 16, 16], rng: &rng)
        let map = SaliencyMap(map: Tensor.uniform([3, 1, 16, 16], rng: &rng), method: "given", params: Params(), targets: [0, 1, 2])
        for name in ["deletion", "insertion"] {
            let m = try registry.metric(name)
            // A batch size that leaves a partial last batch and batches spanning two images.
            let params: [String: ParamValue] = ["step": .int(10), "batch_size": .int(7)]
            let split = try evaluate(m, model: g, images: x, saliency: map, params: params)
            let serial = try Threads.$insideItem.withValue(true) { try evaluate(m, model: g, images: x, saliency: map, params: params) }
            // Probabilities in [0, 1]; see the suite's comment for the tolerance.
            for (a, b) in zip(split.values, serial.values) { #expect(Swift.abs(a - b) <= 1e-5, "\(name)") }
            for (a, b) in zip(split.curves ?? [], serial.curves ?? []) {
                #expect(a.count == 27 && b.count == 27)
                for (p, q) in zip(a, b) { #expect(p.x == q.x && Swift.abs(p.y - q.y) <= 1e-5, "\(name)") }
            }
        }
    }
}
