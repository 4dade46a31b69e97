import Foundation

/// Lists a class-per-subfolder image dataset: the subfolders of `path`, sorted by name, are
/// the classes (label = index in that order); inside each, the `.png` files (extension
/// matched case-insensitively, hidden files skipped) sorted by name. Subfolders without PNGs
/// still count as classes so labels stay stable. Throws `IOError` when `path` is missing or
/// not a directory, has no subfolders, or no PNG files at all.
public func listImageFolder(path: String) throws -> (files: [(path: String, label: Int)], classNames: [String]) {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
        throw IOError(path: path, message: "image folder does not exist")
    }
    guard isDir.boolValue else { throw IOError(path: path, message: "not a directory") }
    let entries: [String]
    do { entries = try fm.contentsOfDirectory(atPath: path) } catch {
        throw IOError(path: path, message: "cannot list directory: \(error.localizedDescription)")
    }
    let base = URL(fileURLWithPath: path)
    let classNames = entries.filter { name in
        var d: ObjCBool = false
        return !name.hasPrefix(".")
            && fm.fileExists(atPath: base.appendingPathComponent(name).path, isDirectory: &d) && d.boolValue
    }.sorted()
    guard !classNames.isEmpty else {
        throw IOError(path: path, message: "image folder is empty: expected one subfolder per class")
    }
    var files: [(path: String, label: Int)] = []
    for (label, name) in classNames.enumerated() {
        let dir = base.appendingPathComponent(name)
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: dir.path) } catch {
            throw IOError(path: dir.path, message: "cannot list directory: \(error.localizedDescription)")
        }
        for f in names.sorted() where !f.hasPrefix(".") && f.lowercased().hasSuffix(".png") {
            files.append((dir.appendingPathComponent(f).path, label))
        }
    }
    guard !files.isEmpty else {
        throw IOError(path: path, message: "image folder has class subfolders but no .png files")
    }
    return (files, classNames)
}
