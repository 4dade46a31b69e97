import Foundation
import Plugins
import Runtime

/// A dataset cut to its first `limit` examples.
struct LimitedDataset: Dataset {
    let base: any Dataset
    let limit: Int
    var name: String { base.name }
    var classNames: [String] { base.classNames }
    var count: Int { Swift.min(limit, base.count) }
    func example(_ index: Int) throws -> Example {
        guard index >= 0 && index < count else { throw PluginError.invalid("index \(index) is out of range (0..<\(count))") }
        return try base.example(index)
    }
    func label(_ index: Int) throws -> Int { try base.label(index) }
    func itemName(_ index: Int) -> String? { base.itemName(index) }
}

extension Builtins {
    /// Images as one batch [N, C, H, W] with their ground truth: an image, a tensor
    /// ([C,H,W] or [N,C,H,W]), a list of images, or a whole dataset.
    static func batch(_ v: Value, what: String = "x") throws -> (images: Tensor, truth: GroundTruth) {
        switch v {
        case let .image(i):
            return (i.tensor, GroundTruth(masks: i.mask, boxes: i.box.map { [$0] }))
        case let .tensor(t):
            if t.rank == 3 { return (t.reshaped([1] + t.shape), GroundTruth()) }
            guard t.rank == 4 else { throw LangError.arguments("'\(what)' must be images [N, C, H, W] or [C, H, W], got a tensor of shape \(formatShape(t.shape))") }
            return (t, GroundTruth())
        case let .list(items):
            guard !items.isEmpty else { throw LangError.arguments("'\(what)' is an empty list") }
            let parts = try items.map { try batch($0, what: what) }
            let shapes = Set(parts.map { Array($0.images.shape.dropFirst()) })
            guard shapes.count == 1 else { throw LangError.arguments("images in '\(what)' have different shapes: \(shapes.map(formatShape).sorted().joined(separator: ", "))") }
            let allMasks = parts.compactMap(\.truth.masks), allBoxes = parts.compactMap(\.truth.boxes)
            let masks = allMasks.count == parts.count ? Tensor.concat(allMasks, axis: 0) : nil
            let boxes = allBoxes.count == parts.count ? allBoxes.flatMap { $0 } : nil
            return (Tensor.concat(parts.map(\.images), axis: 0), GroundTruth(masks: masks, boxes: boxes))
        case let .dataset(d):
            guard d.dataset.count > 0 else { throw LangError.arguments("dataset \(d.dataset.name) is empty") }
            let b = try d.dataset.batch(Array(0..<d.dataset.count))
            return (b.images, b.truth)
        default:
            throw LangError.arguments("'\(what)' must be an image, a tensor, a list of images or a dataset, got \(v.typeName)")
        }
    }

    /// Zeros of the model's declared input shape (dynamic sizes 1): the probe `layers` and
    /// `train` run. The shape comes from the model file, so it is checked against the memory
    /// budget first ([1, 1, 100000, 100000] is 40 GB).
    static func exampleInput(_ m: ModelValue) throws -> Tensor {
        try MemoryBudget.check(shape: m.inputShape, "an input of the model's declared shape \(formatShape(m.inputShape))")
        return Tensor.zeros(m.inputShape)
    }

    /// Checks images against the model's declared input (dynamic dimensions, -1 or 0, match
    /// anything). The hint fits the mistake and where the images came from (`x`): a channel
    /// count fixed by `gray:`, a size by `size:` of load or dataset.
    static func checkInput(_ images: Tensor, for m: ModelValue, from x: Value? = nil) throws {
        guard let declared = m.graph.inputs.first?.shape, declared.count == images.rank else {
            if let d = m.graph.inputs.first?.shape, !d.isEmpty {
                throw LangError.message("the model expects input of rank \(d.count), got \(formatShape(images.shape))")
            }
            return
        }
        let fits = zip(declared.dropFirst(), images.shape.dropFirst()).allSatisfy { $0 <= 0 || $0 == $1 }
        guard fits else {
            let expected = declared.dropFirst().map { $0 <= 0 ? "?" : String($0) }.joined(separator: ", ")
            let isDataset: Bool = { if case .dataset? = x { return true }; return false }()
            let maker = isDataset ? "dataset(...," : "load(path,"
            var hints: [String] = []
            let (want, got) = (declared[1], images.shape[1])
            if want > 0 && want != got && [1, 3].contains(want) && [1, 3].contains(got) {
                hints.append(want == 3 ? "a gray image on an RGB model: \(maker) gray: false) gives 3 channels"
                                       : "an RGB image on a gray model: \(maker) gray: true) gives 1 channel")
            }
            let (wantH, wantW) = (declared[2], declared[3])
            if (wantH > 0 && wantH != images.shape[2]) || (wantW > 0 && wantW != images.shape[3]) {
                let size = wantH == wantW || wantW <= 0 ? String(wantH) : "[\(wantH), \(wantW)]"
                hints.append("\(maker) size: \(size)) resizes")
            }
            throw LangError.message("the model expects images of shape [\(expected)], got \(formatShape(Array(images.shape.dropFirst())))"
                                    + (hints.isEmpty ? "" : "; " + hints.joined(separator: "; ")))
        }
    }

    /// `labels:` of `model(...)`: one name per output class.
    static func classLabels(_ v: Value, for m: ModelValue) throws -> [String] {
        guard case let .list(items) = v else { throw LangError.arguments("labels must be a list of class names, got \(v.typeName)") }
        let names = try items.map { item -> String in
            guard case let .string(s) = item else { throw LangError.arguments("labels must be class names in quotes, got \(item.typeName)") }
            return s
        }
        let classes = try Autograd.noGrad { try m.graph(Tensor.zeros(m.inputShape)) }.shape.last ?? 0
        guard names.count == classes else {
            throw LangError.arguments("labels has \(names.count) names, but the model has \(classes) classes")
        }
        return names
    }

    static let models: [Builtin] = [
        Builtin("model", [BuiltinParam("path"), BuiltinParam("seed", default: .number(0)), BuiltinParam("labels", optional: true)],
                doc: "Loads an ONNX model, or builds a reference architecture (\"lenet5\", \"resnet18\") with seeded random weights; labels: [names] names its classes (replacing the file's).") { a in
            let name = try a.string("path")
            let seed = try a.int("seed")
            guard seed >= 0 else { throw LangError.arguments("seed must be >= 0") }
            let graph: Graph
            switch name {
            case "lenet5": graph = try Architectures.lenet5Caffe(seed: UInt64(seed))
            case "resnet18": graph = try Architectures.resnet18(seed: UInt64(seed))
            default:
                let p = try a.path("path")
                guard FileManager.default.fileExists(atPath: p) else {
                    throw LangError.message("no such file: \(p) (built-in architectures: \"lenet5\", \"resnet18\")")
                }
                graph = try loadONNX(path: p)
            }
            if let l = a["labels"] { graph.labels = try classLabels(l, for: ModelValue(graph: graph, source: name)) }
            return .model(ModelValue(graph: graph, source: name))
        },
        Builtin("layers", [BuiltinParam("model")], doc: "Table of the model's nodes: name, op, output shape for its input shape.") { a in
            let m = try a.model("model")
            let shapes = try m.graph.layerShapes(for: try exampleInput(m))
            return .table(Table(columns: ["name", "op", "shape"], rows: shapes.map { n in
                [.string(n.node.name), .string(n.node.opType), .string(n.shapes.map(formatShape).joined(separator: " "))]
            }))
        },
        Builtin("predict", [BuiltinParam("model"), BuiltinParam("x"), BuiltinParam("top", default: .number(5))],
                doc: "Top classes with softmax probabilities (a table; one block of rows per image).") { a in
            let m = try a.model("model")
            let (images, _) = try batch(try a.value("x"))
            try checkInput(images, for: m, from: a.values["x"])
            let top = try a.int("top")
            guard top >= 1 else { throw LangError.arguments("top must be >= 1") }
            let logits = try Autograd.noGrad { try m.graph(images) }
            guard logits.rank == 2 else { throw LangError.message("the model's output has shape \(formatShape(logits.shape)); expected [N, classes]") }
            let probs = logits.softmax(axis: 1).scalars
            let (n, c) = (logits.shape[0], logits.shape[1])
            var rows: [[Value]] = []
            for i in 0..<n {
                let order = (0..<c).sorted { probs[i * c + $0] > probs[i * c + $1] || (probs[i * c + $0] == probs[i * c + $1] && $0 < $1) }
                for k in order.prefix(top) {
                    let name = m.graph.labels.flatMap { k < $0.count ? $0[k] : nil } ?? String(k)
                    let row: [Value] = [.number(Double(k)), .string(name), .number(Double(probs[i * c + k]))]
                    rows.append(n > 1 ? [.number(Double(i))] + row : row)
                }
            }
            return .table(Table(columns: (n > 1 ? ["image"] : []) + ["class", "name", "probability"], rows: rows))
        },
        Builtin("logits", [BuiltinParam("model"), BuiltinParam("x")],
                doc: "The model's raw output [N, classes] for x; differentiable, so grad(fn (x) ...) can explain in script code.") { a in
            let m = try a.model("model")
            let images: Tensor
            if case let .tensor(t)? = a.values["x"], t.rank == 4 { images = t } else { images = try batch(try a.value("x")).images }
            try checkInput(images, for: m)
            return .tensor(try m.graph(images))
        },
        Builtin("load", [BuiltinParam("path"), BuiltinParam("size", optional: true), BuiltinParam("gray", optional: true)],
                doc: "Loads a .png or .jpg as an image [1, C, H, W] in [0, 1] (size: n or [h, w] resizes bilinearly; gray: true/false converts) a .npy as a tensor, or a .salfit fitted state.") { a in
            let p = try a.path("path")
            let ext = (p as NSString).pathExtension.lowercased()
            var t: Tensor
            switch ext {
            case "png", "jpg", "jpeg": t = try imageTensor(fromPNG: p, gray: a["gray"] == nil ? nil : try a.bool("gray"))
            case "npy": t = try readNPY(path: p)
            case "salfit": return .fitted(try FitState.load(path: p))
            default: throw LangError.message("cannot load '.\(ext)' files; load reads .png, .jpg, .npy and .salfit")
            }
            if let s = a["size"] {
                let hw: [Int]
                switch s {
                case let .number(n) where n == n.rounded() && n >= 1 && n <= 8192: hw = [Int(n), Int(n)]
                case .list: hw = try a.shape("size")
                default: throw LangError.arguments("size must be a number or [height, width], got \(s.summary)")
                }
                guard hw.count == 2, hw.allSatisfy({ $0 >= 1 && $0 <= 8192 }) else { throw LangError.arguments("size must be [height, width] with sides in 1...8192") }
                guard t.rank == 4 else { throw LangError.arguments("size: needs images [N, C, H, W], got \(formatShape(t.shape))") }
                t = t.upsampleBilinear(size: hw)
            }
            if ext == "npy" && t.rank != 4 { return .tensor(t) }
            if t.rank == 3 { t = t.reshaped([1] + t.shape) }
            return .image(ImageValue(tensor: t, source: (p as NSString).lastPathComponent))
        },
        Builtin("dataset", [BuiltinParam("name"), BuiltinParam("split", default: .string("test")), BuiltinParam("limit", optional: true)],
                extraNamed: true, doc: "Opens a registered dataset; limit: keeps the first n examples; other named arguments go to the dataset.") { a in
            var given: [String: ParamValue] = [:]
            for (k, v) in a.extra {
                guard let p = v.paramValue else { throw LangError.arguments("'\(k)' cannot be \(v.typeName)") }
                given[k] = p
            }
            let d = try openDataset(try a.string("name"), split: try a.string("split"), limit: a["limit"] == nil ? nil : try a.int("limit"),
                                    params: given, registry: a.interpreter.registry)
            return .dataset(DatasetValue(dataset: d, split: try a.string("split")))
        },
    ]

    /// What `dataset(name, split:, limit:, ...)` opens; a pipeline's `--dry-run` opens its
    /// datasets the same way to size them.
    static func openDataset(_ name: String, split: String, limit: Int?, params given: [String: ParamValue], registry: Registry) throws -> any Dataset {
        let provider = try registry.dataset(name)
        let params = try Params.resolve(given, schema: provider.parameters, plugin: name)
        let d = try provider.open(split: split, params: params)
        guard let n = limit else { return d }
        guard n >= 1 else { throw LangError.arguments("limit must be >= 1") }
        return LimitedDataset(base: d, limit: n)
    }
}
