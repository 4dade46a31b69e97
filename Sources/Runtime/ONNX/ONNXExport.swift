import Foundation
import SwiftProtobuf

extension Graph {
    /// The graph as an ONNX model: nodes, weights (float32, or int64 for integer values),
    /// inputs with their declared shapes (dynamic dimensions named "N"), and metadata
    /// (class labels as a JSON array under "labels").
    public func onnxModel(producer: String = "saliency-repl") -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        // IR version 8 is what opsets 9-18 are read with by every current runtime.
        m.irVersion = opset >= 19 ? 9 : 8
        m.producerName = producer
        var op = Onnx_OperatorSetIdProto()
        op.domain = ""
        op.version = Int64(opset)
        m.opsetImport = [op]
        var g = Onnx_GraphProto()
        g.name = name
        g.node = nodes.map { n in
            var p = Onnx_NodeProto()
            p.name = n.name
            p.opType = n.opType
            if !n.domain.isEmpty { p.domain = n.domain }
            p.input = n.inputs
            p.output = n.outputs
            let intConstant = n.opType == "Constant" && n.outputs.contains { integerValues.contains($0) }
            p.attribute = n.attributes.sorted { $0.key < $1.key }.map { key, value in
                Graph.attributeProto(key, value, integerTensor: intConstant)
            }
            return p
        }
        g.initializer = parameters.sorted { $0.key < $1.key }.map { key, p in
            Graph.tensorProto(p.value, name: key, asInt64: integerValues.contains(key))
        }
        g.input = inputs.map { info in
            Graph.valueInfo(info.name, shape: info.shape)
        }
        g.output = outputs.map { Graph.valueInfo($0, shape: nil) }
        m.graph = g
        var meta = metadata
        if let labels, let data = try? JSONSerialization.data(withJSONObject: labels), let s = String(data: data, encoding: .utf8) {
            meta["labels"] = s
        }
        m.metadataProps = meta.sorted { $0.key < $1.key }.map { k, v in
            var e = Onnx_StringStringEntryProto(); e.key = k; e.value = v; return e
        }
        return m
    }

    /// Serialised ONNX bytes.
    public func onnxData() throws -> Data { try onnxModel().serializedData() }

    /// Writes the graph as an ONNX file atomically (temp file + rename).
    public func saveONNX(path: String) throws {
        let data: Data
        do { data = try onnxData() } catch { throw IOError(path: path, message: "cannot serialise: \(error)") }
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try data.write(to: tmp)
            if FileManager.default.fileExists(atPath: path) { _ = try FileManager.default.replaceItemAt(url, withItemAt: tmp) }
            else { try FileManager.default.moveItem(at: tmp, to: url) }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw IOError(path: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    static func valueInfo(_ name: String, shape: [Int]?) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var tt = Onnx_TypeProto.Tensor()
        tt.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        if let shape {
            var sp = Onnx_TensorShapeProto()
            sp.dim = shape.map { d in
                var dim = Onnx_TensorShapeProto.Dimension()
                if d < 0 { dim.dimParam = "N" } else { dim.dimValue = Int64(d) }
                return dim
            }
            tt.shape = sp
        }
        var t = Onnx_TypeProto()
        t.tensorType = tt
        v.type = t
        return v
    }

    static func tensorProto(_ t: Tensor, name: String, asInt64: Bool) -> Onnx_TensorProto {
        var p = Onnx_TensorProto()
        p.name = name
        p.dims = t.shape.map { Int64($0) }
        if asInt64 {
            p.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
            var values = t.scalars.map { Int64($0).littleEndian }
            p.rawData = Data(bytes: &values, count: values.count * 8)
        } else {
            p.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            p.rawData = t.withUnsafeBufferPointer { Data(buffer: $0) }
        }
        return p
    }

    static func attributeProto(_ name: String, _ v: AttributeValue, integerTensor: Bool) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        switch v {
        case let .int(x): a.type = .int; a.i = Int64(x)
        case let .float(x): a.type = .float; a.f = x
        case let .string(x): a.type = .string; a.s = Data(x.utf8)
        case let .ints(x): a.type = .ints; a.ints = x.map { Int64($0) }
        case let .floats(x): a.type = .floats; a.floats = x
        case let .strings(x): a.type = .strings; a.strings = x.map { Data($0.utf8) }
        case let .tensor(t): a.type = .tensor; a.t = tensorProto(t, name: "", asInt64: integerTensor)
        }
        return a
    }
}
