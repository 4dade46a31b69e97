import Runtime

/// ABPC: area between the LeRF and MoRF curves, mean over the iterations of LeRF − MoRF
/// (= AOPC_MoRF − AOPC_LeRF). Higher is better; a map no better than random order scores about
/// 0. Curve: LeRF − MoRF against the fraction of pixels replaced; extras "morf" and "lerf" hold
/// the two AOPCs. See `PixelFlipping` for the protocol and defaults.
public struct ABPCMetric: Metric {
    public init() {}
    public var name: String { "abpc" }
    public var summary: String { "area between the LeRF and MoRF perturbation curves, per iteration (higher is better)" }
    public var reference: String { "Samek et al., IEEE TNNLS 2017; as used in the Noise Mask thesis (section 4.2.3)" }
    public var parameters: [ParamSpec] { PixelFlipping.parameters }
    public var direction: MetricDirection { .higherIsBetter }
    public var curveAxes: (x: String, y: String) { ("fraction of pixels replaced by noise", "LeRF score - MoRF score") }
    public func evaluate(_ ctx: inout MetricContext) throws -> MetricResult {
        let r = try PixelFlipping.run(&ctx, metric: name, morf: true, lerf: true)
        // unreachable from input: run returns both curves when asked for both
        let morf = r.morf!, lerf = r.lerf!
        let diffs = zip(lerf, morf).map { l, m in zip(l, m).map { $0 - $1 } }
        return MetricResult(values: diffs.map { $0.reduce(0, +) / Double($0.count) },
                            curves: diffs.map { PixelFlipping.points(r.xs, $0) },
                            extras: ["morf": morf.map(PixelFlipping.aopc), "lerf": lerf.map(PixelFlipping.aopc)])
    }
}
