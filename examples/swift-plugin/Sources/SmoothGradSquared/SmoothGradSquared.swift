import CSaliencyPlugin
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// SmoothGrad-squared (SG-SQ), as evaluated by Hooker, Erhan, Kindermans and Kim, "A
// Benchmark for Interpretability Methods in Deep Neural Networks", NeurIPS 2019: the mean of
// the SQUARED input gradient over noisy copies of the image,
//
//     e(x) = 1/S * sum_s (d score / d x (x + eta_s))^2,   eta_s ~ N(0, sigma^2),
//
// where SmoothGrad (Smilkov et al. 2017) averages the plain gradient. Choices where the
// paper is vague, recorded here:
//   - sigma = noise * (max(x) - min(x)) per image, noise = 0.15 by default (Smilkov et al.'s
//     "noise level" is relative to the input range; Hooker et al. use 0.15);
//   - S = 16 samples by default (Hooker et al. use 15; a power of two keeps batches even);
//   - the map is the maximum over colour channels of e (e >= 0), Simonyan et al.'s reduction
//     of gradient maps, which the host's `gradient` and `smoothgrad` use too;
//   - the noise comes from the host's seeded generator, drawn copy by copy (copy k of image i
//     is item k * N + i, its C*H*W draws consecutive), so the same seed gives the same map
//     whatever the batch size.
//
// Everything model-related goes through the host's callbacks: this library never sees the
// model, only the batch it asks gradients for.

/// Entry point of saliency_plugin.h: registers the one method of this library.
@_cdecl("saliency_plugin_register")
public func saliencyPluginRegister(_ host: UnsafePointer<SalHostAPI>?, _ registrar: UnsafeMutablePointer<SalRegistrar>?) -> Int32 {
    guard let host, let registrar, let add = registrar.pointee.add_explainer else { return Int32(SAL_ERR_INVALID.rawValue) }
    // A host of another ABI version lays its structs out differently: refuse to go on.
    guard host.pointee.abi_version == SAL_PLUGIN_ABI_VERSION else { return Int32(SAL_ERR_INVALID.rawValue) }
    // The host copies every string and the parameter array during add_explainer.
    let strings = CStrings()
    let params = [
        SalParamSpec(name: strings["samples"], kind: Int32(SAL_PARAM_INT.rawValue), has_default: 1, default_number: 16,
                     default_string: nil, has_range: 1, min: 1, max: 100_000, doc: strings["noisy copies per image"]),
        SalParamSpec(name: strings["noise"], kind: Int32(SAL_PARAM_NUMBER.rawValue), has_default: 1, default_number: 0.15,
                     default_string: nil, has_range: 1, min: 0, max: 10,
                     doc: strings["noise standard deviation as a fraction of each image's value range (max - min)"]),
        SalParamSpec(name: strings["batch_size"], kind: Int32(SAL_PARAM_INT.rawValue), has_default: 1, default_number: 32,
                     default_string: nil, has_range: 1, min: 1, max: 4096, doc: strings["noisy copies per gradient call"]),
    ]
    return params.withUnsafeBufferPointer { p in
        var explainer = SalExplainer(
            abi_version: SAL_PLUGIN_ABI_VERSION,
            capabilities: SAL_CAP_NEEDS_GRADIENTS | SAL_CAP_BATCHED | SAL_CAP_STOCHASTIC,
            name: strings["smoothgrad_sq"],
            summary: strings["mean of the squared gradient over noisy copies (SmoothGrad-squared), a Swift plugin"],
            reference: strings["Hooker, Erhan, Kindermans, Kim, A Benchmark for Interpretability Methods in Deep Neural Networks, NeurIPS 2019"],
            params: p.baseAddress, param_count: Int32(p.count),
            explain: smoothGradSquared, user_data: nil)
        return add(registrar, &explainer)
    }
}

/// C copies of Swift strings that live as long as this object.
final class CStrings {
    private var owned: [UnsafeMutablePointer<CChar>] = []
    subscript(_ s: String) -> UnsafePointer<CChar> {
        let c = strdup(s)!
        owned.append(c)
        return UnsafePointer(c)
    }
    deinit { owned.forEach { free($0) } }
}

/// Parameter order as registered: samples, noise, batch_size.
func smoothGradSquared(_ host: UnsafePointer<SalHostAPI>?, _ ctx: OpaquePointer?, _ call: UnsafeMutablePointer<SalExplainCall>?) -> Int32 {
    guard let api = host?.pointee, let call else { return Int32(SAL_ERR_INVALID.rawValue) }
    func fail(_ message: String) -> Int32 {
        let c = call.pointee
        if let e = c.error, c.error_capacity > 0 {
            let bytes = Array(message.utf8.prefix(Int(c.error_capacity) - 1))
            for (i, b) in bytes.enumerated() { e[i] = CChar(bitPattern: b) }
            e[bytes.count] = 0
        }
        return Int32(SAL_ERR_PLUGIN.rawValue)
    }
    let c = call.pointee
    guard c.images.rank == 4, c.param_count == 3, let params = c.params, let images = c.images.data, let out = c.output.data,
          let targets = c.targets else { return fail("unexpected call layout") }
    let dims = withUnsafeBytes(of: c.images.shape) { Array($0.bindMemory(to: Int64.self).prefix(4)).map { Int($0) } }
    let (n, channels, h, w) = (dims[0], dims[1], dims[2], dims[3])
    let per = channels * h * w, plane = h * w
    let samples = Int(params[0].number), noise = Float(params[1].number), batchSize = Int(params[2].number)

    // Per-image noise level from the value range.
    var sigma = [Float](repeating: 0, count: n)
    for i in 0..<n {
        var lo = Float.infinity, hi = -Float.infinity
        for e in 0..<per { let v = images[i * per + e]; lo = min(lo, v); hi = max(hi, v) }
        sigma[i] = noise * (hi - lo)
    }

    let total = samples * n
    var sumSquares = [Float](repeating: 0, count: n * per)
    var noisy = [Float](repeating: 0, count: min(batchSize, total) * per)
    var grads = noisy
    var chunkTargets = [Int32](repeating: 0, count: min(batchSize, total))
    var start = 0, done = 0
    let chunks = (total + batchSize - 1) / batchSize
    while start < total {
        if api.is_cancelled(ctx) != 0 { return Int32(SAL_ERR_CANCELLED.rawValue) }
        let m = min(batchSize, total - start)
        // Noise for the whole chunk in one call, in item order, then x + sigma * noise.
        var status = noisy.withUnsafeMutableBufferPointer { api.random_normal(ctx, $0.baseAddress, Int64(m * per)) }
        if status != 0 { return status }
        for j in 0..<m {
            let i = (start + j) % n
            chunkTargets[j] = targets[i]
            let s = sigma[i]
            for e in 0..<per { noisy[j * per + e] = images[i * per + e] + s * noisy[j * per + e] }
        }
        status = noisy.withUnsafeMutableBufferPointer { np in
            grads.withUnsafeMutableBufferPointer { gp in
                var input = view(np.baseAddress, [m, channels, h, w])
                var grad = view(gp.baseAddress, [m, channels, h, w])
                return api.gradient(ctx, &input, chunkTargets, &grad, nil, nil, nil, nil)
            }
        }
        if status != 0 { return status }
        for j in 0..<m {
            let i = (start + j) % n
            for e in 0..<per { let g = grads[j * per + e]; sumSquares[i * per + e] += g * g }
        }
        start += m
        done += 1
        api.progress(ctx, Int64(done), Int64(chunks))
    }
    // Mean over samples, then the maximum over channels.
    let scale = 1 / Float(samples)
    for i in 0..<n {
        for p in 0..<plane {
            var best: Float = 0
            for ch in 0..<channels { best = max(best, sumSquares[i * per + ch * plane + p]) }
            out[i * plane + p] = best * scale
        }
    }
    return Int32(SAL_OK.rawValue)
}

/// A C tensor view of `shape` over `data`.
func view(_ data: UnsafeMutablePointer<Float>?, _ shape: [Int]) -> SalTensor {
    var t = SalTensor()
    t.data = data
    t.rank = Int32(shape.count)
    withUnsafeMutableBytes(of: &t.shape) { raw in
        for (i, d) in shape.enumerated() { raw.storeBytes(of: Int64(d), toByteOffset: i * 8, as: Int64.self) }
    }
    return t
}
