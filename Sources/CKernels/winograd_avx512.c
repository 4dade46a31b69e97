// Winograd tile transforms with AVX-512 (see include/winograd_avx512.h). Swift does not fuse
// a multiply and an add into one rounding; neither may we, or the two paths would differ in
// the last bit.
#pragma clang fp contract(off)

#include "winograd_avx512.h"

#if defined(__x86_64__)

#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

// Per function, never for the whole target: the binary must run on any x86-64 CPU.
#define SAL_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))

int sal_winograd_avx512_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;  // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    // SSE, AVX, opmask, ZMM0-15 upper halves, ZMM16-31: saved by the OS on context switch.
    if ((lo & 0xE6) != 0xE6) return 0;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    // F (bit 16), DQ (17), BW (30), VL (31): the compiler may use any of them in these functions.
    const unsigned needed = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
    return (b & needed) == needed;
}

/// Groups of 16 tiles in a row of `tw`.
static long groups_of_16(long tw) { return (tw + 15) / 16; }

long sal_winograd_input_scratch_floats(long tile, long tw) {
    // Rows (tile + 2) of width `input_width`: 16 tiles read step * 16 columns plus one more
    // vector (their last tile reaches `tile + 2` columns past its start).
    return (tile + 2) * (tile * 16 * groups_of_16(tw) + 16);
}

/// The tile row's input rows `first..<first + count`, each `width` floats: image columns from
/// -pad_left on, zero outside the image, so the tiles need no bounds checks.
static void copy_rows(const float *x, long h, long w, long first, long count, long pad_left, long width,
                      float *rows) {
    for (long r = 0; r < count; r++) {
        float *row = rows + r * width;
        long ir = first + r;
        if (ir < 0 || ir >= h) { memset(row, 0, (size_t)width * sizeof(float)); continue; }
        long lo = pad_left < width ? pad_left : width;
        long hi = pad_left + w < width ? pad_left + w : width;
        memset(row, 0, (size_t)lo * sizeof(float));
        memcpy(row + lo, x + ir * w + (lo - pad_left), (size_t)(hi - lo) * sizeof(float));
        memset(row + hi, 0, (size_t)(width - hi) * sizeof(float));
    }
}

/// The first `n` lanes (all 16 for n >= 16).
static __mmask16 lanes(long n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/// Stores `n` (0..32) floats of lo, hi at p.
SAL_AVX512 static inline void store_32(float *p, long n, __m512 lo, __m512 hi) {
    _mm512_mask_storeu_ps(p, lanes(n), lo);
    if (n > 16) _mm512_mask_storeu_ps(p + 16, lanes(n - 16), hi);
}

/// Lanes 1..15 of a, then lane `k` of b: the same column one tile further on.
SAL_AVX512 static inline __m512 next_tile(__m512 a, __m512 b, int k) {
    const __m512i idx = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 + k);
    return _mm512_permutex2var_ps(a, idx, b);
}

// MARK: F(2x2, 3x3)

SAL_AVX512 void sal_winograd_f2_input_avx512(const float *x, long h, long w, long pad_top, long pad_left,
                                             long th, long tw, float *v, long plane, float *scratch) {
    const long width = 2 * 16 * groups_of_16(tw) + 16;  // as sal_winograd_input_scratch_floats
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (long ty = 0; ty < th; ty++) {
        copy_rows(x, h, w, 2 * ty - pad_top, 4, pad_left, width, scratch);
        for (long t0 = 0; t0 < tw; t0 += 16) {
            const __mmask16 mask = lanes(tw - t0);
            float *dst = v + ty * tw + t0;
            // Tile t0 + k reads columns 2 (t0 + k) + j: three vectors from column 2 t0 hold them.
            __m512 t[4][3];
            for (int k = 0; k < 3; k++) {
                const float *col = scratch + 2 * t0 + 16 * k;
                __m512 d0 = _mm512_loadu_ps(col), d1 = _mm512_loadu_ps(col + width);
                __m512 d2 = _mm512_loadu_ps(col + 2 * width), d3 = _mm512_loadu_ps(col + 3 * width);
                // t = B^T d on whole rows, as Swift's SIMD4 rows.
                t[0][k] = d0 - d2;
                t[1][k] = d1 + d2;
                t[2][k] = d2 - d1;
                t[3][k] = d1 - d3;
            }
            for (int r = 0; r < 4; r++) {
                // Column j of the 16 tiles: a stride-2 deinterleave.
                __m512 a0 = _mm512_permutex2var_ps(t[r][0], even, t[r][1]);
                __m512 a1 = _mm512_permutex2var_ps(t[r][0], odd, t[r][1]);
                __m512 a2 = next_tile(a0, t[r][2], 0), a3 = next_tile(a1, t[r][2], 1);
                float *o = dst + 4 * r * plane;
                _mm512_mask_storeu_ps(o, mask, a0 - a2);
                _mm512_mask_storeu_ps(o + plane, mask, a1 + a2);
                _mm512_mask_storeu_ps(o + 2 * plane, mask, a2 - a1);
                _mm512_mask_storeu_ps(o + 3 * plane, mask, a1 - a3);
            }
        }
    }
}

SAL_AVX512 void sal_winograd_f2_output_avx512(const float *m, long plane, long th, long tw, long ho, long wo,
                                              float *y) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (long ty = 0; ty < th; ty++) {
        for (long t0 = 0; t0 < tw; t0 += 16) {
            const __mmask16 mask = lanes(tw - t0);
            const float *src = m + ty * tw + t0;
            __m512 e[16];
            for (int i = 0; i < 16; i++) e[i] = _mm512_maskz_loadu_ps(mask, src + i * plane);
            // s = A^T M, then Y = s A: Swift's order of additions.
            __m512 a0 = e[0] + e[4] + e[8], a1 = e[1] + e[5] + e[9];
            __m512 a2 = e[2] + e[6] + e[10], a3 = e[3] + e[7] + e[11];
            __m512 b0 = e[4] - e[8] - e[12], b1 = e[5] - e[9] - e[13];
            __m512 b2 = e[6] - e[10] - e[14], b3 = e[7] - e[11] - e[15];
            __m512 y00 = a0 + a1 + a2, y01 = a1 - a2 - a3;
            __m512 y10 = b0 + b1 + b2, y11 = b1 - b2 - b3;
            // Back to image order: tile k's two columns at 2 k, 2 k + 1.
            const long n = wo - 2 * t0 < 32 ? wo - 2 * t0 : 32;
            float *out = y + 2 * ty * wo + 2 * t0;
            store_32(out, n, _mm512_permutex2var_ps(y00, lo, y01), _mm512_permutex2var_ps(y00, hi, y01));
            if (2 * ty + 1 < ho)
                store_32(out + wo, n, _mm512_permutex2var_ps(y10, lo, y11), _mm512_permutex2var_ps(y10, hi, y11));
        }
    }
}

// MARK: F(4x4, 3x3)

/// The six combinations of B^T (rows of t = B^T d, or elements of a row of V = t B).
SAL_AVX512 static inline void f4_bt(const __m512 d[6], __m512 out[6]) {
    out[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    out[1] = -4.0f * d[1] - 4.0f * d[2] + d[3] + d[4];
    out[2] = 4.0f * d[1] - 4.0f * d[2] - d[3] + d[4];
    out[3] = -2.0f * d[1] - d[2] + 2.0f * d[3] + d[4];
    out[4] = 2.0f * d[1] - d[2] - 2.0f * d[3] + d[4];
    out[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/// The four combinations of A^T.
SAL_AVX512 static inline void f4_at(const __m512 m[6], __m512 out[4]) {
    out[0] = m[0] + m[1] + m[2] + m[3] + m[4];
    out[1] = m[1] - m[2] + 2.0f * m[3] - 2.0f * m[4];
    out[2] = m[1] + m[2] + 4.0f * m[3] + 4.0f * m[4];
    out[3] = m[1] - m[2] + 8.0f * m[3] - 8.0f * m[4] + m[5];
}

SAL_AVX512 void sal_winograd_f4_input_avx512(const float *x, long h, long w, long pad_top, long pad_left,
                                             long th, long tw, float *v, long plane, float *scratch) {
    const long width = 4 * 16 * groups_of_16(tw) + 16;
    // Stride 4 in two steps: columns j and j + 1 of 8 tiles from two vectors, then of 16.
    const __m512i p01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i p23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    const __m512i first = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i second = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (long ty = 0; ty < th; ty++) {
        copy_rows(x, h, w, 4 * ty - pad_top, 6, pad_left, width, scratch);
        for (long t0 = 0; t0 < tw; t0 += 16) {
            const __mmask16 mask = lanes(tw - t0);
            float *dst = v + ty * tw + t0;
            // Tile t0 + k reads columns 4 (t0 + k) + j: five vectors from column 4 t0 hold them.
            __m512 t[6][5];
            for (int k = 0; k < 5; k++) {
                __m512 d[6], tk[6];
                for (int r = 0; r < 6; r++) d[r] = _mm512_loadu_ps(scratch + r * width + 4 * t0 + 16 * k);
                f4_bt(d, tk);  // t = B^T d on whole rows, as Swift's SIMD8 rows
                for (int r = 0; r < 6; r++) t[r][k] = tk[r];
            }
            for (int r = 0; r < 6; r++) {
                __m512 lo01 = _mm512_permutex2var_ps(t[r][0], p01, t[r][1]);
                __m512 hi01 = _mm512_permutex2var_ps(t[r][2], p01, t[r][3]);
                __m512 lo23 = _mm512_permutex2var_ps(t[r][0], p23, t[r][1]);
                __m512 hi23 = _mm512_permutex2var_ps(t[r][2], p23, t[r][3]);
                __m512 a[6], out[6];
                a[0] = _mm512_permutex2var_ps(lo01, first, hi01);
                a[1] = _mm512_permutex2var_ps(lo01, second, hi01);
                a[2] = _mm512_permutex2var_ps(lo23, first, hi23);
                a[3] = _mm512_permutex2var_ps(lo23, second, hi23);
                a[4] = next_tile(a[0], t[r][4], 0);
                a[5] = next_tile(a[1], t[r][4], 1);
                f4_bt(a, out);  // V = t B
                for (int q = 0; q < 6; q++) _mm512_mask_storeu_ps(dst + (6 * r + q) * plane, mask, out[q]);
            }
        }
    }
}

SAL_AVX512 void sal_winograd_f4_output_avx512(const float *m, long plane, long th, long tw, long ho, long wo,
                                              float *y) {
    // Four vectors (column j of 16 tiles) to image order in two steps of pairs.
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i lo2 = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i hi2 = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    for (long ty = 0; ty < th; ty++) {
        const long rows = ho - 4 * ty < 4 ? ho - 4 * ty : 4;
        for (long t0 = 0; t0 < tw; t0 += 16) {
            const __mmask16 mask = lanes(tw - t0);
            const float *src = m + ty * tw + t0;
            // s = A^T M on M's columns q (Swift's SIMD8 rows), then Y = s A.
            __m512 s[4][6];
            for (int q = 0; q < 6; q++) {
                __m512 col[6], sq[4];
                for (int r = 0; r < 6; r++) col[r] = _mm512_maskz_loadu_ps(mask, src + (6 * r + q) * plane);
                f4_at(col, sq);
                for (int i = 0; i < 4; i++) s[i][q] = sq[i];
            }
            const long n = wo - 4 * t0 < 64 ? wo - 4 * t0 : 64;
            for (int i = 0; i < rows; i++) {
                __m512 yv[4];
                f4_at(s[i], yv);
                __m512 l01 = _mm512_permutex2var_ps(yv[0], lo, yv[1]), h01 = _mm512_permutex2var_ps(yv[0], hi, yv[1]);
                __m512 l23 = _mm512_permutex2var_ps(yv[2], lo, yv[3]), h23 = _mm512_permutex2var_ps(yv[2], hi, yv[3]);
                float *out = y + (4 * ty + i) * wo + 4 * t0;
                store_32(out, n, _mm512_permutex2var_ps(l01, lo2, l23), _mm512_permutex2var_ps(l01, hi2, l23));
                if (n > 32)
                    store_32(out + 32, n - 32, _mm512_permutex2var_ps(h01, lo2, h23), _mm512_permutex2var_ps(h01, hi2, h23));
            }
        }
    }
}

#else

int sal_winograd_avx512_available(void) { return 0; }

#endif
