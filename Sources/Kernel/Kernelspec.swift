import Foundation
import Runtime

/// The kernelspec Jupyter finds the kernel by: `kernels/saliency-repl/kernel.json` (how to
/// start it) and two logos, under a Jupyter data directory.
public enum Kernelspec {
    public static let name = "saliency-repl"

    /// `plugins` are loaded by every kernel started from the spec (absolute paths).
    public static func spec(executable: String, plugins: [String] = []) -> JSONObject {
        [
            "argv": [executable, "kernel"] + plugins.flatMap { ["--plugin", $0] } + ["--connection-file", "{connection_file}"],
            "display_name": "saliency-repl (.sal)",
            "language": "sal",
            // interrupt_request on the control channel works where signals cannot reach
            // (remote and containerised kernels); SIGINT interrupts a cell too.
            "interrupt_mode": "message",
            "metadata": ["debugger": false] as JSONObject,
        ]
    }

    /// `--user`: the user's Jupyter data directory (JUPYTER_DATA_DIR, else the platform's
    /// default, as `jupyter --data-dir` reports it).
    public static func userKernelsDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let data: String
        if let d = environment["JUPYTER_DATA_DIR"], !d.isEmpty {
            data = d
        } else {
            #if os(macOS)
            data = home + "/Library/Jupyter"
            #else
            let xdg = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.local/share"
            data = xdg + "/jupyter"
            #endif
        }
        return data + "/kernels"
    }

    /// `--prefix P`: P/share/jupyter/kernels, where Jupyter looks for an environment's kernels.
    public static func kernelsDirectory(prefix: String) -> String {
        (prefix as NSString).appendingPathComponent("share/jupyter/kernels")
    }

    /// Writes the kernelspec into `kernelsDirectory/saliency-repl/`, replacing an older one.
    /// Returns the directory written.
    @discardableResult
    public static func install(kernelsDirectory: String, executable: String, plugins: [String] = []) throws -> String {
        let dir = (kernelsDirectory as NSString).appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let json = try JSONSerialization.data(withJSONObject: spec(executable: executable, plugins: plugins), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try writeFileAtomically(Array(json) + [10], to: (dir as NSString).appendingPathComponent("kernel.json"))
            for size in [32, 64] {
                try writeFileAtomically(try encodePNG(logo(size: size)), to: (dir as NSString).appendingPathComponent("logo-\(size)x\(size).png"))
            }
        } catch {
            throw KernelError.install("cannot install the kernelspec into \(dir): \(error)")
        }
        return dir
    }

    /// The logo: a saliency blob through the jet colormap, drawn by the runtime's renderer.
    static func logo(size: Int) -> Tensor {
        let c = Float(size - 1) / 2
        let blob = Tensor(shape: [size, size]) { out in
            for y in 0..<size {
                for x in 0..<size {
                    // Two bumps: a hot spot up left and a weaker one down right.
                    let dx = Float(x) - c * 0.8, dy = Float(y) - c * 0.8
                    let ex = Float(x) - c * 1.45, ey = Float(y) - c * 1.4
                    let s = Float(size) * Float(size)
                    out[y * size + x] = exp(-(dx * dx + dy * dy) / (0.12 * s)) + 0.55 * exp(-(ex * ex + ey * ey) / (0.05 * s))
                }
            }
        }
        return renderMap(blob, colormap: .jet)
    }
}
