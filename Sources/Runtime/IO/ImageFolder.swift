import Foundation

/// Lists an image folder dataset. With subfolders, the subfolders of `path`, sorted by name,
/// are the classes (label = index in that order); inside each, the image files (`.png`,
/// `.jpg`, `.jpeg`, extension matched case-insensitively, hidden files skipped) sorted by
/// name. Subfolders without images still count as classes so labels stay stable. A flat
/// folder (images, no subfolders) has no classes: its files come back with label -1.
/// Throws `IOError` when `path` is missing or not a directory, or holds no images at all.
public func listImageFolder(path: String) throws -> (files: [(path: String, label: Int)], classNames: [String]) {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
        throw IOError(path: path, message: "image folder does not exist")
    }
    guard isDir.boolValue else { throw IOError(path: path, message: "not a directory") }
    let base = URL(fileURLWithPath: path)
    func list(_ dir: URL) throws -> [String] {
        do { return try fm.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.sorted() } catch {
            throw IOError(path: dir.path, message: "cannot list directory: \(error.localizedDescription)")
        }
    }
    func images(_ names: [String]) -> [String] {
        names.filter { imageFileExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
    }
    let entries = try list(base)
    let classNames = entries.filter { name in
        var d: ObjCBool = false
        return fm.fileExists(atPath: base.appendingPathComponent(name).path, isDirectory: &d) && d.boolValue
    }
    guard !classNames.isEmpty else {
        let flat = images(entries)
        guard !flat.isEmpty else {
            throw IOError(path: path, message: "image folder is empty: expected .png/.jpg files, or one subfolder of them per class")
        }
        return (flat.map { (base.appendingPathComponent($0).path, -1) }, [])
    }
    var files: [(path: String, label: Int)] = []
    for (label, name) in classNames.enumerated() {
        let dir = base.appendingPathComponent(name)
        for f in images(try list(dir)) { files.append((dir.appendingPathComponent(f).path, label)) }
    }
    guard !files.isEmpty else {
        throw IOError(path: path, message: "image folder has class subfolders but no .png or .jpg files")
    }
    return (files, classNames)
}
