import Foundation
import Runtime

/// The `.salfit` file: one fitted state, self-describing.
///
///     "SALFIT2\n"                 magic with the format number
///     UInt32 little-endian       length of the JSON header
///     JSON header                what it was fitted to, typed fit parameters, scalars,
///                                notes, and a table of blobs
///     payload                    the blobs, back to back in table order
///
/// Each blob entry gives its kind, name, byte offset (from the payload's start) and length:
/// `tensor` (float32 little-endian, with `shape`), `param` (a tensor-valued fit
/// parameter, referenced from `params` by its index in the table), `graph` (a trained
/// network as ONNX bytes: extract `bytes` bytes at `offset` and onnxruntime reads them)
/// and `model` (the fine-tuned model, ONNX). Parameters are tagged by type
/// (`{"int": 100}`, `{"float": 0.5}`, `{"string": "x"}`, `{"bool": true}`, `{"list": [...]}`,
/// `{"tensor": 3}`), so they come back typed; non-finite numbers are written as the
/// strings "nan", "inf", "-inf" (JSON has no such numbers).
///
/// Format 1 (no graphs, parameters as text) is refused with a message saying to fit
/// again: its parameters cannot be recovered typed, and explaining checks against them.
extension FitState {
    public static let formatVersion = 2
    static let magicPrefix = Array("SALFIT".utf8)

    /// Writes the state atomically.
    public func save(path: String) throws {
        var payload: [UInt8] = []
        var blobs: [[String: Any]] = []
        func add(_ kind: String, _ name: String, _ bytes: [UInt8], shape: [Int]? = nil) -> Int {
            var entry: [String: Any] = ["kind": kind, "name": name, "offset": payload.count, "bytes": bytes.count]
            if let shape { entry["shape"] = shape }
            blobs.append(entry)
            payload += bytes
            return blobs.count - 1
        }
        func floats(_ t: Tensor) -> [UInt8] { t.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) } }
        func onnx(_ g: Graph, _ what: String) throws -> [UInt8] {
            do { return [UInt8](try g.onnxData()) } catch { throw IOError(path: path, message: "cannot serialise \(what) as ONNX: \(error)") }
        }
        func encode(_ v: ParamValue, _ name: String) -> Any {
            switch v {
            case let .int(i): return ["int": i]
            case let .float(f): return ["float": Self.jsonNumber(f)]
            case let .string(s): return ["string": s]
            case let .bool(b): return ["bool": b]
            case let .list(items): return ["list": items.map { encode($0, name) }]
            case let .tensor(t): return ["tensor": add("param", name, floats(t), shape: t.shape)]
            }
        }
        for (n, t) in tensors.sorted(by: { $0.key < $1.key }) { _ = add("tensor", n, floats(t), shape: t.shape) }
        var encodedParams: [String: Any] = [:]
        for (n, v) in params.values.sorted(by: { $0.key < $1.key }) { encodedParams[n] = encode(v, n) }
        for (n, g) in graphs.sorted(by: { $0.key < $1.key }) { _ = add("graph", n, try onnx(g, "graph '\(n)'")) }
        if let model { _ = add("model", "model", try onnx(model, "the fine-tuned model")) }
        let header: [String: Any] = [
            "format": Self.formatVersion, "version": saliencyVersion, "method": method, "model_digest": modelDigest,
            "dataset": dataset, "key": key, "seconds": Self.jsonNumber(seconds), "params": encodedParams,
            "scalars": scalars.mapValues(Self.jsonNumber), "notes": notes, "blobs": blobs,
            "tables": tables.mapValues { t in ["columns": t.columns, "rows": t.rows.map { $0.map { encode($0, "table") } }] as [String: Any] },
        ]
        let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        var bytes = Self.magicPrefix + Array("\(Self.formatVersion)\n".utf8)
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { bytes += $0 }
        bytes += json
        bytes += payload
        try writeFileAtomically(bytes, to: path)
    }

    /// Reads a state file; any damage (truncation, foreign file, bad header, a graph that is
    /// not valid ONNX) or another format version is an IOError that says which.
    public static func load(path: String) throws -> FitState {
        try decode(try readFileBytes(path), path: path)
    }

    /// Decodes the bytes of a state file; `path` only names the source in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> FitState {
        func bad(_ m: String) -> IOError { IOError(path: path, message: "not a saliency-repl fit file: \(m)") }
        guard bytes.count >= 8, Array(bytes[0..<6]) == magicPrefix, bytes[7] == UInt8(ascii: "\n") else { throw bad("wrong magic") }
        let format = Int(bytes[6]) - Int(UInt8(ascii: "0"))
        guard format == formatVersion else {
            throw IOError(path: path, message: "a .salfit file of format \(format); this saliency-repl (\(saliencyVersion)) reads format \(formatVersion) "
                + (format < formatVersion ? "(format 1 kept no trained networks and no typed fit parameters): fit again" : "only: use a newer saliency-repl"))
        }
        guard bytes.count >= 12 else { throw bad("truncated header") }
        let hlen = Int(UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24)
        guard 12 + hlen <= bytes.count else { throw bad("truncated header") }
        guard let h = try? JSONSerialization.jsonObject(with: Data(bytes[12..<(12 + hlen)])) as? [String: Any],
              let method = h["method"] as? String, let key = h["key"] as? String,
              let blobList = h["blobs"] as? [[String: Any]] else { throw bad("damaged header") }
        let payloadStart = 12 + hlen
        // Blobs lie back to back: each must start where the previous one ended.
        var cursor = 0
        var blobs: [(kind: String, name: String, bytes: ArraySlice<UInt8>, shape: [Int]?)] = []
        for b in blobList {
            guard let kind = b["kind"] as? String, let name = b["name"] as? String,
                  let offset = (b["offset"] as? NSNumber)?.intValue, let length = (b["bytes"] as? NSNumber)?.intValue,
                  offset == cursor, length >= 0 else { throw bad("damaged blob table") }
            guard length <= bytes.count - payloadStart - offset else { throw bad("truncated data for \(kind) '\(name)'") }
            var shape: [Int]?
            if kind == "tensor" || kind == "param" {
                guard let s = (b["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), s.count < 9, s.allSatisfy({ $0 >= 0 }) else {
                    throw bad("damaged shape of \(kind) '\(name)'")
                }
                let (count, overflow) = s.reduce((1, false)) { acc, d in let r = acc.0.multipliedReportingOverflow(by: d); return (r.partialValue, acc.1 || r.overflow) }
                guard !overflow, count <= length / 4, 4 * count == length else {
                    throw bad("\(kind) '\(name)' has \(length) bytes for shape \(s)")
                }
                shape = s
            }
            blobs.append((kind, name, bytes[(payloadStart + offset)..<(payloadStart + offset + length)], shape))
            cursor += length
        }
        guard payloadStart + cursor == bytes.count else { throw bad("\(bytes.count - payloadStart - cursor) trailing bytes") }

        func tensor(_ b: (kind: String, name: String, bytes: ArraySlice<UInt8>, shape: [Int]?)) -> Tensor {
            b.bytes.withUnsafeBytes { raw in
                Tensor(shape: b.shape ?? [0]) { out in
                    for i in 0..<out.count { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                }
            }
        }
        func graph(_ b: (kind: String, name: String, bytes: ArraySlice<UInt8>, shape: [Int]?), _ what: String) throws -> Graph {
            try decodeONNX(Data(b.bytes), path: "\(path) (\(what))")
        }
        func decode(_ any: Any, _ name: String) throws -> ParamValue {
            guard let tagged = any as? [String: Any], tagged.count == 1, let entry = tagged.first else { throw bad("damaged parameter '\(name)'") }
            let v = entry.value
            switch (entry.key, v) {
            case let ("int", n as NSNumber): return .int(n.intValue)
            case ("float", _): if let d = number(v) { return .float(d) }
            case let ("string", s as String): return .string(s)
            case let ("bool", b as Bool): return .bool(b)
            case let ("list", items as [Any]): return .list(try items.map { try decode($0, name) })
            case let ("tensor", i as NSNumber):
                if blobs.indices.contains(i.intValue), blobs[i.intValue].kind == "param" { return .tensor(tensor(blobs[i.intValue])) }
            default: break
            }
            throw bad("damaged parameter '\(name)'")
        }
        var state = FitState(method: method, modelDigest: h["model_digest"] as? String ?? "", dataset: h["dataset"] as? String ?? "",
                             key: key, notes: h["notes"] as? [String: String] ?? [:], seconds: (h["seconds"]).flatMap(number) ?? 0)
        state.scalars = (h["scalars"] as? [String: Any] ?? [:]).compactMapValues(number)
        var values: [String: ParamValue] = [:]
        for (n, v) in h["params"] as? [String: Any] ?? [:] { values[n] = try decode(v, n) }
        state.params = Params(values, plugin: method)
        for (n, any) in h["tables"] as? [String: Any] ?? [:] {
            guard let t = any as? [String: Any], let columns = t["columns"] as? [String], let rows = t["rows"] as? [[Any]],
                  rows.allSatisfy({ $0.count == columns.count }) else { throw bad("damaged table '\(n)'") }
            state.tables[n] = FitTable(columns: columns, rows: try rows.map { try $0.map { try decode($0, n) } })
        }
        for b in blobs {
            switch b.kind {
            case "tensor": state.tensors[b.name] = tensor(b)
            case "graph": state.graphs[b.name] = try graph(b, "graph '\(b.name)'")
            case "model": state.model = try graph(b, "the fine-tuned model")
            case "param": break
            default: throw bad("unknown blob kind '\(b.kind)'")
            }
        }
        return state
    }

    /// A JSON-safe number: finite values as numbers, the rest as "nan", "inf", "-inf".
    static func jsonNumber(_ v: Double) -> Any {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        return v
    }

    /// The number `jsonNumber` wrote.
    static func number(_ any: Any) -> Double? {
        switch any {
        case let n as NSNumber: return n.doubleValue
        case "nan" as String: return .nan
        case "inf" as String: return .infinity
        case "-inf" as String: return -.infinity
        default: return nil
        }
    }
}
