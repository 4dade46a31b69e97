import Foundation
import Testing
@testable import Plugins
import Runtime

/// Cancellation in the Trainer never leaves the half-updated weights of an unfinished epoch.
@Suite struct TrainerCancellationTests {
    func net(seed: UInt64) throws -> Graph {
        let b = GraphBuilder(name: "tiny", inputShape: [1, 8, 8], seed: seed)
        try b.conv(name: "conv", out: 4, kernel: 3, padding: 1)
        try b.relu(name: "relu")
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: 2)
        return try b.build()
    }

    func same(_ a: [String: Tensor], _ b: [String: Tensor]) -> Bool {
        a.keys.sorted() == b.keys.sorted() && a.allSatisfy { b[$0.key]!.scalars == $0.value.scalars }
    }

    @Test func cancellingTheFirstEpochRestoresTheInitialWeightsAndThrows() throws {
        let g = try net(seed: 1)
        let initial = g.weights
        let token = CancellationToken()
        #expect(throws: PluginError.self) {
            try train(g, on: BarsDataset(count: 64, seed: 1), epochs: 3, batchSize: 8, seed: 0, batchProgress: { done, _ in
                if done == 3 { token.cancel() }
            }, stopEarlyOnCancel: true, cancellation: token)
        }
        #expect(same(g.weights, initial))
        #expect(g.trainable.isEmpty)
    }

    @Test func withoutStopEarlyACancelThrowsWithTheBestEpochsWeights() throws {
        let g = try net(seed: 2)
        let token = CancellationToken()
        var records: [EpochRecord] = []
        var snapshots: [[String: [Float]]] = []  // copied by the test at each epoch's end
        #expect(throws: PluginError.self) {
            try train(g, on: BarsDataset(count: 64, seed: 1), validation: BarsDataset(count: 32, seed: 2), epochs: 4, batchSize: 8, seed: 0,
                      progress: { records.append($0); snapshots.append(g.weights.mapValues(\.scalars)) }, batchProgress: { done, _ in
                          if records.count == 2 && done == 2 { token.cancel() }
                      }, cancellation: token)
        }
        #expect(records.count == 2)
        let accs = records.compactMap(\.validationAccuracy)
        let best = try #require(accs.indices.max { accs[$0] < accs[$1] || (accs[$0] == accs[$1] && $0 > $1) })
        // The best finished epoch's weights are back, bit for bit (a copy, no arithmetic).
        #expect(g.weights.mapValues(\.scalars) == snapshots[best])
    }

    @Test func stopEarlyReturnsTheBestEpochSoFar() throws {
        let g = try net(seed: 3)
        let token = CancellationToken()
        var records: [EpochRecord] = []
        var snapshots: [[String: [Float]]] = []  // copied by the test at each epoch's end
        let report = try train(g, on: BarsDataset(count: 64, seed: 1), validation: BarsDataset(count: 32, seed: 2), epochs: 5, batchSize: 8,
                               learningRate: 0.01, seed: 0, progress: {
                                   records.append($0); snapshots.append(g.weights.mapValues(\.scalars))
                                   if records.count == 3 { token.cancel() }
                               }, stopEarlyOnCancel: true, cancellation: token)
        #expect(report.interrupted && report.epochs.count == 3)
        #expect(report.bestAccuracy == records.compactMap(\.validationAccuracy).max())
        #expect(g.weights.mapValues(\.scalars) == snapshots[report.bestEpoch])
    }
}
