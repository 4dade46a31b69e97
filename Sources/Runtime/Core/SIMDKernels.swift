import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The instruction set of the runtime's hand-vectorised kernels (the Winograd tile transforms
/// and im2col's stride-2 copy). Swift compiles for baseline x86-64 (128-bit SSE); on a CPU with AVX-512 the C
/// kernels in Sources/CKernels do the same arithmetic 16 floats at a time. Both give the same
/// bits (the same operations in the same order, no fused multiply-add), so the choice changes
/// speed only.
public enum SIMDKernels: String, Sendable, CaseIterable {
    /// Portable Swift: every CPU.
    case generic
    /// The AVX-512 C kernels: only where `avx512Supported`.
    case avx512

    /// Whether this CPU has AVX-512 (F, DQ, BW, VL) and the OS saves its registers.
    public static let avx512Supported: Bool = sal_avx512_available() != 0

    /// The kernels the runtime uses, decided once per process: AVX-512 where supported,
    /// unless the environment sets `SALIENCY_SIMD=generic` (A/B benchmarks; any other value
    /// leaves the choice to the CPU).
    public static let detected: SIMDKernels = choose(environment: getenv("SALIENCY_SIMD").map { String(cString: $0) },
                                                     avx512Supported: avx512Supported)

    /// `detected`'s rule, apart from the process it runs in (tested on every input).
    static func choose(environment: String?, avx512Supported: Bool) -> SIMDKernels {
        environment == SIMDKernels.generic.rawValue || !avx512Supported ? .generic : .avx512
    }

    /// Whether these kernels run the AVX-512 code: never on a CPU without it, whatever was asked.
    var runsAVX512: Bool { self == .avx512 && Self.avx512Supported }
}

#if arch(x86_64)
// The AVX-512 kernels: the Winograd tile transforms (sal_winograd_*), one C call per (sample,
// channel) plane, split over the workers as the Swift transforms are; im2col's stride-2 copy.
// Callers check `runsAVX512`.
extension ConvGeometry {
    /// As `inputTiles` (tile 2) / `inputTiles4` (tile 4), with the AVX-512 kernels.
    static func inputTilesAVX512(_ x: UnsafePointer<Float>, tile: Int, nb: Int, c: Int, h: Int, w: Int, pads: (Int, Int),
                                 th: Int, tw: Int, v: UnsafeMutablePointer<Float>, plane: Int) {
        // The C kernels load the image directly (masked loads): no scratch buffer.
        forEachInputPlane(x, nb: nb, c: c, h: h, w: w, th: th, tw: tw, size: tile + 2, scratch: 0, v: v) { src, dst, _ in
            if tile == 4 {
                sal_winograd_f4_input_avx512(src, h, w, pads.0, pads.1, th, tw, dst, plane)
            } else {
                sal_winograd_f2_input_avx512(src, h, w, pads.0, pads.1, th, tw, dst, plane)
            }
        }
    }

    /// `rows` rows of `wo` values of an im2col row with horizontal stride 2 (`dst` rows
    /// contiguous): zero outside `columns`, there `src[row * pitch + 2 * (ow - columns.lowerBound)]`.
    static func im2colStride2AVX512(_ src: UnsafePointer<Float>, pitch: Int, rows: Int, _ dst: UnsafeMutablePointer<Float>,
                                    wo: Int, columns: Range<Int>) {
        sal_im2col_stride2_avx512(src, pitch, rows, dst, wo, columns.lowerBound, columns.upperBound)
    }

    /// As `outputTiles` (tile 2) / `outputTiles4` (tile 4), with the AVX-512 kernels.
    static func outputTilesAVX512(_ m: UnsafePointer<Float>, tile: Int, nb: Int, o: Int, th: Int, tw: Int, ho: Int, wo: Int,
                                  y: UnsafeMutablePointer<Float>, plane: Int) {
        forEachOutputPlane(m, nb: nb, o: o, th: th, tw: tw, ho: ho, wo: wo, size: tile, y: y) { src, dst in
            if tile == 4 {
                sal_winograd_f4_output_avx512(src, plane, th, tw, ho, wo, dst)
            } else {
                sal_winograd_f2_output_avx512(src, plane, th, tw, ho, wo, dst)
            }
        }
    }
}
#endif
