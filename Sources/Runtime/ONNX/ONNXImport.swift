import Foundation
import SwiftProtobuf

/// ONNX opsets whose operator semantics our kernels follow (the differences between them,
/// such as Softmax's axis or attributes moving to inputs, are handled per kernel).
public let supportedOpsets: ClosedRange<Int> = 9...21

/// Reads an ONNX model file into a Graph. Node and value names are kept as in the file.
public func loadONNX(path: String) throws -> Graph {
    return try decodeONNX(Data(try readFileBytes(path)), path: path)
}

public func decodeONNX(_ data: Data, path: String) throws -> Graph {
    let model: Onnx_ModelProto
    do {
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = 64
        model = try Onnx_ModelProto(serializedBytes: data, options: options)
    } catch {
        throw IOError(path: path, message: "not a valid ONNX model (protobuf decoding failed: \(error))")
    }
    do {
        return try ONNXImporter(model: model).graph()
    } catch let e as GraphError {
        throw IOError(path: path, message: e.description)
    }
}

struct ONNXImporter {
    let model: Onnx_ModelProto

    func graph() throws -> Graph {
        guard model.hasGraph else { throw GraphError.malformed("the model has no graph") }
        let g = model.graph
        let defaultOpset = model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }.map { Int($0.version) }
        guard let opset = defaultOpset else { throw GraphError.malformed("the model imports no default-domain opset") }
        guard supportedOpsets.contains(opset) else {
            throw GraphError.malformed("opset \(opset) is not supported (supported: \(supportedOpsets.lowerBound) to \(supportedOpsets.upperBound))")
        }
        if !g.sparseInitializer.isEmpty { throw GraphError.malformed("sparse initializers are not supported") }

        var weights: [String: Tensor] = [:]
        var integerValues = Set<String>()
        for t in g.initializer {
            let (tensor, isInt) = try ONNXImporter.tensor(from: t, context: "initializer '\(t.name)'")
            weights[t.name] = tensor
            if isInt { integerValues.insert(t.name) }
        }
        let inputs = g.input.filter { weights[$0.name] == nil }.map { v in
            ValueInfo(name: v.name, shape: v.type.tensorType.shape.dim.map { d in
                if case let .dimValue(n)? = d.value, n > 0 { return Int(n) }
                return -1
            })
        }
        var nodes: [GraphNode] = []
        for (i, n) in g.node.enumerated() {
            let name = n.name.isEmpty ? "\(n.opType)_\(i)" : n.name
            var attrs: [String: AttributeValue] = [:]
            for a in n.attribute {
                let value = try ONNXImporter.attribute(a, node: name, op: n.opType, opset: opset)
                attrs[a.name] = value
                if case .tensor = value, n.opType == "Constant",
                   a.t.dataType != Int32(Onnx_TensorProto.DataType.float.rawValue) && a.t.dataType != Int32(Onnx_TensorProto.DataType.double.rawValue) {
                    integerValues.formUnion(n.output)
                }
            }
            if n.opType == "Constant" && (attrs["value_int"] != nil || attrs["value_ints"] != nil) { integerValues.formUnion(n.output) }
            if Kernels.table[n.opType] == nil || !(n.domain.isEmpty || n.domain == "ai.onnx") {
                throw GraphError.unsupportedOperator(op: (n.domain.isEmpty ? "" : n.domain + ".") + n.opType, node: name, opset: opset)
            }
            nodes.append(GraphNode(name: name, opType: n.opType, domain: n.domain, inputs: n.input, outputs: n.output, attributes: attrs))
        }
        var metadata: [String: String] = [:]
        for p in model.metadataProps { metadata[p.key] = p.value }
        let labels = metadata["labels"].flatMap(parseLabels)
        // Labels live in `labels` (export writes them back), so an exported graph reads back
        // with the same content digest.
        if labels != nil { metadata["labels"] = nil }
        let graph = try Graph(name: g.name.isEmpty ? "model" : g.name, inputs: inputs, outputs: g.output.map(\.name),
                              nodes: nodes, weights: weights, labels: labels, opset: opset, metadata: metadata)
        graph.integerValues = integerValues
        return graph
    }

    static func attribute(_ a: Onnx_AttributeProto, node: String, op: String, opset: Int) throws -> AttributeValue {
        switch a.type {
        case .float: return .float(a.f)
        case .int: return .int(Int(a.i))
        case .string: return .string(String(decoding: a.s, as: UTF8.self))
        case .tensor: return .tensor(try tensor(from: a.t, context: "attribute '\(a.name)' of node '\(node)'").0)
        case .floats: return .floats(a.floats)
        case .ints: return .ints(a.ints.map { Int($0) })
        case .strings: return .strings(a.strings.map { String(decoding: $0, as: UTF8.self) })
        default:
            throw GraphError.malformed("node '\(node)' (\(op), opset \(opset)): attribute '\(a.name)' of type \(a.type) is not supported")
        }
    }

    /// Decodes a TensorProto to Float32 values; the flag says whether it held integers.
    static func tensor(from t: Onnx_TensorProto, context: String) throws -> (Tensor, Bool) {
        if t.dataLocation == .external || !t.externalData.isEmpty {
            throw GraphError.malformed("\(context) uses external data, which is not supported (save the model with all tensors inside the file)")
        }
        let dims = t.dims.map { Int($0) }
        guard dims.allSatisfy({ $0 >= 0 }) else { throw GraphError.malformed("\(context) has negative dimensions \(dims)") }
        let (count, overflow) = dims.reduce((1, false)) { acc, d in
            let r = acc.0.multipliedReportingOverflow(by: d); return (r.partialValue, acc.1 || r.overflow)
        }
        guard !overflow, count < 1 << 31 else { throw GraphError.malformed("\(context) is too large: \(dims)") }
        guard let type = Onnx_TensorProto.DataType(rawValue: Int(t.dataType)) else {
            throw GraphError.malformed("\(context) has unknown data type \(t.dataType)")
        }
        let raw = t.rawData
        func fromRaw<T>(_: T.Type, _ convert: (T) -> Float) throws -> [Float] {
            let size = MemoryLayout<T>.size
            guard raw.count == count * size else {
                throw GraphError.malformed("\(context): raw data has \(raw.count) bytes, \(dims) of \(type) needs \(count * size)")
            }
            return raw.withUnsafeBytes { buf in (0..<count).map { convert(buf.loadUnaligned(fromByteOffset: $0 * size, as: T.self)) } }
        }
        func typed(_ values: [Float]) throws -> [Float] {
            guard values.count == count else {
                throw GraphError.malformed("\(context) holds \(values.count) values, dims \(dims) need \(count)")
            }
            return values
        }
        let useRaw = !raw.isEmpty
        let values: [Float]
        var isInt = true
        switch type {
        case .float: isInt = false; values = useRaw ? try fromRaw(Float.self) { $0 } : try typed(t.floatData)
        case .double: isInt = false; values = useRaw ? try fromRaw(Double.self) { Float($0) } : try typed(t.doubleData.map { Float($0) })
        case .float16:
            isInt = false
            values = useRaw ? try fromRaw(UInt16.self) { Float(Float16(bitPattern: $0)) }
                            : try typed(t.int32Data.map { Float(Float16(bitPattern: UInt16(truncatingIfNeeded: $0))) })
        case .int64: values = useRaw ? try fromRaw(Int64.self) { Float($0) } : try typed(t.int64Data.map { Float($0) })
        case .int32: values = useRaw ? try fromRaw(Int32.self) { Float($0) } : try typed(t.int32Data.map { Float($0) })
        case .int16: values = useRaw ? try fromRaw(Int16.self) { Float($0) } : try typed(t.int32Data.map { Float($0) })
        case .int8: values = useRaw ? try fromRaw(Int8.self) { Float($0) } : try typed(t.int32Data.map { Float($0) })
        case .uint16: values = useRaw ? try fromRaw(UInt16.self) { Float($0) } : try typed(t.int32Data.map { Float($0) })
        case .uint32: values = useRaw ? try fromRaw(UInt32.self) { Float($0) } : try typed(t.uint64Data.map { Float($0) })
        case .uint64: values = useRaw ? try fromRaw(UInt64.self) { Float($0) } : try typed(t.uint64Data.map { Float($0) })
        case .uint8: values = useRaw ? try fromRaw(UInt8.self) { Float($0) } : try typed(t.int32Data.map { Float($0) })
        case .bool: values = useRaw ? try fromRaw(UInt8.self) { $0 != 0 ? 1 : 0 } : try typed(t.int32Data.map { $0 != 0 ? 1 : 0 })
        default: throw GraphError.malformed("\(context) has data type \(type), which is not supported")
        }
        return (Tensor(shape: dims, data: values), isInt)
    }
}

/// Labels in metadata_props: a JSON array of strings (what we write), or newline- or
/// comma-separated text (what other tools commonly write).
func parseLabels(_ s: String) -> [String]? {
    let trimmed = s.trimmingCharacters(in: .whitespacesAndNewlines)
    if trimmed.hasPrefix("["), let data = trimmed.data(using: .utf8),
       let arr = try? JSONSerialization.jsonObject(with: data) as? [Any] {
        return arr.map { "\($0)" }
    }
    let sep: Character = trimmed.contains("\n") ? "\n" : ","
    let parts = trimmed.split(separator: sep).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    return parts.isEmpty ? nil : parts
}
