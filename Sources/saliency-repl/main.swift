import ArgumentParser
import Foundation
import Lang
import Runtime

struct SaliencyREPL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saliency-repl",
        abstract: "Explain CNN image classifiers with saliency maps: a notebook-style REPL and a script runner.",
        discussion: """
        MODES
          saliency-repl
              The interactive notebook: numbered cells, tab completion, inline
              pictures, :help for commands, Ctrl-C cancels a running cell.
          saliency-repl exec FILE [ARGS]     (or just saliency-repl FILE.sal)
              Runs a .sal script; ARGS are in the list `args`, except
              --set NAME=VALUE (fills the script's params({...}) defaults)
              and --dry-run (train() and accuracy() check their data and
              arguments without computing). Exit codes:
              0 ok, 65 script error (nothing ran), 70 runtime error.
          saliency-repl run PIPELINE.yaml [--set params.NAME=VALUE] [--out DIR] [--dry-run]
              (or just saliency-repl PIPELINE.yaml ...) Runs a YAML pipeline (load, model, explain, metric, save) and
              prints the summary table; --dry-run validates and prints the plan.
          saliency-repl run PIPELINE.yaml --fit-only | --shard K/N | --shard auto
          saliency-repl merge OUT      saliency-repl status OUT
              A run split into shards (one slice of the images each), merged
              into the outputs an unsharded run writes (see merge --help).
          saliency-repl submit PIPELINE.yaml --slurm|--k8s --shards N [--wait]
              The fit, the shards and the merge as Slurm jobs (submitted) or
              Kubernetes Jobs (written).
          --plugin PATH (repl, exec, run, submit; repeatable)
              Loads a plugin first: a compiled library (.so, .dylib) written
              against saliency_plugin.h, or a .sal script.
          --max-memory SIZE (repl, exec, run)
              The largest single buffer input may make us allocate (512M, 8G,
              50%; default half of physical memory): a larger decompressed
              file, image, batch or model tensor is an error naming its size.
          saliency-repl methods [--metrics | --datasets | --all] [--json]
              Lists the registered plugins with their parameters.
          saliency-repl kernel install [--user | --prefix P]
              Installs the Jupyter kernel: .sal notebooks in JupyterLab,
              Notebook and VS Code, with maps and tables inline.

        EXAMPLES
          $ saliency-repl
          In [1]: let m = model("lenet5")
          In [2]: let x = load("digit.png", size: 28, gray: true)
          In [3]: predict(m, x, top: 3)
          In [4]: let maps = explain(m, x, ["gradient", "gradcam"], target: 3)
          In [5]: show(maps)
          In [6]: save(maps["gradcam"], "gc.png", over: x, alpha: 0.5)
          In [7]: :save notebook.ipynb

          $ saliency-repl exec examples/basics.sal
          $ saliency-repl exec models/lenet-fmnist.sal --set out=/tmp/lenet.onnx
          $ saliency-repl run examples/quick.yaml --out out/quick
          $ echo 'print(1 + 2)' | saliency-repl
        """,
        version: "\(saliencyVersion) (GEMM: \(BLASInfo.gemmKernel))",
        subcommands: [Interactive.self, Exec.self, Run.self, Merge.self, Status.self, Submit.self, Methods.self, KernelCommand.self],
        defaultSubcommand: Interactive.self)
}

struct Interactive: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "repl", abstract: "The interactive notebook (the default).")
    @OptionGroup var plugins: PluginOptions
    @OptionGroup var memory: MemoryOptions
    func run() throws {
        memory.apply()
        let code = runREPL(plugins: plugins.paths)
        if code != 0 { throw ExitCode(code) }
    }
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a .sal script non-interactively.",
        discussion: """
        Arguments after the script go to the list `args`, except these two, which the
        script runner reads itself:
          --set NAME=VALUE   fills a default of the script's params({...}) (repeatable);
                             a NAME the script does not declare is an error
          --dry-run          train() and accuracy() check their data and arguments
                             without computing
        Exit codes: 0 ok, 65 script error (nothing ran), 70 runtime error.

        EXAMPLES
          saliency-repl exec examples/basics.sal
          saliency-repl exec models/lenet-fmnist.sal --set out=/tmp/lenet.onnx --dry-run
          saliency-repl examples/basics.sal          (a .sal file alone means exec)
        """)
    @OptionGroup var plugins: PluginOptions
    @OptionGroup var memory: MemoryOptions
    @ArgumentParser.Argument(help: "The script to run.") var script: String
    @ArgumentParser.Argument(parsing: .captureForPassthrough, help: "Arguments for the script (the list `args`).") var args: [String] = []

    func run() throws {
        memory.apply()
        let code = execScript(script, args: args, plugins: plugins.paths)
        if code != 0 { throw ExitCode(code) }
    }
}

/// `saliency-repl FILE.sal ...` means `exec FILE.sal ...`, and `saliency-repl FILE.yaml ...`
/// means `run FILE.yaml ...`: the file's extension names the mode.
func dispatched(_ args: [String]) -> [String] {
    guard let first = args.first, !first.hasPrefix("-") else { return args }
    switch (first as NSString).pathExtension.lowercased() {
    case "sal": return ["exec"] + args
    case "yaml", "yml": return ["run"] + args
    default: return args
    }
}

Threads.tuneAllocator()
SaliencyREPL.main(dispatched(Array(CommandLine.arguments.dropFirst())))
