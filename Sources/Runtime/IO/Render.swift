import Foundation

/// Colormaps for saliency rendering. `rgb(_:)` maps v in [0, 1] (clamped; NaN -> 0) to RGB
/// in [0, 1]. viridis and inferno interpolate nine control points sampled from the
/// matplotlib maps (close, not bit-identical); diverging is blue-white-red with 0.5 = white.
public enum Colormap: String, CaseIterable, Sendable {
    case jet, viridis, inferno, gray, diverging

    public func rgb(_ v: Float) -> (Float, Float, Float) {
        let x = v.isNaN ? 0 : Swift.min(Swift.max(v, 0), 1)
        switch self {
        case .gray:
            return (x, x, x)
        case .jet:
            // Piecewise-linear jet: dark blue (0,0,0.5) -> blue -> cyan -> yellow -> red -> dark red.
            func ramp(_ t: Float) -> Float { Swift.min(Swift.max(1.5 - Swift.abs(4 * x - t), 0), 1) }
            return (ramp(3), ramp(2), ramp(1))
        case .viridis:
            return Colormap.interpolate(Colormap.viridisPoints, x)
        case .inferno:
            return Colormap.interpolate(Colormap.infernoPoints, x)
        case .diverging:
            return Colormap.interpolate(Colormap.divergingPoints, x)
        }
    }

    /// Evenly spaced control points, hex RGB.
    private static let viridisPoints: [UInt32] = [
        0x440154, 0x472D7B, 0x3B528B, 0x2C728E, 0x21918C, 0x28AE80, 0x5EC962, 0xADDC30, 0xFDE725,
    ]
    private static let infernoPoints: [UInt32] = [
        0x000004, 0x1F0C48, 0x550F6D, 0x88226A, 0xBA3655, 0xE35932, 0xF98C0A, 0xF9C932, 0xFCFFA4,
    ]
    private static let divergingPoints: [UInt32] = [
        0x053061, 0x4393C3, 0xFFFFFF, 0xD6604D, 0x67001F,
    ]

    private static func interpolate(_ points: [UInt32], _ x: Float) -> (Float, Float, Float) {
        let pos = x * Float(points.count - 1)
        let i = Swift.min(Int(pos), points.count - 2)
        let f = pos - Float(i)
        func channel(_ p: UInt32, _ shift: UInt32) -> Float { Float((p >> shift) & 0xFF) / 255 }
        func mix(_ shift: UInt32) -> Float {
            channel(points[i], shift) * (1 - f) + channel(points[i + 1], shift) * f
        }
        return (mix(16), mix(8), mix(0))
    }
}

// MARK: - Shape helpers

/// Interprets a tensor as one 2-D map: the last two dims are H, W; any leading dims are
/// averaged (so [1,H,W], [1,1,H,W] and [C,H,W] all work). Rank 1 is a single row.
func mapPlane(_ t: Tensor) -> (values: [Float], h: Int, w: Int) {
    let s = t.shape
    let h = s.count >= 2 ? s[s.count - 2] : 1
    let w = s.count >= 1 ? s[s.count - 1] : 1
    let plane = h * w
    guard plane > 0 else { return ([], h, w) }
    let lead = t.count / plane
    if lead == 1 { return (t.scalars, h, w) }
    var out = [Float](repeating: 0, count: plane)
    t.withUnsafeBufferPointer { src in
        for c in 0..<lead { for p in 0..<plane { out[p] += src[c * plane + p] } }
    }
    let inv = 1 / Float(lead)
    for p in 0..<plane { out[p] *= inv }
    return (out, h, w)
}

/// Interprets an image tensor ([C,H,W] or [1,C,H,W] or [H,W]) as RGB planes; gray (C = 1)
/// is replicated, C = 2 (gray+alpha) or C = 4 (RGBA) drop the last channel.
func rgbPlanes(_ t: Tensor) -> (values: [Float], h: Int, w: Int) {
    var s = t.shape
    while s.count > 3 && s[0] == 1 { s.removeFirst() }
    if s.count == 2 { s.insert(1, at: 0) }
    if s.count < 2 { s = [1, 1, Swift.max(t.count, 1)] }
    let c = s.count == 3 ? s[0] : 1
    let h = s[s.count - 2], w = s[s.count - 1]
    let plane = h * w
    guard plane > 0, t.count >= plane else { return ([], h, w) }
    var out = [Float](repeating: 0, count: 3 * plane)
    t.withUnsafeBufferPointer { src in
        for ch in 0..<3 {
            let from = (c >= 3 ? ch : 0) * plane
            for p in 0..<plane { out[ch * plane + p] = src[from + p] }
        }
    }
    return (out, h, w)
}

/// Nearest-neighbour resize of `channels` stacked planes of h x w to th x tw.
func resizeNearest(_ src: [Float], channels: Int, h: Int, w: Int, toHeight th: Int, toWidth tw: Int) -> [Float] {
    if h == th && w == tw { return src }
    var out = [Float](repeating: 0, count: channels * th * tw)
    guard h > 0, w > 0, th > 0, tw > 0 else { return out }
    // Sample at pixel centres: source index = floor((i + 0.5) * size / target).
    let xi = (0..<tw).map { Swift.min(w - 1, (2 * $0 + 1) * w / (2 * tw)) }
    for c in 0..<channels {
        for y in 0..<th {
            let sy = Swift.min(h - 1, (2 * y + 1) * h / (2 * th))
            let srow = c * h * w + sy * w, drow = c * th * tw + y * tw
            for x in 0..<tw { out[drow + x] = src[srow + xi[x]] }
        }
    }
    return out
}

// MARK: - Rendering

/// Normalises a map to [0, 1]: min-max, or for `signed` symmetrically about zero by the
/// largest |v| (0 -> 0.5). Non-finite values are ignored for the range and map to 0 (0.5
/// when signed). A constant map renders as 0 (0.5 when signed).
func normalizeMap(_ values: [Float], signed: Bool) -> [Float] {
    let finite = values.lazy.filter { $0.isFinite }
    if signed {
        let m = finite.reduce(Float(0)) { Swift.max($0, Swift.abs($1)) }
        return values.map { v in
            guard v.isFinite, m > 0 else { return 0.5 }
            return 0.5 + 0.5 * v / m
        }
    }
    var lo = Float.infinity, hi = -Float.infinity
    for v in finite { lo = Swift.min(lo, v); hi = Swift.max(hi, v) }
    let range = hi - lo
    return values.map { v in
        guard v.isFinite, range > 0, range.isFinite else { return 0 }
        return (v - lo) / range
    }
}

/// Renders a saliency map ([1,H,W], [1,1,H,W] or [H,W]; leading dims are averaged) to a
/// [3,H,W] RGB image through `colormap`, after min-max normalisation (or, when `signed`,
/// symmetric normalisation about zero so that 0 sits at the colormap's middle).
public func renderMap(_ map: Tensor, colormap: Colormap, signed: Bool = false) -> Tensor {
    let (values, h, w) = mapPlane(map)
    let norm = normalizeMap(values, signed: signed)
    let plane = h * w
    return Tensor(shape: [3, h, w]) { out in
        for p in 0..<plane {
            let (r, g, b) = colormap.rgb(norm[p])
            out[p] = r; out[plane + p] = g; out[2 * plane + p] = b
        }
    }
}

/// Blends a rendered map over an image: (1 - alpha) * image + alpha * colormap(map).
/// `image` is [C,H,W] (or [1,C,H,W]) gray or RGB in [0, 1]; gray is replicated to RGB.
/// The map is resized (nearest) to the image's H, W when they differ. Returns [3,H,W].
public func overlay(_ image: Tensor, map: Tensor, colormap: Colormap, alpha: Float = 0.5,
                    signed: Bool = false) -> Tensor {
    let (rgb, h, w) = rgbPlanes(image)
    var (values, mh, mw) = mapPlane(map)
    if mh != h || mw != w {
        values = resizeNearest(values, channels: 1, h: mh, w: mw, toHeight: h, toWidth: w)
        (mh, mw) = (h, w)
    }
    let colored = renderMap(Tensor(shape: [h, w], data: values), colormap: colormap, signed: signed)
    let a = alpha.isNaN ? 0 : Swift.min(Swift.max(alpha, 0), 1)
    let plane = h * w
    return colored.withUnsafeBufferPointer { cm in
        Tensor(shape: [3, h, w]) { out in
            guard !rgb.isEmpty else { return }
            for i in 0..<(3 * plane) { out[i] = (1 - a) * rgb[i] + a * cm[i] }
        }
    }
}
