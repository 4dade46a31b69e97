import ArgumentParser
import Foundation
import Kernel

/// `saliency-repl kernel`: the Jupyter kernel, and `kernel install` for its kernelspec.
struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel",
        abstract: "The Jupyter kernel: .sal cells in JupyterLab, Notebook and VS Code.",
        discussion: """
        Install the kernelspec once, then pick "saliency-repl (.sal)" in Jupyter:
          saliency-repl kernel install --user
          jupyter lab
        Jupyter starts the kernel itself with a connection file:
          saliency-repl kernel --connection-file FILE
        """,
        subcommands: [KernelStart.self, KernelInstall.self],
        defaultSubcommand: KernelStart.self)
}

struct KernelStart: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Serve one notebook (Jupyter runs this).")
    @OptionGroup var plugins: PluginOptions
    @Option(help: ArgumentHelp("The connection file Jupyter wrote (ports and signing key).", valueName: "file"))
    var connectionFile: String

    func run() throws {
        let server: KernelServer
        do { server = try KernelServer(connectionFile: connectionFile) } catch {
            Terminal().error("error: \(error)")
            throw ExitCode(66)
        }
        guard loadPlugins(plugins.paths, into: server.kernel.session.interpreter, term: Terminal()) else { throw ExitCode(65) }
        try server.serve()
    }
}

struct KernelInstall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Write the kernelspec (kernel.json and logos) where Jupyter finds it.",
        discussion: """
        Without --prefix the spec goes to your Jupyter data directory (as --user).
        `jupyter kernelspec list` shows it. --plugin paths are stored in the spec:
        every notebook on this kernel loads them first.
        """)
    @Flag(help: "Install for this user (the default).") var user = false
    @OptionGroup var plugins: PluginOptions
    @Option(help: ArgumentHelp("Install into PREFIX/share/jupyter/kernels (a virtualenv or conda prefix).", valueName: "prefix"))
    var prefix: String?

    func validate() throws {
        if user && prefix != nil { throw ValidationError("--user and --prefix exclude each other") }
    }

    func run() throws {
        let kernels = prefix.map(Kernelspec.kernelsDirectory(prefix:)) ?? Kernelspec.userKernelsDirectory()
        let executable = Bundle.main.executableURL?.path ?? CommandLine.arguments[0]
        do {
            let cwd = FileManager.default.currentDirectoryPath
            // Notebooks start in their own directory: plugin paths must not be relative.
            let plugins = plugins.paths.map { $0.hasPrefix("/") ? $0 : (cwd as NSString).appendingPathComponent($0) }
            if let missing = plugins.first(where: { !FileManager.default.fileExists(atPath: $0) }) {
                throw KernelError.install("no plugin at \(missing)")
            }
            let dir = try Kernelspec.install(kernelsDirectory: kernels, executable: executable, plugins: plugins)
            print("installed kernelspec \(Kernelspec.name) in \(dir)")
        } catch {
            Terminal().error("error: \(error)")
            throw ExitCode(73)
        }
    }
}
