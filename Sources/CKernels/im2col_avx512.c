// im2col's stride-2 column copy with AVX-512 (see include/im2col_avx512.h).
#include "im2col_avx512.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define SAL_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))

/// The first `n` lanes (none for n <= 0, all 16 for n >= 16).
static __mmask16 first_lanes(long n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

SAL_AVX512 void sal_im2col_stride2_avx512(const float *src, long src_pitch, long rows, float *dst, long wo, long lo,
                                          long hi) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 zero = _mm512_setzero_ps();
    if (lo > wo) lo = wo;
    const long count = hi > lo ? hi - lo : 0;
    for (long i = 0; i < rows; i++) {
        const float *s = src + i * src_pitch;
        float *d = dst + i * wo;
        for (long q = 0; q < lo; q += 16) _mm512_mask_storeu_ps(d + q, first_lanes(lo - q), zero);
        for (long k = 0; k < count; k += 16) {
            // Outputs k..<k + 16 read values 2 k..<2 k + 31; the last one read is 2 (count - 1).
            const long left = 2 * (count - k) - 1;
            __m512 a = _mm512_maskz_loadu_ps(first_lanes(left), s + 2 * k);
            __m512 b = _mm512_maskz_loadu_ps(first_lanes(left - 16), s + 2 * k + 16);
            _mm512_mask_storeu_ps(d + lo + k, first_lanes(count - k), _mm512_permutex2var_ps(a, even, b));
        }
        for (long q = lo + count; q < wo; q += 16) _mm512_mask_storeu_ps(d + q, first_lanes(wo - q), zero);
    }
}

#endif
