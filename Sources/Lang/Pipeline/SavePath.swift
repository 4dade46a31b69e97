import Foundation

/// Where a pipeline may write: its save paths are relative to `--out` and must stay inside
/// it, symlinks included. A pipeline file is data a user may have been sent; `../../x`, an
/// absolute path or a `--set params.p=...` must not overwrite files elsewhere. (Scripts run
/// with `exec` are programs and write where they say, like any program.)
public enum SavePath {
    /// Why `path` cannot be a save path, judged from its text alone; nil when it can.
    public static func lexicalProblem(_ path: String) -> String? {
        if path.isEmpty { return "the save path is empty: name a file under --out, such as scores.csv" }
        if path.contains("\0") { return "the save path contains a NUL character" }
        if path.hasPrefix("/") || path.hasPrefix("~") {
            return "'\(path)' is not relative: save paths are relative to --out and stay inside it"
        }
        var depth = 0
        for c in path.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            depth += c == ".." ? -1 : 1
            if depth < 0 { return "'\(path)' leaves the output directory: save paths are relative to --out and stay inside it" }
        }
        let last = (path as NSString).lastPathComponent
        if depth == 0 || path.hasSuffix("/") || last == "." || last == ".." {
            return "'\(path)' names a directory, not a file: add a file name, such as \(path.hasSuffix("/") ? path : path + "/")scores.csv"
        }
        return nil
    }

    /// `path` made absolute and resolved through every symlink that exists; components past
    /// the deepest existing one are appended as written (nothing there can be a link yet).
    /// Nil for a dangling symlink, which could be made to point anywhere later.
    public static func resolved(_ path: String) -> String? {
        let cwd = FileManager.default.currentDirectoryPath
        var existing = path.hasPrefix("/") ? path : (cwd as NSString).appendingPathComponent(path)
        var rest: [String] = []
        while true {
            if let real = realPath(existing) {
                var parts = real.split(separator: "/").map(String.init)
                for c in rest {
                    if c == "." || c.isEmpty { continue }
                    if c == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(c) }
                }
                return "/" + parts.joined(separator: "/")
            }
            var st = stat()
            if lstat(existing, &st) == 0 { return nil }
            let parent = (existing as NSString).deletingLastPathComponent
            if parent == existing { return nil }
            rest.insert((existing as NSString).lastPathComponent, at: 0)
            existing = parent
        }
    }

    static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    /// Why `relative` under `directory` is not inside it once symlinks are followed; nil
    /// when it is.
    public static func containmentProblem(_ relative: String, under directory: String) -> String? {
        let dir = directory.isEmpty ? "." : directory
        guard let root = resolved(dir) else { return "the output directory '\(dir)' is a dangling symlink" }
        let full = (dir as NSString).appendingPathComponent(relative)
        guard let target = resolved(full) else { return "'\(full)' goes through a dangling symlink" }
        if target.hasPrefix(root == "/" ? "/" : root + "/") && target != root { return nil }
        return "'\(full)' resolves to \(target), outside the output directory \(root) (through a symlink): save paths stay inside --out"
    }
}
