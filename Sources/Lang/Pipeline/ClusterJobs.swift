import Foundation

/// The three jobs of a sharded pipeline run on a cluster: `fit` (once, fills the shared fit
/// cache), `shards` (N tasks, `run --shard auto/N`, after the fit) and `merge` (after every
/// shard). `saliency-repl submit` writes them as Slurm batch scripts and submits them, or as
/// Kubernetes Job manifests (the shards an Indexed Job) for `kubectl apply`.
///
/// Every job runs in the directory `submit` ran in, with the pipeline, `--set` values and
/// plugins as given there, so the pipeline's relative paths mean the same on every node;
/// that directory, OUT and the fit cache must be on a filesystem all nodes share.
public struct ClusterJobs: Sendable {
    public enum Job: String, CaseIterable, Sendable { case fit, shards, merge }

    public var name: String
    public var pipeline: String
    public var output: String
    /// Absolute working directory of every job.
    public var directory: String
    public var shards: Int
    public var overrides: [String]
    public var plugins: [String]
    /// Absolute fit cache directory (`SALIENCY_CACHE_DIR` of every job).
    public var cacheDirectory: String

    public init(name: String, pipeline: String, output: String, directory: String, shards: Int, overrides: [String],
                plugins: [String], cacheDirectory: String) {
        self.name = name; self.pipeline = pipeline; self.output = output; self.directory = directory; self.shards = shards
        self.overrides = overrides; self.plugins = plugins; self.cacheDirectory = cacheDirectory
    }

    /// The saliency-repl arguments of a job.
    public func arguments(_ job: Job) -> [String] {
        let common = overrides.flatMap { ["--set", $0] } + plugins.flatMap { ["--plugin", $0] }
        switch job {
        case .fit: return ["run", pipeline, "--out", output, "--fit-only"] + common
        // --resume: a rerun of a task (by hand, or a Kubernetes retry) reuses what it finished.
        case .shards: return ["run", pipeline, "--out", output, "--shard", "auto/\(shards)", "--resume", "--quiet"] + common
        case .merge: return ["merge", output, "--shards", String(shards)]
        }
    }

    func purpose(_ job: Job) -> String {
        switch job {
        case .fit: return "fits the methods that learn from data, once, into the shared fit cache"
        case .shards: return "one shard of the images per task (\(shards) shards), after the fit"
        case .merge: return "assembles the outputs from the shards, after all of them"
        }
    }

    /// A job name: `sal-NAME-JOB`, lower case letters, digits and dashes (Kubernetes' rule for
    /// names; Slurm accepts it too), at most 63 characters.
    public func jobName(_ job: Job) -> String { "sal-\(slug)-\(job.rawValue)" }

    /// The pipeline's name in lower case letters, digits and single dashes, at most 50 characters.
    var slug: String {
        let cleaned = String(name.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" })
            .split(separator: "-").joined(separator: "-")
        return cleaned.isEmpty ? "pipeline" : String(cleaned.prefix(50)).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
    }

    // MARK: Slurm

    public struct SlurmOptions: Sendable {
        public var binary: String
        /// Absolute folder for the jobs' logs.
        public var logs: String
        public var partition: String?
        public var time: String?
        /// Further `#SBATCH` options, as given (`--mem=8G`).
        public var extra: [String]
        public init(binary: String, logs: String, partition: String? = nil, time: String? = nil, extra: [String] = []) {
            self.binary = binary; self.logs = logs; self.partition = partition; self.time = time; self.extra = extra
        }
    }

    /// Where a job's log goes (`%j` job id, `%A_%a` array job id and task).
    public func slurmLog(_ job: Job, _ o: SlurmOptions) -> String {
        (o.logs as NSString).appendingPathComponent(job == .shards ? "shard-%A_%a.out" : "\(job.rawValue)-%j.out")
    }

    /// The batch script of a job. Dependencies are given to sbatch when submitting (the ids are
    /// known only then); everything else is in the script, so a job resubmits by hand as is
    /// (`sbatch --array=2 shards.sbatch` reruns shard 2: `--shard auto/N` takes the task id as
    /// the shard index).
    public func slurmScript(_ job: Job, _ o: SlurmOptions) -> String {
        var lines = ["#!/bin/bash",
                     "# Written by saliency-repl submit: \(purpose(job)).",
                     "# Pipeline \(pipeline) (\(name)), output \(output), in \(directory).",
                     "#SBATCH --job-name=\(jobName(job))",
                     "#SBATCH --chdir=\(directory)",
                     "#SBATCH --output=\(slurmLog(job, o))"]
        if job == .shards { lines.append("#SBATCH --array=0-\(shards - 1)") }
        if let p = o.partition { lines.append("#SBATCH --partition=\(p)") }
        if let t = o.time { lines.append("#SBATCH --time=\(t)") }
        lines += o.extra.map { "#SBATCH \($0)" }
        lines.append("export SALIENCY_CACHE_DIR=\(Self.shellQuoted(cacheDirectory))")
        lines.append("exec " + ([o.binary] + arguments(job)).map(Self.shellQuoted).joined(separator: " "))
        return lines.joined(separator: "\n") + "\n"
    }

    /// `s` as one shell word.
    public static func shellQuoted(_ s: String) -> String {
        if !s.isEmpty && s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/._-=+:,@%".contains($0)) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    // MARK: Kubernetes

    /// The manifest of a job: the shards an Indexed Job (one pod per shard; the index reaches
    /// `--shard auto/N` as JOB_COMPLETION_INDEX), fit and merge plain Jobs. The volume claim is
    /// mounted at the working directory, so paths are the same as where `submit` ran.
    public func kubernetesManifest(_ job: Job, image: String, claim: String) -> String {
        let q = Self.yamlQuoted
        let labels = "{app: saliency-repl, job: \(job.rawValue), pipeline: \(slug)}"
        var spec = ["  backoffLimit: \(job == .shards ? 2 * shards : 2)"]
        if job == .shards {
            spec = ["  completionMode: Indexed", "  completions: \(shards)", "  parallelism: \(shards)"] + spec
        }
        let command = (["saliency-repl"] + arguments(job)).map(q).joined(separator: ", ")
        return ([
            "# Written by saliency-repl submit --k8s: \(purpose(job)).",
            "# Pipeline \(pipeline) (\(name)), output \(output); apply after the previous job completed (see run.sh).",
            "apiVersion: batch/v1",
            "kind: Job",
            "metadata:",
            "  name: \(jobName(job))",
            "  labels: \(labels)",
            "spec:",
        ] + spec + [
            "  template:",
            "    metadata:",
            "      labels: \(labels)",
            "    spec:",
            "      restartPolicy: Never",
            "      containers:",
            "        - name: \(job.rawValue)",
            "          image: \(q(image))",
            "          workingDir: \(q(directory))",
            "          command: [\(command)]",
            "          env:",
            "            - {name: SALIENCY_CACHE_DIR, value: \(q(cacheDirectory))}",
            "          volumeMounts:",
            "            - {name: work, mountPath: \(q(directory))}",
            "      volumes:",
            "        - name: work",
            "          persistentVolumeClaim: {claimName: \(q(claim))}",
        ]).joined(separator: "\n") + "\n"
    }

    /// The commands that run the three manifests in order (`OUT/k8s/run.sh`).
    public func kubernetesScript(manifests: String) -> String {
        var lines = ["#!/bin/sh", "# Written by saliency-repl submit --k8s: the fit, the \(shards) shards, the merge, each after the previous one.", "set -e"]
        for job in Job.allCases {
            let file = Self.shellQuoted((manifests as NSString).appendingPathComponent("\(job.rawValue).yaml"))
            lines.append("kubectl apply -f \(file)")
            lines.append("kubectl wait --for=condition=complete --timeout=168h job/\(jobName(job))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `s` as a YAML double-quoted scalar (a JSON string is one).
    static func yamlQuoted(_ s: String) -> String {
        let e = JSONEncoder()
        e.outputFormatting = .withoutEscapingSlashes
        return (try? e.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}
