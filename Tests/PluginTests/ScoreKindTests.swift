import Foundation
import Testing
@testable import Plugins
import Runtime

/// The explained score (`score: logit | prob | logprob`) against a softmax computed by hand
/// in Double on a linear model, logits l = W x + b: with p = softmax(l) and t the target,
/// d l_t / dx = W_t, d p_t / dx = p_t (W_t - sum_k p_k W_k), d log p_t / dx = W_t - sum_k p_k W_k.
@Suite("Score kinds")
struct ScoreKindTests {
    static let (classes, d) = (3, 6)
    static let weights = TinyNets.formula(classes * d, 0.7, 0.1, 0.5)
    static let bias = TinyNets.formula(classes, 1.9, 0.3, 0.5)
    static let images = Tensor(shape: [2, 1, 2, 3], data: TinyNets.formula(12, 0.53, 0.2, 0.5).map { 0.5 + $0 })

    static func model() throws -> Graph {
        let b = GraphBuilder(name: "score-linear", inputShape: [1, 2, 3])
        try b.flatten(name: "flatten")
        try b.linear(name: "fc", out: classes)
        let g = try b.build()
        try g.setWeight("fc.weight", Tensor(shape: [classes, d], data: weights))
        try g.setWeight("fc.bias", Tensor(shape: [classes], data: bias))
        return g
    }

    /// Logits and probabilities of image `i`, in Double.
    static func hand(_ i: Int) -> (logits: [Double], p: [Double]) {
        let x = images.scalars[(i * d)..<((i + 1) * d)].map(Double.init)
        let l = (0..<classes).map { k in (0..<d).reduce(Double(bias[k])) { $0 + Double(weights[k * d + $1]) * x[$1] } }
        let e = l.map { Foundation.exp($0 - l.max()!) }
        let s = e.reduce(0, +)
        return (l, e.map { $0 / s })
    }

    /// The hand gradient of image `i`'s score for class t.
    static func handGradient(_ i: Int, target t: Int, score: ScoreKind) -> [Double] {
        let p = hand(i).p
        let wt = (0..<d).map { Double(weights[t * d + $0]) }
        let mean = (0..<d).map { e in (0..<classes).reduce(0.0) { $0 + p[$1] * Double(weights[$1 * d + e]) } }
        switch score {
        case .logit: return wt
        case .logprob: return zip(wt, mean).map { $0 - $1 }
        case .prob: return zip(wt, mean).map { p[t] * ($0 - $1) }
        }
    }

    @Test(arguments: ScoreKind.allCases)
    func gradientOfEachScoreMatchesTheHandSoftmax(_ score: ScoreKind) throws {
        let g = try Self.model()
        for t in 0..<Self.classes {
            let s = try explain(GradientExplainer(), model: g, images: Self.images, target: .index(t), score: score)
            let a = try #require(s.attribution).scalars
            for i in 0..<2 {
                let want = Self.handGradient(i, target: t, score: score)
                // float32 softmax and its backward on logits below 3: a few ulps of values below 2.
                for e in 0..<Self.d {
                    #expect(abs(Double(a[i * Self.d + e]) - want[e]) < 2e-6, "\(score) class \(t) image \(i) pixel \(e): \(a[i * Self.d + e]) vs \(want[e])")
                }
            }
        }
    }

    @Test func targetScoresAreTheHandLogitProbabilityAndLogProbability() throws {
        let g = try Self.model()
        let logits = try g(Self.images)
        for score in ScoreKind.allCases {
            let ctx = ExplainContext(model: g, images: Self.images, targets: [2, 0], params: Params(), score: score)
            let got = ctx.targetScores(logits)
            for (i, t) in [2, 0].enumerated() {
                let (l, p) = Self.hand(i)
                let want = score == .logit ? l[t] : score == .prob ? p[t] : Foundation.log(p[t])
                // float32 logits of 6 products and a float32 (log-)softmax: ~1e-7 of values below 3.
                #expect(abs(Double(got[i]) - want) < 1e-6, "\(score) image \(i): \(got[i]) vs \(want)")
            }
        }
        // The fixture tells the kinds apart: probabilities well inside (0, 1).
        for i in 0..<2 { #expect(Self.hand(i).p.allSatisfy { $0 > 0.04 && $0 < 0.8 }) }
    }
}
