import Foundation

/// Summary of one metric over a dataset: mean, sample standard deviation and a 95%
/// confidence interval of the mean.
///
/// Choices (recorded because reports compare methods with them):
/// - `std` is the sample standard deviation (denominator n - 1), the usual choice when the
///   images are a sample of a larger population.
/// - The interval is mean ± q · std / √n with q the two-sided 97.5% quantile of Student's t
///   with n - 1 degrees of freedom for n < 30 (a table, exact to 4 decimals), and the normal
///   quantile 1.96 from n = 30 on, where t and normal differ by less than 2.5%.
/// - Non-finite values (a metric that is undefined for an image, e.g. a rank correlation of a
///   constant map) are left out, and `n` counts only the values used.
/// - With n = 0 everything is NaN; with n = 1 the mean is the value, std and interval are NaN
///   (one value says nothing about spread).
public struct Aggregate: Sendable, Equatable, CustomStringConvertible {
    public var mean: Double
    public var std: Double
    public var ci95Low: Double
    public var ci95High: Double
    public var n: Int

    public init(mean: Double, std: Double, ci95Low: Double, ci95High: Double, n: Int) {
        self.mean = mean; self.std = std; self.ci95Low = ci95Low; self.ci95High = ci95High; self.n = n
    }

    /// "0.4321 ± 0.0123 (95% CI 0.4198…0.4444, n=50)"
    public var description: String {
        let half = (ci95High - ci95Low) / 2
        return String(format: "%.4f ± %.4f (95%% CI %.4f…%.4f, n=%d)", mean, half.isNaN ? 0 : half, ci95Low, ci95High, n)
    }

    /// Two-sided 95% quantiles of Student's t for 1...29 degrees of freedom.
    static let tQuantile975: [Double] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452,
    ]

    /// The multiplier of the standard error for a 95% interval with n values (n >= 2).
    static func criticalValue(n: Int) -> Double {
        n < 30 ? tQuantile975[n - 2] : 1.959964
    }
}

/// Mean, sample std and 95% CI of `values` (see `Aggregate` for the conventions).
public func aggregate(_ values: [Double]) -> Aggregate {
    let xs = values.filter(\.isFinite)
    let n = xs.count
    guard n > 0 else { return Aggregate(mean: .nan, std: .nan, ci95Low: .nan, ci95High: .nan, n: 0) }
    let mean = xs.reduce(0, +) / Double(n)
    guard n > 1 else { return Aggregate(mean: mean, std: .nan, ci95Low: .nan, ci95High: .nan, n: 1) }
    let ss = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
    let std = (ss / Double(n - 1)).squareRoot()
    let half = Aggregate.criticalValue(n: n) * std / Double(n).squareRoot()
    return Aggregate(mean: mean, std: std, ci95Low: mean - half, ci95High: mean + half, n: n)
}
