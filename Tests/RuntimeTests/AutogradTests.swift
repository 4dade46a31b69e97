import Testing
@testable import Runtime

@Suite("Autograd tape")
struct AutogradTests {
    @Test func gradientOfIntermediateAndReuse() {
        let x = Tensor(shape: [3], data: [1, 2, 3]).requiringGrad()
        let h = x * x            // used twice below: gradients must accumulate
        let y = (h + h * 2).sum()
        let (gx, gh) = { let g = gradients(of: y, wrt: [x, h]); return (g[0], g[1]) }()
        #expect(gh.scalars == [3, 3, 3])
        #expect(gx.scalars == [6, 12, 18])
    }

    @Test func backwardAccumulatesIntoLeaves() {
        let w = Tensor(shape: [2], data: [1, -1]).requiringGrad()
        (w * 3).sum().backward()
        (w * w).sum().backward()
        #expect(w.grad?.scalars == [5, 1])
        w.node?.zeroGrad()
        #expect(w.grad == nil)
    }

    @Test func noGradRecordsNothing() {
        let x = Tensor.ones([2]).requiringGrad()
        let y = Autograd.noGrad { x * 2 }
        #expect(!y.requiresGrad)
        #expect((x * 2).requiresGrad)
    }

    @Test func hooksReadAndReplaceGradients() {
        let x = Tensor(shape: [2], data: [1, 2]).requiringGrad()
        let h = x * 3
        var seen: [Float] = []
        h.registerHook { g in seen = g.scalars; return g * 10 }
        let gx = gradient(of: h.sum(), wrt: x)
        #expect(seen == [1, 1])
        #expect(gx.scalars == [30, 30])
    }

    @Test func customGradientOverridesTheRule() {
        let x = Tensor(shape: [2], data: [1, 2]).requiringGrad()
        // Forward is x^2 but we declare the backward to be identity (a straight-through rule).
        let y = Tensor.customGradient(inputs: [x], forward: { $0[0] * $0[0] }, backward: { g in [g] })
        #expect(y.scalars == [1, 4])
        #expect(gradient(of: y.sum(), wrt: x).scalars == [1, 1])
    }

    @Test func seedGradientAndUnrelatedInputs() {
        let x = Tensor(shape: [2], data: [1, 2]).requiringGrad()
        let z = Tensor(shape: [2], data: [5, 5]).requiringGrad()
        let y = x * 4
        let g = gradients(of: y, wrt: [x, z], seed: Tensor(shape: [2], data: [1, 0.5]))
        #expect(g[0].scalars == [4, 2])
        #expect(g[1].scalars == [0, 0])
    }
}
