import Plugins
import Runtime

extension Interpreter {
    /// Fields every kind of value exposes to `.name`; also what completion after '.' offers.
    public static func memberNames(of v: Value) -> [String] {
        switch v {
        case let .record(r): return r.keys
        case .image: return ["tensor", "source", "label", "label_name", "mask", "box", "shape"]
        case .model: return ["name", "labels", "input_shape", "nodes"]
        case .saliency: return ["map", "method", "targets", "target_names", "seconds", "images", "params", "attribution", "shape"]
        case let .table(t): return ["columns", "rows", "count"] + t.columns
        case .dataset: return ["name", "split", "count", "classes", "labels", "label_names", "images", "files"]
        case .comparison: return ComparisonValue.fieldNames
        case .tensor: return ["shape", "count"]
        case let .fitted(f): return FitState.fieldNames + f.tables.keys.sorted()
        case .list, .string: return ["count"]
        default: return []
        }
    }

    func member(_ v: Value, _ field: String, at loc: SourceLocation) throws -> Value {
        func numbers(_ a: [Int]) -> Value { .list(a.map { .number(Double($0)) }) }
        func strings(_ a: [String]) -> Value { .list(a.map { .string($0) }) }
        let found: Value?
        switch v {
        case let .record(r): found = r[field]
        case let .image(i):
            switch field {
            case "tensor": found = .tensor(i.tensor)
            case "source": found = .string(i.source)
            case "label": found = i.label.map { .number(Double($0)) } ?? Value.none
            case "label_name": found = i.labelName.map { .string($0) } ?? Value.none
            case "mask": found = i.mask.map { .tensor($0) } ?? Value.none
            case "box": found = i.box.map(numbers) ?? Value.none
            case "shape": found = numbers(i.tensor.shape)
            default: found = nil
            }
        case let .model(m):
            switch field {
            case "name": found = .string(m.graph.name)
            case "labels": found = m.graph.labels.map(strings) ?? Value.none
            case "input_shape": found = numbers(m.inputShape)
            case "nodes": found = .number(Double(m.graph.nodes.count))
            default: found = nil
            }
        case let .saliency(s):
            switch field {
            case "map": found = .tensor(s.map.map)
            case "method": found = .string(s.map.method)
            case "targets": found = numbers(s.map.targets)
            case "target_names": found = s.map.targetNames.map(strings) ?? Value.none
            case "seconds": found = .number(s.map.seconds)
            case "images": found = .tensor(s.images)
            case "attribution": found = s.map.attribution.map { .tensor($0) } ?? Value.none
            case "shape": found = numbers(s.map.map.shape)
            case "params": found = .record(Record(s.map.params.values.sorted { $0.key < $1.key }.map { ($0.key, Value($0.value)) }))
            default: found = nil
            }
        case let .table(t):
            switch field {
            case "columns": found = strings(t.columns)
            case "rows": found = .list(t.records.map { .record($0) })
            case "count": found = .number(Double(t.rows.count))
            default: found = t.column(field).map { .list($0) }
            }
        case let .dataset(d):
            switch field {
            case "name": found = .string(d.dataset.name)
            case "split": found = .string(d.split)
            case "count": found = .number(Double(d.dataset.count))
            case "classes": found = strings(d.dataset.classNames)
            case "labels": found = numbers(try datasetLabels(d, at: loc))
            case "label_names":
                let names = d.dataset.classNames
                found = strings(try datasetLabels(d, at: loc).map { $0 < names.count ? names[$0] : String($0) })
            case "images":
                do { found = .tensor(try Builtins.batch(v).images) } catch { throw Diagnostic(.runtime, loc, "dataset \(d.dataset.name): \(error)") }
            case "files":
                let names = (0..<d.dataset.count).compactMap { d.dataset.itemName($0) }
                found = names.count == d.dataset.count ? strings(names) : Value.none
            default: found = nil
            }
        case let .comparison(c): found = c.field(field)
        case let .tensor(t):
            switch field {
            case "shape": found = numbers(t.shape)
            case "count": found = .number(Double(t.count))
            default: found = nil
            }
        case let .fitted(f): found = f.field(field)
        case let .list(l): found = field == "count" ? .number(Double(l.count)) : nil
        case let .string(s): found = field == "count" ? .number(Double(s.count)) : nil
        default: found = nil
        }
        guard let result = found else {
            // A record's fields are the user's own: a likely typo is named, else the list. Other
            // values have fixed fields, always listed (how one finds what a state holds).
            let names = Interpreter.memberNames(of: v)
            let suggestion = closestName(to: field, in: names).map { "; did you mean '\($0)'?" }
            let list = names.isEmpty ? "" : " (it has: \(names.joined(separator: ", ")))"
            let isRecord: Bool = { if case .record = v { return true }; return false }()
            let hint = isRecord ? suggestion ?? list : (suggestion ?? "") + list
            throw Diagnostic(.runtime, loc, "\(v.typeName) has no field '\(field)'" + hint)
        }
        return result
    }

    /// Every example's label, read example by example (a folder dataset reads each file).
    func datasetLabels(_ d: DatasetValue, at loc: SourceLocation) throws -> [Int] {
        do { return try (0..<d.dataset.count).map { try d.dataset.label($0) } } catch {
            throw Diagnostic(.runtime, loc, "dataset \(d.dataset.name): \(error)")
        }
    }

    func index(_ base: Value, _ idx: Value, at loc: SourceLocation) throws -> Value {
        switch (base, idx) {
        case let (.list(l), _): return l[try listIndex(idx, count: l.count, at: loc)]
        case let (.string(s), _): return .string(String(Array(s)[try listIndex(idx, count: s.count, at: loc)]))
        case let (.record(r), .string(k)):
            guard let v = r[k] else {
                throw Diagnostic(.runtime, loc, "record has no field \"\(k)\"" + (closestName(to: k, in: r.keys).map { "; did you mean \"\($0)\"?" } ?? ""))
            }
            return v
        case let (.table(t), .string(k)):
            guard let c = t.column(k) else {
                throw Diagnostic(.runtime, loc, "table has no column \"\(k)\"" + (closestName(to: k, in: t.columns).map { "; did you mean \"\($0)\"?" } ?? ""))
            }
            return .list(c)
        case let (.table(t), _): return .record(t.records[try listIndex(idx, count: t.rows.count, at: loc)])
        case let (.dataset(d), _): return try datasetImage(d, try listIndex(idx, count: d.dataset.count, at: loc), at: loc)
        case let (.tensor(t), _):
            guard t.rank > 0 else { throw Diagnostic(.runtime, loc, "cannot index a scalar tensor") }
            let i = try listIndex(idx, count: t.shape[0], at: loc)
            let s = t.slice(axis: 0, i..<(i + 1))
            return .tensor(s.reshaped(Array(t.shape.dropFirst())))
        case let (.image(im), _):
            let i = try listIndex(idx, count: im.tensor.shape[0], at: loc)
            var out = im
            out.tensor = im.tensor.slice(axis: 0, i..<(i + 1))
            return .image(out)
        case let (.saliency(m), _):
            let i = try listIndex(idx, count: m.map.count, at: loc)
            var s = m.map
            s.map = s.map.slice(axis: 0, i..<(i + 1))
            s.attribution = s.attribution?.slice(axis: 0, i..<(i + 1))
            s.targets = [s.targets[i]]
            s.targetNames = s.targetNames.map { [$0[i]] }
            return .saliency(MapValue(map: s, images: m.images.slice(axis: 0, i..<(i + 1))))
        default:
            throw Diagnostic(.runtime, loc, "cannot index \(base.typeName) with \(idx.typeName)")
        }
    }
}

extension Value {
    /// Plugin parameter values as language values.
    init(_ p: ParamValue) {
        switch p {
        case let .int(i): self = .number(Double(i))
        case let .float(f): self = .number(f)
        case let .string(s): self = .string(s)
        case let .bool(b): self = .bool(b)
        case let .list(l): self = .list(l.map(Value.init))
        case let .tensor(t): self = .tensor(t)
        }
    }

    /// Language values as plugin parameters; nil for values plugins cannot take.
    var paramValue: ParamValue? {
        switch self {
        case let .number(n): return n == n.rounded() && Swift.abs(n) < 1e15 ? .int(Int(n)) : .float(n)
        case let .string(s): return .string(s)
        case let .bool(b): return .bool(b)
        case let .list(l):
            let items = l.compactMap(\.paramValue)
            return items.count == l.count ? .list(items) : nil
        default: return asTensor.map { .tensor($0) }
        }
    }
}
