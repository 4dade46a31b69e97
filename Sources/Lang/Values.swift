import Foundation
import Plugins
import Runtime

/// A record: named fields in the order they were written.
public struct Record: Sendable {
    public private(set) var keys: [String] = []
    public private(set) var fields: [String: Value] = [:]
    public init() {}
    public init(_ pairs: [(String, Value)]) { for (k, v) in pairs { self[k] = v } }
    public subscript(_ key: String) -> Value? {
        get { fields[key] }
        set {
            if fields[key] == nil, newValue != nil { keys.append(key) }
            if newValue == nil { keys.removeAll { $0 == key } }
            fields[key] = newValue
        }
    }
    /// unreachable from input: `keys` and `fields` change together in the subscript's setter, so every key has a field.
    public var pairs: [(String, Value)] { keys.map { ($0, fields[$0]!) } }
}

/// Rows of records with a column order; prints as an aligned text table.
public struct Table: Sendable {
    public var columns: [String]
    public var rows: [[Value]]
    public init(columns: [String], rows: [[Value]]) { self.columns = columns; self.rows = rows }
    public func column(_ name: String) -> [Value]? {
        columns.firstIndex(of: name).map { i in rows.map { i < $0.count ? $0[i] : .none } }
    }
    public var records: [Record] { rows.map { r in Record(zip(columns, r).map { ($0, $1) }) } }
}

/// An image: the model input tensor [1, C, H, W] with where it came from, so maps, saves
/// and metrics can name it and use its ground truth.
public struct ImageValue: Sendable {
    public var tensor: Tensor
    /// "cat.png", "fashion-mnist/test[3]".
    public var source: String
    public var label: Int?
    public var labelName: String?
    public var mask: Tensor?
    public var box: [Int]?
    public init(tensor: Tensor, source: String, label: Int? = nil, labelName: String? = nil, mask: Tensor? = nil, box: [Int]? = nil) {
        self.tensor = tensor; self.source = source; self.label = label; self.labelName = labelName; self.mask = mask; self.box = box
    }
}

public struct ModelValue: Sendable {
    public var graph: Graph
    public var source: String
    /// An example input shape [1, C, H, W] (dynamic dims of the declared input set to 1).
    public var inputShape: [Int] {
        let s = graph.inputs.first?.shape ?? []
        return s.map { $0 < 1 ? 1 : $0 }
    }
}

/// A saliency map with the images it explains (for overlays and metrics).
public struct MapValue: Sendable {
    public var map: SaliencyMap
    public var images: Tensor
}

public struct DatasetValue: Sendable {
    public var dataset: any Dataset
    public var split: String
}

/// A user function with the environment it was defined in (closures see later changes to
/// that environment, as in Lua).
public final class UserFunction: @unchecked Sendable {
    public let decl: FunctionDecl
    let closure: Environment
    init(decl: FunctionDecl, closure: Environment) { self.decl = decl; self.closure = closure }
}

public enum Value: Sendable {
    case none
    case number(Double)
    case string(String)
    case bool(Bool)
    case list([Value])
    case record(Record)
    case tensor(Tensor)
    case image(ImageValue)
    case model(ModelValue)
    case saliency(MapValue)
    case table(Table)
    case dataset(DatasetValue)
    /// Several methods (and models) on the same images, possibly scored: see `compare`.
    case comparison(ComparisonValue)
    /// A method's fitted state (fit(...), load("x.salfit")).
    case fitted(FitState)
    case function(UserFunction)
    case builtin(Builtin)

    /// The name users see in type errors: "a number", "a tensor".
    public var typeName: String {
        switch self {
        case .none: return "nothing"
        case .number: return "a number"
        case .string: return "a string"
        case .bool: return "a bool"
        case .list: return "a list"
        case .record: return "a record"
        case .tensor: return "a tensor"
        case .image: return "an image"
        case .model: return "a model"
        case .saliency: return "a saliency map"
        case .table: return "a table"
        case .dataset: return "a dataset"
        case .comparison: return "a comparison"
        case .fitted: return "a fitted state"
        case .function, .builtin: return "a function"
        }
    }

    public var isNone: Bool { if case .none = self { return true }; return false }

    /// The tensor behind tensors, images and maps.
    public var asTensor: Tensor? {
        switch self {
        case let .tensor(t): return t
        case let .image(i): return i.tensor
        case let .saliency(m): return m.map.map
        case let .number(n): return Tensor(Float(n))
        default: return nil
        }
    }
}

/// Numbers print without a trailing ".0" when integral, else with up to 6 significant digits.
public func formatNumber(_ v: Double) -> String {
    if v.isNaN { return "nan" }
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    if v == v.rounded(), Swift.abs(v) < 1e15 { return String(Int64(v)) }
    return String(format: "%.6g", v)
}

/// The first `limit` items joined with ", ", then how many there are in all.
func abbreviated(_ items: [String], limit: Int) -> String {
    items.prefix(limit).joined(separator: ", ") + (items.count > limit ? ", ... (\(items.count) in all)" : "")
}

func formatShape(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }

extension Value {
    /// One line: what `:vars`, lists and records show.
    public var summary: String {
        switch self {
        case .none: return "none"
        case let .number(n): return formatNumber(n)
        case let .string(s): return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") + "\""
        case let .bool(b): return b ? "true" : "false"
        case let .list(items):
            let shown = items.prefix(20).map(\.summary).joined(separator: ", ")
            return "[" + shown + (items.count > 20 ? ", ... (\(items.count) items)" : "") + "]"
        case let .record(r):
            let shown = r.pairs.prefix(20).map { "\($0.0): \($0.1.summary)" }.joined(separator: ", ")
            return "{" + shown + (r.keys.count > 20 ? ", ... (\(r.keys.count) fields)" : "") + "}"
        case let .tensor(t):
            guard t.count > 0 else { return "tensor\(formatShape(t.shape))" }
            if t.count <= 8 { return "tensor\(formatShape(t.shape)) [" + t.scalars.map { formatNumber(Double($0)) }.joined(separator: ", ") + "]" }
            let s = t.scalars  // more than 8 values here, so min() and max() exist
            let mean = s.reduce(0, +) / Float(s.count)
            return "tensor\(formatShape(t.shape)) min \(formatNumber(Double(s.min()!))) max \(formatNumber(Double(s.max()!))) mean \(formatNumber(Double(mean)))"
        case let .image(i):
            let label = i.labelName ?? i.label.map(String.init)
            return "image\(formatShape(i.tensor.shape)) from \(i.source)" + (label.map { ", label \($0)" } ?? "")
        case let .model(m):
            let classes = m.graph.labels?.count
            return "model \(m.graph.name) (\(m.graph.nodes.count) nodes, input \(formatShape(m.inputShape))" + (classes.map { ", \($0) classes" } ?? "") + ")"
        case let .saliency(m):
            // A map of thousands of images would print thousands of targets on one line.
            let t = abbreviated(m.map.targets.map(String.init), limit: 8)
            let names = m.map.targetNames.map { " (" + abbreviated($0, limit: 8) + ")" } ?? ""
            return "saliency \(m.map.method) \(formatShape(m.map.map.shape)) target \(t)\(names), " + String(format: "%.1f ms", m.map.seconds * 1000)
        case let .table(t): return "table \(t.rows.count) rows x \(t.columns.count) columns (\(t.columns.joined(separator: ", ")))"
        case let .dataset(d): return "dataset \(d.dataset.name) \(d.split): \(d.dataset.count) examples, \(d.dataset.classNames.count) classes"
        case let .comparison(c): return c.summary
        case let .fitted(f): return f.summary
        case let .function(f): return "fn " + f.decl.signature
        case let .builtin(b): return "builtin " + b.signature
        }
    }

    /// What `print` writes: strings without quotes, tables as aligned text, the rest as summary.
    public var printed: String {
        switch self {
        case let .string(s): return s
        case let .table(t): return t.rendered()
        case let .comparison(c): return c.summary + "\n" + c.summaryTable.rendered()
        default: return summary
        }
    }
}

extension FunctionDecl {
    var signature: String {
        name + "(" + parameters.map { p in p.defaultValue.map { "\(p.name): \($0.sourceText)" } ?? p.name }.joined(separator: ", ") + ")"
    }
}

extension Expr {
    /// A short rendering of simple default values for signatures.
    var sourceText: String {
        switch kind {
        case let .number(n): return formatNumber(n)
        case let .string(s): return "\"\(s)\""
        case let .bool(b): return b ? "true" : "false"
        case let .name(n): return n
        case let .unary(.neg, e): return "-" + e.sourceText
        default: return "..."
        }
    }
}

extension Table {
    /// Aligned columns: numbers right-aligned, everything else left-aligned; a rule under the header.
    public func rendered() -> String {
        let cells = rows.map { r in columns.indices.map { i in i < r.count ? r[i].printed : "" } }
        let widths = columns.indices.map { i in cells.reduce(columns[i].count) { Swift.max($0, $1[i].count) } }
        let numeric = columns.indices.map { i in !rows.isEmpty && rows.allSatisfy { r in i < r.count && { if case .number = r[i] { return true }; return false }() } }
        func pad(_ s: String, _ i: Int) -> String {
            let fill = String(repeating: " ", count: widths[i] - s.count)
            return numeric[i] ? fill + s : s + fill
        }
        var lines = [columns.indices.map { pad(columns[$0], $0) }.joined(separator: "  ")]
        lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        for r in cells { lines.append(r.indices.map { pad(r[$0], $0) }.joined(separator: "  ")) }
        return lines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }.joined(separator: "\n")
    }
}
