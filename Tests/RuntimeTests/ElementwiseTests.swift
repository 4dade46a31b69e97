import Testing
@testable import Runtime

@Suite("Elementwise ops")
struct ElementwiseTests {
    let gc = GradCheck()

    @Test func broadcastingForward() {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3], data: [10, 20, 30])
        expectClose(a + b, Tensor(shape: [2, 3], data: [11, 22, 33, 14, 25, 36]))
        let c = Tensor(shape: [2, 1], data: [2, 3])
        expectClose(a * c, Tensor(shape: [2, 3], data: [2, 4, 6, 12, 15, 18]))
        expectClose(a - 1, Tensor(shape: [2, 3], data: [0, 1, 2, 3, 4, 5]))
        expectClose(1 / Tensor(shape: [2], data: [2, 4]), Tensor(shape: [2], data: [0.5, 0.25]))
    }

    @Test func binaryGradientsWithBroadcasting() {
        let a = randomTensor([2, 3, 4], seed: 1), b = randomTensor([3, 1], seed: 2)
        gc.check([a, b]) { $0[0] + $0[1] }
        gc.check([a, b]) { $0[0] - $0[1] }
        gc.check([a, b]) { $0[0] * $0[1] }
        gc.check([a, randomTensor([3, 1], seed: 3, low: 0.5, high: 2)]) { $0[0] / $0[1] }
        gc.check([a]) { -$0[0] }
    }

    @Test func unaryGradients() {
        let x = awayFromZero([3, 5], seed: 4)
        let pos = randomTensor([3, 5], seed: 5, low: 0.2, high: 2)
        gc.check([x]) { $0[0].exp() }
        gc.check([pos]) { $0[0].log() }
        gc.check([pos]) { $0[0].sqrt() }
        gc.check([x]) { $0[0].abs() }
        gc.check([x]) { $0[0].squared() }
        gc.check([pos]) { $0[0].pow(2.5) }
        gc.check([pos, randomTensor([5], seed: 6, low: 0.5, high: 2)]) { $0[0].pow($0[1]) }
        gc.check([x]) { $0[0].sigmoid() }
        gc.check([x]) { $0[0].tanh() }
        gc.check([x]) { $0[0].relu() }
        gc.check([x]) { $0[0].leakyRelu(0.2) }
        gc.check([x]) { $0[0].clamped(min: -2, max: 0.05) }  // |x| >= 0.1: no value near a bound
        gc.check([x, randomTensor([3, 5], seed: 7)]) { Tensor.where($0[0].greater(Tensor(0)), $0[0], $0[1]) }
    }

    @Test func reluRules() {
        let x = Tensor(shape: [4], data: [-1, 2, -3, 4]).requiringGrad()
        let seed = Tensor(shape: [4], data: [1, -1, 1, 1])
        #expect(gradient(of: x.relu(), wrt: x, seed: seed).scalars == [0, -1, 0, 1])
        #expect(gradient(of: x.relu(rule: .guided), wrt: x, seed: seed).scalars == [0, 0, 0, 1])
        #expect(gradient(of: x.relu(rule: .deconvnet), wrt: x, seed: seed).scalars == [1, 0, 1, 1])
    }

    @Test func whereNeverLeaksTheUnselectedBranch() {
        let c = Tensor(shape: [3], data: [1, 0, 1])
        let y = Tensor.where(c, Tensor(shape: [3], data: [1, 2, 3]), Tensor(-Float.infinity))
        #expect(y.scalars == [1, -.infinity, 3])
    }

    @Test func randomIsSeeded() {
        var r1 = RandomGenerator(seed: 7), r2 = RandomGenerator(seed: 7)
        let a = Tensor.normal([100], rng: &r1), b = Tensor.normal([100], rng: &r2)
        #expect(a.scalars == b.scalars)
        var r3 = RandomGenerator(seed: 8)
        let u = Tensor.uniform([10_000], rng: &r3)
        let m = u.mean().item
        #expect(Swift.abs(m - 0.5) < 0.02)
        #expect(u.scalars.allSatisfy { $0 >= 0 && $0 < 1 })
        let bern = Tensor.bernoulli([10_000], p: 0.3, rng: &r3).mean().item
        #expect(Swift.abs(bern - 0.3) < 0.02)
        let n = Tensor.normal([20_000], mean: 1, std: 2, rng: &r3)
        let std = ((n - n.mean()).squared().mean()).sqrt().item
        #expect(Swift.abs(n.mean().item - 1) < 0.05 && Swift.abs(std - 2) < 0.05)
    }
}
