import Foundation
import Testing

/// Helpers for running the shipped example pipelines for real in a debug build.
enum ExamplePipeline {
    /// A copy of `examples/<name>` in `dir` with each `(text, replacement)` applied: every
    /// text must occur exactly `count` times in the example (so an edit of the example that
    /// changes what the test reduces fails here, not silently), and `../models/` becomes the
    /// repository's models directory. Returns the copy's path.
    static func reducedCopy(of name: String, in dir: String, replacing substitutions: [(String, String, count: Int)]) throws -> String {
        var text = try String(contentsOfFile: repositoryRoot + "/examples/" + name, encoding: .utf8)
        for (old, new, count) in substitutions + [("path: ../models/", "path: \(repositoryRoot)/models/", 0)] {
            let found = text.components(separatedBy: old).count - 1
            if count > 0 { try #require(found == count, "examples/\(name) has \(found) x \(old.debugDescription), the test reduces \(count)") }
            text = text.replacingOccurrences(of: old, with: new)
        }
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The environment of this process with the fit cache moved to `cache` (tests never write
    /// into the user's ~/.cache).
    static func environment(cache: String) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["SALIENCY_CACHE_DIR"] = cache
        return env
    }
}

/// A scores CSV as the `save` step writes it: per-image rows, then one `mean` row per
/// (model, method, metric).
struct ScoresCSV {
    static let header = "image,model,method,metric,value"
    static let summaryHeader = "model,method,metric,n,mean,std,ci95_low,ci95_high"
    /// Per-image rows of `path`, then one row per aggregate of `NAME-summary.csv` in the same
    /// 9-column layout the two files replaced (image "mean", value = mean, n, std, CI), so checks
    /// read both at once.
    let rows: [[String]]

    init(rows: [[String]]) { self.rows = rows }

    /// The rows of one model (a file that holds several models' comparisons).
    func only(model: String) -> ScoresCSV { ScoresCSV(rows: rows.filter { $0.count > 1 && $0[1] == model }) }

    init(path: String) throws {
        func lines(_ file: String, header: String) throws -> [[String]] {
            let all = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
            try #require(all.first == header, "\(file) starts with \(all.first ?? "nothing")")
            return all.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        }
        let perImage = try lines(path, header: Self.header)
        let summary = try lines((path as NSString).deletingPathExtension + "-summary.csv", header: Self.summaryHeader)
        rows = perImage.map { $0 + ["", "", "", ""] } + summary.map { s in
            s.count == 8 ? ["mean", s[0], s[1], s[2], s[4], s[3], s[5], s[6], s[7]] : s
        }
    }

    /// Checks that every (method, metric) of `methods` x `metrics` has exactly `images` per-image
    /// rows (images 0..<images) and a mean row over `images`, all for `model`, with finite values
    /// inside the metric's range, and that there are no other rows.
    func check(model: String, methods: [String], metrics: [String: ClosedRange<Double>], images: Int, file: String) {
        #expect(rows.allSatisfy { $0.count == 9 }, "\(file): a row without 9 columns")
        #expect(rows.count == methods.count * metrics.count * (images + 1),
                "\(file): \(rows.count) rows for \(methods.count) methods x \(metrics.count) metrics x (\(images) images + mean)")
        for method in methods {
            for (metric, range) in metrics {
                let mine = rows.filter { $0.count == 9 && $0[1] == model && $0[2] == method && $0[3] == metric }
                #expect(mine.map { $0[0] } == (0..<images).map(String.init) + ["mean"], "\(file): \(method) \(metric) rows \(mine.map { $0[0] })")
                for row in mine {
                    let v = Double(row[4])
                    #expect(v.map { $0.isFinite && range.contains($0) } == true, "\(file): \(method) \(metric) image \(row[0]) = \(row[4])")
                }
                #expect(mine.last?[5] == String(images), "\(file): the mean of \(method) \(metric) is over \(mine.last?[5] ?? "?") images")
            }
        }
    }
}
