// The column copy of im2col for a horizontal stride of 2 with AVX-512 (16 outputs per
// step: two loads and one permute), where sal_avx512_available() allows it
// (Sources/Runtime/Core/SIMDKernels.swift decides); a pure copy, so it gives the same bits
// as the Swift loop in Sources/Runtime/Ops/Im2col.swift.
#ifndef SAL_IM2COL_AVX512_H
#define SAL_IM2COL_AVX512_H

#if defined(__x86_64__)

/// `rows` output rows of one im2col row, `wo` values each, `dst` rows contiguous: row i is
/// zero outside columns lo..<hi and there holds src[i * src_pitch + 2 * (ow - lo)] (`src` is
/// the input value of the first row's column lo; nothing before it or past the last value
/// read is touched).
void sal_im2col_stride2_avx512(const float *src, long src_pitch, long rows, float *dst, long wo, long lo, long hi);

#endif
#endif
