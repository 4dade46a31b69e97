import Runtime

/// Which images a montage draws, one row each: the first n (8 unless `rows:` says otherwise)
/// or the listed image indices. A montage that leaves images out says so in a note drawn
/// under it and printed, so a 2,000-image batch never looks like an 8-image one.
public enum MontageRows: Sendable, Equatable {
    case first(Int)
    case indices([Int])

    public static let standard = MontageRows.first(8)

    /// `rows:` as a user writes it: a count (`rows: 16`) or image indices (`rows: [0, 5, 9]`).
    public init(_ v: Value?) throws {
        guard let v else { self = .standard; return }
        func index(_ x: Value) -> Int? {
            guard case let .number(d) = x, d.rounded() == d, d >= 0, d < 1e9 else { return nil }
            return Int(d)
        }
        switch v {
        case let .number(d) where d.rounded() == d && d >= 1 && d < 1e9:
            self = .first(Int(d))
        case let .list(items) where !items.isEmpty:
            let ks = items.compactMap(index)
            guard ks.count == items.count else { throw LangError.arguments("'rows' must be a count or a list of image indices (whole numbers >= 0), got \(v.printed)") }
            self = .indices(ks)
        default:
            throw LangError.arguments("'rows' must be a count of images (at least 1) or a list of image indices, got \(v.printed)")
        }
    }

    /// The image indices drawn, in order, out of `total`.
    public func resolve(total: Int) throws -> [Int] {
        switch self {
        case let .first(n): return Array(0..<Swift.min(n, total))
        case let .indices(ks):
            if let bad = ks.first(where: { $0 >= total }) {
                throw LangError.arguments("'rows' lists image \(bad), but there are \(total) image(s) (0...\(Swift.max(total - 1, 0)))")
            }
            return ks
        }
    }

    /// What the montage leaves out, or nil when it shows every image.
    public static func note(shown: [Int], total: Int) -> String? {
        let distinct = Set(shown).count
        guard distinct < total else { return nil }
        return "\(shown.count) of \(total) images shown; rows: picks others"
    }
}

extension Builtins {
    /// A montage of `columns` (label, per-image RGB pictures) over the images `rows` picks:
    /// row labels "#i target", the note when images are left out. Returns the picture and note.
    static func mapMontage(columns: [(label: String, cell: (Int) -> Tensor)], targets: [String]?, total: Int,
                           imageSize: Int, rows: MontageRows) throws -> (picture: Tensor, note: String?) {
        let shown = try rows.resolve(total: total)
        let grid = shown.map { i in columns.map { $0.cell(i) } }
        let labels = shown.map { i in targets.map { i < $0.count ? "#\(i) \($0[i])" : "#\(i)" } ?? "#\(i)" }
        let note = MontageRows.note(shown: shown, total: total)
        return (montage(rows: grid, rowLabels: labels, columnLabels: columns.map(\.label),
                        cellSize: montageCellSize(forImageSize: imageSize), note: note), note)
    }
}

extension Builtins {
    /// The montage of a comparison or of a record of maps (one row per image, one column per
    /// method; a record's maps are drawn alone, after the input), with its caption and the
    /// note when `rows` leaves images out; nil for other values.
    static func montagePicture(_ v: Value, rows: MontageRows) throws -> (picture: Tensor, caption: String, note: String?)? {
        switch v {
        case let .comparison(c):
            let (pic, note) = try c.montageImage(rows: rows)
            return (pic, "\(c.name): inputs and maps (jet overlays)", note)
        case let .record(r) where isMontage(v):
            let maps = r.pairs.compactMap { k, v -> (String, MapValue)? in if case let .saliency(m) = v { return (k, m) }; return nil }
            guard let first = maps.first?.1 else { return nil }
            let total = maps.map { $0.1.map.count }.min() ?? 0
            var columns: [(label: String, cell: (Int) -> Tensor)] = []
            if [1, 3].contains(first.images.shape[1]) {
                columns.append((label: "input", cell: { i in displayable(first.images.slice(axis: 0, i..<(i + 1))) }))
            }
            for (key, m) in maps {
                columns.append((label: key, cell: { i in renderMap(m.map.map.slice(axis: 0, i..<(i + 1)), colormap: .jet) }))
            }
            let size = Swift.max(first.map.map.shape[2], first.map.map.shape[3])
            let (pic, note) = try mapMontage(columns: columns, targets: first.map.targetNames ?? first.map.targets.map(String.init),
                                             total: total, imageSize: size, rows: rows)
            return (pic, r.keys.joined(separator: ", "), note)
        default:
            return nil
        }
    }
}

extension Builtins {
    /// Whether `save(v, "x.png")` writes a montage (a comparison or a record of maps).
    static func isMontage(_ v: Value) -> Bool {
        switch v {
        case .comparison: return true
        case let .record(r): return !r.keys.isEmpty && r.pairs.allSatisfy { if case .saliency = $0.1 { return true }; return false }
        default: return false
        }
    }
}
