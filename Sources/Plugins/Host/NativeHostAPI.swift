import CSaliencyPlugin
import Foundation
import Runtime

/// The host side of one native `explain` call: the `SalContext *` a plugin receives is an
/// unretained pointer to this object. It owns a copy of the ExplainContext whose generator
/// advances as the plugin draws (written back into the caller's context afterwards).
final class NativeCall {
    var ctx: ExplainContext
    /// The first failure of a host callback: reported instead of the plugin's own echo of it.
    var firstError: String?
    var cancelled = false
    /// What last_error returns (malloc'ed, replaced on every failure, freed at the end).
    var lastError: UnsafeMutablePointer<CChar>?
    private var classes: Int?
    private var layerShapes: [String: [Int]] = [:]

    init(_ ctx: ExplainContext) { self.ctx = ctx }
    deinit { free(lastError) }

    /// Runs one callback body, turning thrown errors into a status and a message.
    static func run(_ c: OpaquePointer?, _ body: (NativeCall) throws -> Void) -> Int32 {
        guard let c else { return Int32(SAL_ERR_INVALID.rawValue) }
        let call = Unmanaged<NativeCall>.fromOpaque(UnsafeRawPointer(c)).takeUnretainedValue()
        do {
            try body(call)
            return Int32(SAL_OK.rawValue)
        } catch let e as CallbackError {
            return call.failed("\(e)", status: SAL_ERR_INVALID)
        } catch PluginError.cancelled, GraphError.cancelled {
            call.cancelled = true
            return call.failed("cancelled", status: SAL_ERR_CANCELLED)
        } catch {
            return call.failed("\(error)", status: SAL_ERR_HOST)
        }
    }

    func failed(_ message: String, status: SalStatus) -> Int32 {
        if firstError == nil && status != SAL_ERR_CANCELLED { firstError = message }
        free(lastError)
        lastError = strdup(message)
        return Int32(status.rawValue)
    }

    var imageShape: [Int] { Array(ctx.images.shape.dropFirst()) }

    /// A copy of a plugin batch [M, C, H, W] of the explained images' C, H, W.
    func batch(_ p: UnsafePointer<SalTensor>?, _ what: String) throws -> Tensor {
        guard let p else { throw CallbackError.invalid("\(what) is NULL") }
        let shape = try viewShape(p.pointee, what)
        guard shape.count == 4, shape[0] >= 1, Array(shape.dropFirst()) == imageShape else {
            throw CallbackError.invalid("\(what) has shape \(shape); expected [M, \(imageShape.map(String.init).joined(separator: ", "))] with M >= 1")
        }
        guard let src = p.pointee.data else { throw CallbackError.invalid("\(what) has no data (NULL)") }
        return Tensor(shape: shape) { b in b.baseAddress!.update(from: src, count: b.count) }
    }

    /// Copies `t` into a plugin buffer after checking that the buffer has t's shape.
    func write(_ t: Tensor, to p: UnsafeMutablePointer<SalTensor>, _ what: String) throws {
        let shape = try viewShape(p.pointee, what)
        guard shape == t.shape else { throw CallbackError.invalid("\(what) has shape \(shape); expected \(t.shape)") }
        guard let dst = p.pointee.data else { throw CallbackError.invalid("\(what) has no data (NULL)") }
        t.withUnsafeBufferPointer { s in dst.update(from: s.baseAddress!, count: s.count) }
    }

    func classCount() throws -> Int {
        if let c = classes { return c }
        let logits = try Autograd.noGrad { try ctx.model(ctx.images.slice(axis: 0, 0..<1)) }
        guard logits.rank == 2 else { throw CallbackError.invalid("the model's output has shape \(logits.shape); expected [N, classes]") }
        classes = logits.shape[1]
        return logits.shape[1]
    }

    func forward(_ input: UnsafePointer<SalTensor>?, _ out: UnsafeMutablePointer<SalTensor>?) throws {
        let x = try batch(input, "forward's input")
        guard let out else { throw CallbackError.invalid("forward's logits buffer is NULL") }
        let logits = try Autograd.noGrad { try ctx.model(x) }
        try write(logits, to: out, "forward's logits buffer")
    }

    func layerShape(_ layer: UnsafePointer<CChar>?, batch m: Int64, _ out: UnsafeMutablePointer<SalTensor>?) throws {
        guard let layer, let out else { throw CallbackError.invalid("layer_shape needs a layer name and a shape to fill") }
        guard m >= 1 else { throw CallbackError.invalid("layer_shape's batch is \(m); expected >= 1") }
        let s = try activationShape(String(cString: layer))
        out.pointee = tensorView(out.pointee.data, [Int(m)] + s.dropFirst())
    }

    /// The per-image activation shape [1, ...] of a layer (node or value name).
    func activationShape(_ layer: String) throws -> [Int] {
        if let s = layerShapes[layer] { return s }
        let value: String
        do { value = try ctx.model.resolveValue(layer) } catch { throw CallbackError.invalid("\(error)") }
        let r = try Autograd.noGrad {
            try ctx.model.forward(ctx.images.slice(axis: 0, 0..<1), options: ForwardOptions(capture: [value], stopAt: value))
        }
        guard let a = r.captured[value] else { throw CallbackError.invalid("layer '\(layer)' was not computed") }
        guard a.rank <= Int(SAL_MAX_RANK) else { throw CallbackError.invalid("layer '\(layer)' has rank \(a.rank); the ABI carries at most \(SAL_MAX_RANK)") }
        layerShapes[layer] = a.shape
        return a.shape
    }

    func gradient(_ input: UnsafePointer<SalTensor>?, _ targetsPointer: UnsafePointer<Int32>?, _ inputGrad: UnsafeMutablePointer<SalTensor>?,
                  _ layerName: UnsafePointer<CChar>?, _ layerGrad: UnsafeMutablePointer<SalTensor>?,
                  _ activation: UnsafeMutablePointer<SalTensor>?, _ scores: UnsafeMutablePointer<Float>?) throws {
        let x = try batch(input, "gradient's input").requiringGrad()
        let m = x.shape[0]
        guard let targetsPointer else { throw CallbackError.invalid("gradient's targets are NULL") }
        let classes = try classCount()
        let targets = (0..<m).map { Int(targetsPointer[$0]) }
        if let bad = targets.first(where: { $0 < 0 || $0 >= classes }) {
            throw CallbackError.invalid("gradient's target \(bad) is out of range: the model has \(classes) classes")
        }
        let layer = layerName.map { String(cString: $0) }
        if layer == nil && (layerGrad != nil || activation != nil) {
            throw CallbackError.invalid("gradient was given a layer buffer but no layer name")
        }
        var logits: Tensor, act: Tensor?
        if let layer {
            _ = try activationShape(layer)
            let value = try ctx.model.resolveValue(layer)
            let r = try ctx.model.forward(x, options: ForwardOptions(capture: [value]))
            logits = r.output
            act = r.captured[value]
        } else {
            logits = try ctx.model(x)
        }
        guard logits.rank == 2 else { throw CallbackError.invalid("the model's output has shape \(logits.shape); expected [N, classes]") }
        let layerLeaf = layerGrad != nil && act?.node != nil ? act : nil
        let wantLayer = layerLeaf != nil
        let grads = gradients(of: ctx.targetScore(logits, targets: targets), wrt: [x] + (layerLeaf.map { [$0] } ?? []))
        if let inputGrad { try write(grads[0], to: inputGrad, "gradient's input_grad buffer") }
        if let layerGrad, let act { try write(wantLayer ? grads[1] : Tensor.zeros(act.shape), to: layerGrad, "gradient's layer_grad buffer") }
        if let activation, let act { try write(act.detached(), to: activation, "gradient's activation buffer") }
        if let scores {
            let s = Autograd.noGrad { ctx.targetScores(logits.detached(), targets: targets) }
            for i in 0..<m { scores[i] = s[i] }
        }
    }

    func random(_ out: UnsafeMutablePointer<Float>?, _ count: Int64, normal: Bool) throws {
        guard count >= 0 else { throw CallbackError.invalid("random draw count is \(count)") }
        guard count > 0 else { return }
        guard let out else { throw CallbackError.invalid("random draw buffer is NULL") }
        if normal { ctx.rng.fillNormal(UnsafeMutableBufferPointer(start: out, count: Int(count))) }
        else { for i in 0..<Int(count) { out[i] = ctx.rng.nextUniform() } }
    }
}

/// The callbacks every plugin gets (`SalHostAPI`). Allocated once and never freed: the
/// header promises plugins that the table lives as long as the process.
nonisolated(unsafe) let hostAPITable: UnsafeMutablePointer<SalHostAPI> = {
    let p = UnsafeMutablePointer<SalHostAPI>.allocate(capacity: 1)
    p.initialize(to: SalHostAPI(
        abi_version: SAL_PLUGIN_ABI_VERSION,
        reserved: 0,
        class_count: { c, out in
            NativeCall.run(c) { call in
                guard let out else { throw CallbackError.invalid("class_count's output is NULL") }
                out.pointee = Int64(try call.classCount())
            }
        },
        forward: { c, input, logits in NativeCall.run(c) { try $0.forward(input, logits) } },
        layer_shape: { c, layer, batch, shape in NativeCall.run(c) { try $0.layerShape(layer, batch: batch, shape) } },
        gradient: { c, input, targets, inputGrad, layer, layerGrad, activation, scores in
            NativeCall.run(c) { try $0.gradient(input, targets, inputGrad, layer, layerGrad, activation, scores) }
        },
        random_uniform: { c, out, count in NativeCall.run(c) { try $0.random(out, count, normal: false) } },
        random_normal: { c, out, count in NativeCall.run(c) { try $0.random(out, count, normal: true) } },
        progress: { c, done, total in
            _ = NativeCall.run(c) { call in call.ctx.progress?(Int(done), Int(total)) }
        },
        is_cancelled: { c in
            guard let c else { return 0 }
            let call = Unmanaged<NativeCall>.fromOpaque(UnsafeRawPointer(c)).takeUnretainedValue()
            return call.ctx.cancellation.isCancelled ? 1 : 0
        },
        last_error: { c in
            guard let c else { return nil }
            let call = Unmanaged<NativeCall>.fromOpaque(UnsafeRawPointer(c)).takeUnretainedValue()
            return UnsafePointer(call.lastError) ?? emptyCString
        }))
    return p
}()

// unreachable from input: strdup fails only when out of memory, at start-up.
nonisolated(unsafe) let emptyCString: UnsafePointer<CChar> = UnsafePointer(strdup("")!)
