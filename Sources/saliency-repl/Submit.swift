import ArgumentParser
import Foundation
import Lang

struct Submit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pipeline sharded on a cluster: Slurm jobs (submitted) or Kubernetes manifests (written).",
        discussion: """
        Three jobs: the fit (run --fit-only: methods that learn from data are fitted once,
        into the fit cache the other jobs share), the shards (an array of N tasks, each
        run --shard auto/N --resume, after the fit succeeded) and the merge (merge OUT, after
        every shard succeeded). The current directory, OUT and the fit cache must be on a
        filesystem every node sees; every job runs in the current directory.

        SLURM (--slurm)
        Writes OUT/slurm/{fit,shards,merge}.sbatch and submits them with sbatch (dependencies
        afterok); prints the job ids and where the logs go (OUT/slurm/logs). --wait blocks
        until the merge finished and exits 0 only if it wrote the outputs; if a job failed,
        the jobs that can then never start are cancelled and the failed shards are named.
        Rerun a failed shard K alone, then the merge:
          sbatch --array=K OUT/slurm/shards.sbatch
          sbatch OUT/slurm/merge.sbatch

        KUBERNETES (--k8s)
        Writes OUT/k8s/{fit,shards,merge}.yaml (the shards an Indexed Job with N completions)
        and OUT/k8s/run.sh, which applies them in order with kubectl, waiting for each. The
        image must have saliency-repl on its PATH; --volume-claim is mounted at the current
        directory. Nothing is submitted.

        EXAMPLES
          saliency-repl submit examples/quick.yaml --slurm --shards 4 --wait
          saliency-repl submit big.yaml --slurm --shards 32 --partition cpu --time 4:00:00 --sbatch-arg=--mem=8G
          saliency-repl submit big.yaml --k8s --shards 32 --image registry.example/saliency-repl:1 --volume-claim lab-data
        """)

    @ArgumentParser.Argument(help: "The pipeline file (.yaml).") var pipeline: String
    @Flag(help: "Submit Slurm jobs with sbatch.") var slurm = false
    @Flag(help: "Write Kubernetes Job manifests (not submitted).") var k8s = false
    @Option(help: "Number of shards.") var shards: Int
    @Option(help: "Directory for outputs (default: out/<pipeline name>).") var out: String?
    @Option(name: .customLong("set"), help: "Override a parameter: --set params.NAME=VALUE (repeatable).") var overrides: [String] = []
    @OptionGroup var plugins: PluginOptions
    @Option(help: "The fit cache the jobs share (default: $SALIENCY_CACHE_DIR, else OUT/cache).") var cacheDir: String?
    @Option(help: "Slurm partition.") var partition: String?
    @Option(help: "Slurm time limit of each job (sbatch --time), e.g. 4:00:00.") var time: String?
    @Option(name: .customLong("sbatch-arg"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Another sbatch option for every job, e.g. --sbatch-arg=--mem=8G (repeatable).", valueName: "option"))
    var sbatchArgs: [String] = []
    @Flag(help: "Slurm: wait for the merge; exit 0 only when the merged outputs are written.") var wait = false
    @Option(help: "Kubernetes: the container image (saliency-repl on its PATH).") var image = "saliency-repl:latest"
    @Option(help: "Kubernetes: the PersistentVolumeClaim mounted at the current directory.") var volumeClaim = "saliency-work"

    func validate() throws {
        guard slurm != k8s else { throw ValidationError("say where: --slurm or --k8s") }
        guard shards >= 1 else { throw ValidationError("--shards must be at least 1") }
        if wait && k8s { throw ValidationError("--wait is for --slurm (--k8s submits nothing)") }
    }

    func run() throws {
        let code = submit()
        if code != 0 { throw ExitCode(code) }
    }

    func submit() -> Int32 {
        let term = Terminal()
        // The pipeline is checked here, so a wrong one fails now, not in the fit job.
        let p: Pipeline
        do { p = try validatedPipeline(pipeline, overrides: overrides, plugins: plugins.paths, into: Interpreter(), term: term).pipeline }
        catch { return (error as? CommandFailure)?.code ?? 65 }
        let output = out ?? "out/\(p.name)"
        let cache = absolutePath(cacheDir ?? ProcessInfo.processInfo.environment["SALIENCY_CACHE_DIR"].flatMap { $0.isEmpty ? nil : $0 }
                                 ?? (output as NSString).appendingPathComponent("cache"))
        let jobs = ClusterJobs(name: p.name, pipeline: pipeline, output: output, directory: FileManager.default.currentDirectoryPath,
                               shards: shards, overrides: overrides, plugins: plugins.paths, cacheDirectory: cache)
        do {
            if k8s { return try writeKubernetes(jobs) }
            let slurmJobs = SlurmSubmission(jobs: jobs, options: ClusterJobs.SlurmOptions(
                binary: executablePath(), logs: absolutePath((output as NSString).appendingPathComponent("slurm/logs")),
                partition: partition, time: time, extra: sbatchArgs))
            let ids = try slurmJobs.submit()
            return wait ? slurmJobs.wait(for: ids) : 0
        } catch {
            term.error("submit: \(error)")
            return 69
        }
    }

    func writeKubernetes(_ jobs: ClusterJobs) throws -> Int32 {
        let dir = (jobs.output as NSString).appendingPathComponent("k8s")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for job in ClusterJobs.Job.allCases {
            try jobs.kubernetesManifest(job, image: image, claim: volumeClaim)
                .write(toFile: (dir as NSString).appendingPathComponent("\(job.rawValue).yaml"), atomically: true, encoding: .utf8)
        }
        let script = (dir as NSString).appendingPathComponent("run.sh")
        try jobs.kubernetesScript(manifests: dir).write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        print("""
        wrote \(dir)/fit.yaml, shards.yaml (an Indexed Job of \(jobs.shards)), merge.yaml; nothing was submitted.
        run them in order (each waits for the previous one): sh \(script)
        the image \(image) needs saliency-repl on its PATH; the claim \(volumeClaim) is mounted at \(jobs.directory)
        (the pipeline, its models and data, \(jobs.output) and the fit cache \(jobs.cacheDirectory) must be on it)
        progress: saliency-repl status \(jobs.output)
        """)
        return 0
    }

    /// This program's own path, for the job scripts.
    func executablePath() -> String {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        return absolutePath(Bundle.main.executablePath ?? CommandLine.arguments[0])
    }
}
