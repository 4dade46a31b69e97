import Foundation
import Testing
@testable import Runtime

/// The AVX-512 kernels (Sources/CKernels: the Winograd tile transforms, im2col's stride-2
/// copy) against the Swift ones. They do the same float operations in the same order without fused multiply-adds, so the comparisons are
/// exact: bit for bit, signed zeros included (structural, not an accident of one CPU's
/// rounding: the two paths are one arithmetic). The buffers start filled with a NaN sentinel
/// and are compared whole, so a write outside a tile's slot shows too.
@Suite struct WinogradAVX512Tests {
    /// An input plane geometry: samples, channels, input h x w, pads (top, left, bottom, right).
    struct Geometry: CustomStringConvertible {
        let nb, c, h, w: Int
        let pads: (Int, Int, Int, Int)
        var ho: Int { h + pads.0 + pads.2 - 2 }
        var wo: Int { w + pads.1 + pads.3 - 2 }
        var description: String { "[\(nb), \(c), \(h), \(w)] pads \(pads)" }
    }

    /// Every h, w in 1...20 with pads 0...2 in turn (asymmetric ones included), plus rows of
    /// more than 16 tiles for both tile sizes (F2: wo > 32, F4: wo > 64), exactly 16, and
    /// ResNet-18's planes.
    static let geometries: [Geometry] = {
        var all: [Geometry] = []
        for h in 1...20 {
            for w in 1...20 {
                let pads = ((h + w) % 3, (h * w + 1) % 3, (h + 2 * w) % 3, (2 * h + w + 1) % 3)
                let g = Geometry(nb: 1 + (h + w) % 2, c: 1 + (h * w) % 3, h: h, w: w, pads: pads)
                if g.ho >= 1 && g.wo >= 1 { all.append(g) }
            }
        }
        for (h, w, pads) in [(5, 32, (1, 1, 1, 1)), (6, 34, (0, 0, 0, 0)), (7, 33, (1, 0, 2, 1)), (9, 64, (1, 1, 1, 1)),
                             (4, 66, (0, 0, 0, 0)), (5, 67, (2, 2, 2, 2)), (3, 100, (1, 2, 0, 1)), (11, 130, (1, 1, 1, 1))] {
            all.append(Geometry(nb: 2, c: 3, h: h, w: w, pads: pads))
        }
        for side in [56, 28, 14, 7] { all.append(Geometry(nb: 1, c: 2, h: side, w: side, pads: (1, 1, 1, 1))) }
        return all
    }()

    static let sentinel = Float(bitPattern: 0x7FC0_1234)

    /// Random values in [-1, 1] with some signed zeros and large magnitudes among them.
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var v = randomTensor([count], seed: seed).scalars
        for i in stride(from: 0, to: count, by: 7) { v[i] = -0.0 }
        for i in stride(from: 3, to: count, by: 11) { v[i] *= 3e4 }
        return v
    }

    static func expectSameBits(_ a: [Float], _ b: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, sourceLocation: sourceLocation)
        let first = a.indices.first { $0 < b.count && a[$0].bitPattern != b[$0].bitPattern }
        #expect(first == nil, "\(what): first difference at \(first ?? -1): \(first.map { "\(a[$0]) vs \(b[$0])" } ?? "")",
                sourceLocation: sourceLocation)
    }

    @Test(.enabled(if: SIMDKernels.avx512Supported, "needs an AVX-512 CPU: the C transforms never run elsewhere"),
          arguments: [2, 4])
    func inputTransformMatchesSwift(_ tile: Int) {
        for (i, g) in Self.geometries.enumerated() {
            let th = (g.ho + tile - 1) / tile, tw = (g.wo + tile - 1) / tile, planes = (tile + 2) * (tile + 2)
            let plane = g.c * g.nb * th * tw + 5  // gaps between the planes: must stay untouched
            let x = Self.values(g.nb * g.c * g.h * g.w, seed: UInt64(1000 + i))
            var out: [[Float]] = []
            for simd in [SIMDKernels.generic, .avx512] {
                var v = [Float](repeating: Self.sentinel, count: planes * plane)
                x.withUnsafeBufferPointer { xp in
                    v.withUnsafeMutableBufferPointer { vp in
                        ConvGeometry.inputTransform(xp.baseAddress!, tile: tile, simd: simd, nb: g.nb, c: g.c, h: g.h, w: g.w,
                                                    pads: (g.pads.0, g.pads.1), th: th, tw: tw, v: vp.baseAddress!, plane: plane)
                    }
                }
                out.append(v)
            }
            Self.expectSameBits(out[0], out[1], "F\(tile) input transform, \(g)")
        }
    }

    @Test(.enabled(if: SIMDKernels.avx512Supported, "needs an AVX-512 CPU: the C transforms never run elsewhere"),
          arguments: [2, 4])
    func outputTransformMatchesSwift(_ tile: Int) {
        for (i, g) in Self.geometries.enumerated() {
            let th = (g.ho + tile - 1) / tile, tw = (g.wo + tile - 1) / tile, planes = (tile + 2) * (tile + 2)
            let plane = g.c * g.nb * th * tw + 3
            let m = Self.values(planes * plane, seed: UInt64(2000 + i))
            let count = g.nb * g.c * g.ho * g.wo
            var out: [[Float]] = []
            for simd in [SIMDKernels.generic, .avx512] {
                var y = [Float](repeating: Self.sentinel, count: count + 40)  // the tail must stay untouched
                m.withUnsafeBufferPointer { mp in
                    y.withUnsafeMutableBufferPointer { yp in
                        ConvGeometry.outputTransform(mp.baseAddress!, tile: tile, simd: simd, nb: g.nb, o: g.c, th: th, tw: tw,
                                                     ho: g.ho, wo: g.wo, y: yp.baseAddress!, plane: plane)
                    }
                }
                out.append(y)
            }
            #expect(!out[1].prefix(count).contains { $0.bitPattern == Self.sentinel.bitPattern }, "F\(tile) output, \(g): a gap")
            Self.expectSameBits(out[0], out[1], "F\(tile) output transform, \(g)")
        }
    }

    @Test(.enabled(if: SIMDKernels.avx512Supported, "needs an AVX-512 CPU: the C transforms never run elsewhere"),
          arguments: [ConvAlgorithm.winograd, .winograd4])
    func wholeConvolutionMatchesTheGenericPath(_ algorithm: ConvAlgorithm) {
        // Forward and backward to the input, with batch chunking (budget 1: a sample per chunk)
        // and ResNet's layer1 geometry; the GEMMs between the transforms are the same calls on
        // the same values, so the outputs agree bit for bit.
        let cases: [([Int], Int, [Int], Int)] = [
            ([1, 64, 56, 56], 64, [1, 1, 1, 1], 16 << 20),
            ([3, 16, 13, 37], 20, [2, 1, 0, 2], 16 << 20),
            ([3, 17, 9, 70], 16, [1, 1, 1, 1], 1),
            ([2, 16, 7, 7], 24, [0, 0, 0, 0], 16 << 20),
        ]
        for (i, (xs, o, p, budget)) in cases.enumerated() {
            var (x, w, gy, geo) = winogradCase(input: xs, outChannels: o, pads: p, budget: budget, algorithm: algorithm,
                                               seed: UInt64(500 + i))
            let yShape = gy.shape
            var results: [(Tensor, Tensor)] = []
            for simd in [SIMDKernels.generic, .avx512] {
                geo.simd = simd
                results.append((Tensor.convForwardRaw(geo, x: x, weight: w, bias: nil, outShape: yShape),
                                Tensor.convBackwardDataRaw(geo, gy: gy, weight: w, outShape: xs)))
            }
            Self.expectSameBits(results[0].0.scalars, results[1].0.scalars, "\(algorithm) forward \(xs)")
            Self.expectSameBits(results[0].1.scalars, results[1].1.scalars, "\(algorithm) backward \(xs)")
        }
    }

    @Test(.enabled(if: SIMDKernels.avx512Supported, "needs an AVX-512 CPU: the C kernels never run elsewhere"))
    func stride2Im2colMatchesSwift() {
        // Horizontal stride 2 (the C copy), vertical 1 or 2, kernels 1-7, dilation 1-2, pads
        // 0-3 incl. asymmetric, rows shorter and longer than 16 outputs, and ResNet's conv1.
        // (input, kernel, stride, pads (top, left, bottom, right), dilation)
        var cases: [([Int], Int, [Int], [Int], Int)] = [([1, 3, 224, 224], 7, [2, 2], [3, 3, 3, 3], 1),
                                                         ([1, 4, 56, 56], 3, [2, 2], [1, 1, 1, 1], 1),
                                                         ([2, 3, 14, 14], 1, [2, 2], [0, 0, 0, 0], 1)]
        for w in 1...40 {
            let kernel = [1, 3, 5, 7][w % 4], pads = [w % 4, (w + 1) % 4, (w / 2) % 4, (w / 3) % 4]
            cases.append(([2, 2, 1 + w % 9, w + 3], kernel, [1 + w % 2, 2], pads, 1 + w % 3 / 2))
        }
        // Generated cases whose kernel is larger than the padded input are not convolutions.
        cases.removeAll { xs, kernel, _, p, dilation in
            let extent = dilation * (kernel - 1) + 1
            return xs[2] + p[0] + p[2] < extent || xs[3] + p[1] + p[3] < extent
        }
        #expect(cases.count >= 30)
        for (xs, kernel, stride, pads, dilation) in cases {
            let geo = Tensor.convGeometry(op: "t", input: xs, weight: [4, xs[1], kernel, kernel], outChannels: 4,
                                          weightInChannels: xs[1], stride: stride, padding: pads,
                                          dilation: [dilation, dilation], groups: 1)
            let x = Self.values(xs.reduce(1, *), seed: UInt64(xs[3] * 31 + kernel))
            var out: [[Float]] = []
            for simd in [SIMDKernels.generic, .avx512] {
                var g = geo
                g.simd = simd
                var cols = [Float](repeating: Self.sentinel, count: geo.k * xs[0] * geo.outPlane + 17)
                x.withUnsafeBufferPointer { xp in
                    cols.withUnsafeMutableBufferPointer { cp in g.im2col(xp.baseAddress!, nb: xs[0], group: 0, cols: cp.baseAddress!) }
                }
                out.append(cols)
            }
            Self.expectSameBits(out[0], out[1], "im2col \(xs) kernel \(kernel) stride \(stride) pads \(pads) dilation \(dilation)")
        }
    }

    @Test func dispatchFollowsTheCPUAndTheOverride() {
        for supported in [false, true] {
            #expect(SIMDKernels.choose(environment: "generic", avx512Supported: supported) == .generic)
            for env in [nil, "", "avx512", "other"] {
                #expect(SIMDKernels.choose(environment: env, avx512Supported: supported) == (supported ? .avx512 : .generic))
            }
        }
        let env = ProcessInfo.processInfo.environment["SALIENCY_SIMD"]
        #expect(SIMDKernels.detected == SIMDKernels.choose(environment: env, avx512Supported: SIMDKernels.avx512Supported))
        #expect(ConvTuning.simd == SIMDKernels.detected)
        let geo = Tensor.convGeometry(op: "t", input: [1, 16, 8, 8], weight: [16, 16, 3, 3], outChannels: 16, weightInChannels: 16,
                                      stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1)
        #expect(geo.simd == ConvTuning.simd)
        #expect(!SIMDKernels.generic.runsAVX512)
        #expect(SIMDKernels.avx512.runsAVX512 == SIMDKernels.avx512Supported)
    }

    /// Linux on x86-64: /proc/cpuinfo lists the CPU's feature flags.
    static let linuxFlags: Bool = {
        #if arch(x86_64) && os(Linux)
        return true
        #else
        return false
        #endif
    }()

    @Test(.enabled(if: linuxFlags, "reads the x86 feature flags Linux reports in /proc/cpuinfo"))
    func cpuCheckAgreesWithTheKernel() throws {
        // Linux lists a CPU feature only when the kernel also saves its registers (XSAVE), the
        // same two conditions sal_avx512_available checks itself.
        let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try #require(info.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(line.split(separator: " ").map(String.init))
        let listed = ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy(flags.contains)
        #expect(SIMDKernels.avx512Supported == listed)
    }
}
