import Foundation
import Testing

/// examples/quick.yaml's report.html as a person sees it: rendered by headless Chromium
/// (Debian's `chromium`, installed by scripts/bootstrap). The screenshot stays in
/// .build/test-artifacts/report-quick.png for a person to look at.
@Suite("The report in a browser", .serialized)
struct ReportBrowserTests {
    static var chromium: String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
            .map { "\($0)/chromium" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs Chromium headless on `url` with `args`, under a 120 s timeout and its own profile.
    static func runChromium(_ args: [String], url: String, profile: String) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        p.arguments = ["120", try #require(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile)",
                       "--enable-logging=stderr", "--v=0"] + args + [url]
        let output = Pipe(), error = Pipe()
        p.standardOutput = output; p.standardError = error
        try p.run()
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = error.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// Runs in the page before anything else: collects script errors, failed loads and
    /// console.error calls; after `load` it writes what it measured into #render-check.
    static let probe = """
        <script>
        window.__errors = [];
        window.addEventListener('error', e => window.__errors.push('error: ' + (e.message || (e.target && e.target.outerHTML.slice(0, 80)))), true);
        const __consoleError = console.error;
        console.error = (...a) => { window.__errors.push('console.error: ' + a.join(' ')); __consoleError(...a); };
        window.addEventListener('load', () => {
          const images = Array.from(document.images);
          const clipped = [], overlapping = [];
          for (const svg of document.querySelectorAll('svg')) {
            const box = svg.getBoundingClientRect();
            const frame = svg.querySelector('rect.plot');
            if (!frame) overlapping.push('(no plot frame)');
            const plot = frame ? frame.getBoundingClientRect() : box;
            for (const t of svg.querySelectorAll('text')) {
              const r = t.getBoundingClientRect();
              if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) clipped.push(t.textContent);
              if (t.classList.contains('legend') && r.left < plot.right) overlapping.push(t.textContent);
            }
          }
          const out = document.createElement('pre');
          out.id = 'render-check';
          out.textContent = JSON.stringify({
            images: images.length, broken: images.filter(i => !i.complete || i.naturalWidth === 0).length,
            charts: document.querySelectorAll('svg').length, clipped, overlapping, errors: window.__errors,
            firstSection: (document.querySelector('h2') || {textContent: ''}).textContent,
            foldedPipeline: Array.from(document.querySelectorAll('details pre')).some(p => p.textContent.includes('name: quick')),
            openDetails: document.querySelectorAll('details[open]').length,
            gridHeaders: Array.from(document.querySelectorAll('table.grid tr:first-child th')).map(th => th.textContent),
            headerFontPx: document.querySelector('table.grid th') ? parseFloat(getComputedStyle(document.querySelector('table.grid th')).fontSize) : 0
          });
          document.body.appendChild(out);
        });
        </script>
        """

    struct Check: Decodable {
        var images: Int, broken: Int, charts: Int, clipped: [String], overlapping: [String], errors: [String]
        var firstSection: String, foldedPipeline: Bool, openDetails: Int, gridHeaders: [String], headerFontPx: Double
    }

    @Test func quickReportRendersItsImagesAndChartsWithoutErrors() throws {
        guard Self.chromium != nil else {
            Issue.record("chromium is not on the PATH: scripts/bootstrap installs it (Debian package chromium)")
            return
        }
        let dir = try freshDirectory("report-browser")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runREPLBinary(["run", repositoryRoot + "/examples/quick.yaml", "--out", dir + "/quick", "--quiet"])
        #expect(r.code == 0, "stderr: \(r.err)")
        let report = dir + "/quick/report.html"

        // The page as written: a screenshot (kept) and no console errors.
        let artifacts = repositoryRoot + "/.build/test-artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let shot = artifacts + "/report-quick.png"
        try? FileManager.default.removeItem(atPath: shot)
        let s = try Self.runChromium(["--hide-scrollbars", "--window-size=1400,2000", "--screenshot=\(shot)"],
                                     url: "file://" + report, profile: dir + "/profile-shot")
        #expect(s.code == 0, "chromium: \(s.err.suffix(2000))")
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "screenshot: \(png.count) bytes")
        let consoleLines = s.err.split(separator: "\n").filter { $0.contains("CONSOLE") }
        #expect(consoleLines.isEmpty, "console: \(consoleLines)")

        // The same page with the probe first in <head>: what loaded, what is cut off.
        let html = try String(contentsOfFile: report, encoding: .utf8)
        let probed = dir + "/quick/report-probed.html"
        try html.replacingOccurrences(of: "<meta charset=\"utf-8\">", with: "<meta charset=\"utf-8\">" + Self.probe)
            .write(toFile: probed, atomically: true, encoding: .utf8)
        let d = try Self.runChromium(["--virtual-time-budget=10000", "--dump-dom"], url: "file://" + probed, profile: dir + "/profile-dom")
        #expect(d.code == 0, "chromium: \(d.err.suffix(2000))")
        guard let start = d.out.range(of: "<pre id=\"render-check\">"), let end = d.out.range(of: "</pre>", range: start.upperBound..<d.out.endIndex) else {
            Issue.record("the probe wrote nothing; chromium stderr: \(d.err.suffix(2000))")
            return
        }
        let json = String(d.out[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        let check = try JSONDecoder().decode(Check.self, from: Data(json.utf8))
        // 4 images x (input + 4 methods) in the montage grid, every one decoded.
        #expect(check.images == 20 && check.broken == 0, "\(check.images) images, \(check.broken) broken")
        #expect(check.errors.isEmpty, "\(check.errors)")
        // deletion and insertion curves (png_size has none): ticks, titles and legends inside
        // the picture, legends right of the plot.
        #expect(check.charts == 2)
        #expect(check.clipped.isEmpty, "text cut off: \(check.clipped)")
        #expect(check.overlapping.isEmpty, "legend over the plot: \(check.overlapping)")
        // Results first, the pipeline's text folded at the end, every method named in full.
        #expect(check.firstSection == "maps")
        #expect(check.foldedPipeline && check.openDetails == 0)
        #expect(check.gridHeaders == ["", "input", "gradient", "gradcam", "integrated_gradients", "occlusion"])
        #expect(check.headerFontPx >= 12)
    }
}

/// `rows:` on a pipeline's save step reaches the montage, and the note says what it leaves out.
@Suite("Montage rows in pipelines")
struct MontageRowsPipelineTests {
    /// Width and height from a PNG's IHDR chunk.
    static func pngSize(_ path: String) throws -> (width: Int, height: Int) {
        let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func be32(_ i: Int) -> Int { b[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (be32(16), be32(20))
    }

    @Test func saveStepTakesRows() throws {
        let dir = try freshDirectory("montage-rows")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let yaml = """
            version: 1
            name: rows
            seed: 1
            steps:
              - load: {dataset: fashion-mnist, split: test, limit: 5, as: data}
              - model: {path: \(repositoryRoot)/models/lenet-fmnist.onnx, as: lenet}
              - explain: {model: lenet, data: data, methods: [gradient], as: maps}
              - save: {value: maps, path: first8.png}
              - save: {value: maps, path: two.png, rows: [4, 0]}
            """
        try yaml.write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
        let r = try runREPLBinary(["run", dir + "/p.yaml", "--out", dir + "/out"])
        #expect(r.code == 0, "stderr: \(r.err)")
        #expect(r.out.contains("note: two.png: 2 of 5 images shown; rows: picks others"), "\(r.out)")
        #expect(!r.out.contains("first8.png: "))
        // 140 px cells + 4 px padding per row. The note (39 characters) wraps to two 20 px
        // lines + padding: the montage is 450 px wide (row labels up to "#0 Ankle boot", 13
        // characters, 158 px; input and gradient, 2 x 144 px), 37 characters of 2x text.
        let all = try Self.pngSize(dir + "/out/first8.png"), two = try Self.pngSize(dir + "/out/two.png")
        #expect(all.width == two.width)
        #expect(all.width == 450 && all.height - two.height == 3 * 144 - (2 * 20 + 4))
    }
}
