import Foundation

/// A line chart of named series as inline SVG, for the HTML report: axes with "nice" ticks
/// whose labels fit inside the picture, axis titles, and the legend to the right of the plot
/// (never over the curves), one entry per series with its area under the curve when asked.
/// Up to 20 series have distinct styles: ten colours, solid, then the same ten dashed
/// (a third, dotted round after that).
struct CurveChart {
    var series: [(name: String, points: [(x: Double, y: Double)])]
    var xLabel: String
    var yLabel: String
    /// Whether legend entries carry the trapezoid area under the curve ("AUC 0.397").
    var showArea: Bool

    /// Matplotlib's tab10 colours: distinct for the common forms of colour blindness too.
    static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    static let dashes = ["", "7 3", "2 2"]

    /// Stroke colour and dash pattern of series k.
    static func style(_ k: Int) -> (color: String, dash: String) {
        (colors[k % colors.count], dashes[(k / colors.count) % dashes.count])
    }

    /// Trapezoid area under a curve, in its x order.
    static func area(_ points: [(x: Double, y: Double)]) -> Double {
        zip(points, points.dropFirst()).reduce(0) { $0 + ($1.1.x - $1.0.x) * ($1.0.y + $1.1.y) / 2 }
    }

    /// About `count` round tick values (steps of 1, 2 or 5 times a power of ten) covering lo...hi.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> (values: [Double], step: Double) {
        let span = hi > lo ? hi - lo : Swift.max(Swift.abs(lo), 1)
        let raw = span / Double(Swift.max(count, 1))
        let magnitude = pow(10, floor(log10(raw)))
        let step = ([1.0, 2, 5, 10].first { $0 * magnitude >= raw } ?? 10) * magnitude
        let first = floor(lo / step + 1e-9) * step
        var values: [Double] = []
        var v = first
        // The last tick is at or above hi, so no curve runs over the top of the plot.
        repeat { values.append(v); v += step } while values.count < 2 || (values.last ?? hi) < hi - step * 1e-9
        return (values, step)
    }

    /// A tick value with as many decimals as the step needs ("0.2", "150", "0.05").
    static func tickLabel(_ v: Double, step: Double) -> String {
        let decimals = Swift.max(0, Int(-floor(log10(step) + 1e-9)))
        let s = String(format: "%.\(decimals)f", v)
        return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s
    }

    var svg: String {
        let xs = series.flatMap { $0.points.map(\.x) }.filter(\.isFinite)
        let ys = series.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
        guard let x0 = xs.min(), let x1 = xs.max(), let ylo = ys.min(), let yhi = ys.max() else { return "" }
        let xt = CurveChart.ticks(x0, x1), yt = CurveChart.ticks(Swift.min(ylo, 0), yhi)
        let xLo = Swift.min(x0, xt.values.first ?? x0), xHi = Swift.max(x1, xt.values.last ?? x1)
        let yLo = yt.values.first ?? ylo, yHi = yt.values.last ?? yhi
        let yTickLabels = yt.values.map { CurveChart.tickLabel($0, step: yt.step) }
        // Text widths are estimated at 0.6 em per character (system sans-serif at 11-12 px).
        let charW = 6.6
        let (plotW, plotH, top) = (440.0, 260.0, 12.0)
        let left = 22 + Double(yTickLabels.map(\.count).max() ?? 1) * charW + 8
        let bottom = 46.0
        let legend = series.enumerated().map { k, s -> String in
            showArea ? "\(s.name) (AUC \(String(format: "%.3f", CurveChart.area(s.points))))" : s.name
        }
        let legendX = left + plotW + 20
        let legendW = 30 + Double(legend.map(\.count).max() ?? 0) * charW
        let width = legendX + legendW + 8
        let height = Swift.max(top + plotH + bottom, top + 18 * Double(legend.count) + 8)
        func px(_ x: Double) -> Double { left + (x - xLo) / Swift.max(xHi - xLo, 1e-12) * plotW }
        func py(_ y: Double) -> Double { top + plotH - (y - yLo) / Swift.max(yHi - yLo, 1e-12) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width.rounded(.up)))\" height=\"\(Int(height.rounded(.up)))\" "
            + "viewBox=\"0 0 \(Int(width.rounded(.up))) \(Int(height.rounded(.up)))\" font-family=\"system-ui, sans-serif\">"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        for (v, label) in zip(yt.values, yTickLabels) {
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(py(v)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(py(v)))\" stroke=\"#eee\"/>"
            svg += "<text class=\"tick\" x=\"\(f(left - 6))\" y=\"\(f(py(v) + 4))\" text-anchor=\"end\" font-size=\"11\">\(label)</text>"
        }
        for v in xt.values where v >= xLo - 1e-12 && v <= xHi + 1e-12 {
            svg += "<line x1=\"\(f(px(v)))\" y1=\"\(f(top + plotH))\" x2=\"\(f(px(v)))\" y2=\"\(f(top + plotH + 4))\" stroke=\"#333\"/>"
            svg += "<text class=\"tick\" x=\"\(f(px(v)))\" y=\"\(f(top + plotH + 17))\" text-anchor=\"middle\" font-size=\"11\">\(CurveChart.tickLabel(v, step: xt.step))</text>"
        }
        svg += "<rect class=\"plot\" x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>"
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH + 38))\" text-anchor=\"middle\" font-size=\"12\">\(HTMLReport.escape(xLabel))</text>"
        svg += "<text x=\"14\" y=\"\(f(top + plotH / 2))\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 \(f(top + plotH / 2)))\">\(HTMLReport.escape(yLabel))</text>"
        for (k, s) in series.enumerated() {
            let (color, dash) = CurveChart.style(k)
            let dashAttr = dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\""
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite }.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\"\(dashAttr) points=\"\(pts)\"/>"
            let ly = top + 10 + 18 * Double(k)
            svg += "<line x1=\"\(f(legendX))\" y1=\"\(f(ly))\" x2=\"\(f(legendX + 22))\" y2=\"\(f(ly))\" stroke=\"\(color)\" stroke-width=\"2.2\"\(dashAttr)/>"
            svg += "<text class=\"legend\" x=\"\(f(legendX + 28))\" y=\"\(f(ly + 4))\" font-size=\"11\">\(HTMLReport.escape(legend[k]))</text>"
        }
        return svg + "</svg>"
    }
}
