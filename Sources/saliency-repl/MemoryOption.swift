import ArgumentParser
import Runtime

/// `--max-memory SIZE` on `repl`, `exec` and `run`: the memory budget (see MemoryBudget).
struct MemoryOptions: ParsableArguments {
    @Option(name: .customLong("max-memory"),
            help: ArgumentHelp("Largest single buffer to allocate for input data (a decompressed file, a decoded image, a batch, a tensor shaped by a model file): 512M, 8G, 50% (default: half of physical memory).",
                               valueName: "size"))
    var maxMemory: String?

    func validate() throws {
        if let s = maxMemory, MemoryBudget.parse(s) == nil {
            throw ValidationError("--max-memory takes a size such as 512M, 8G or 50%, got '\(s)'")
        }
    }

    /// Sets the process's budget (validate has checked the text).
    func apply() {
        if let s = maxMemory, let bytes = MemoryBudget.parse(s) { MemoryBudget.limit = bytes }
    }
}
