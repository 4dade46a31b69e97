// Winograd tile transforms with AVX-512 (see include/winograd_avx512.h). Swift does not fuse
// a multiply and an add into one rounding; neither may we, or the two paths would differ in
// the last bit.
#pragma clang fp contract(off)

#include "winograd_avx512.h"

#if defined(__x86_64__)

#include <immintrin.h>

// Per function, never for the whole target: the binary must run on any x86-64 CPU.
#define SAL_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))

/// The first `n` lanes (none for n <= 0, all 16 for n >= 16).
static __mmask16 lanes(long n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/// Loads of an input tile row straight from the image: row `first + r` (r < count), 16
/// columns from `col` (counted from the padded image's left edge), zero outside the image.
/// Masked loads never touch memory in their disabled lanes, so no padded copy is needed.
struct rows_view {
    const float *row[6];
    int inside[6];
};

static struct rows_view tile_rows(const float *x, long h, long w, long first, long count) {
    struct rows_view v;
    for (long r = 0; r < count; r++) {
        long ir = first + r;
        v.inside[r] = ir >= 0 && ir < h;
        v.row[r] = v.inside[r] ? x + ir * w : x;
    }
    return v;
}

/// Lanes of the 16 columns from `col` that lie inside the image (columns pad_left..<pad_left + w).
static __mmask16 inside_columns(long col, long w, long pad_left) {
    return (__mmask16)(lanes(pad_left + w - col) & ~lanes(pad_left - col));
}

SAL_AVX512 static inline __m512 load_row(const struct rows_view *v, int r, long col, long pad_left, __mmask16 cols) {
    // In the disabled lanes the address may lie outside the image: never accessed.
    return _mm512_maskz_loadu_ps(v->inside[r] ? cols : 0, v->row[r] + (col - pad_left));
}

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

/// Rows of t = B^T d (Swift's SIMD4 rows) on the 16 columns from `col` of a tile row.
SAL_AVX512 static inline void f2_bt_rows(const struct rows_view *rows, long col, long w, long pad_left, __m512 t[4]) {
    const __mmask16 cols = inside_columns(col, w, pad_left);
    __m512 d0 = load_row(rows, 0, col, pad_left, cols), d1 = load_row(rows, 1, col, pad_left, cols);
    __m512 d2 = load_row(rows, 2, col, pad_left, cols), d3 = load_row(rows, 3, col, pad_left, cols);
    t[0] = d0 - d2;
    t[1] = d1 + d2;
    t[2] = d2 - d1;
    t[3] = d1 - d3;
}

/// Row r of V = t B from its columns a0..a3 of 16 tiles, into planes 4 r..4 r + 3.
SAL_AVX512 static inline void f2_store_row(float *o, long plane, __mmask16 mask, __m512 a0, __m512 a1, __m512 a2,
                                           __m512 a3) {
    _mm512_mask_storeu_ps(o, mask, a0 - a2);
    _mm512_mask_storeu_ps(o + plane, mask, a1 + a2);
    _mm512_mask_storeu_ps(o + 2 * plane, mask, a2 - a1);
    _mm512_mask_storeu_ps(o + 3 * plane, mask, a1 - a3);
}

/// For rows of at most 8 tiles, two tile rows per vector: lane i < tw takes lane
/// first + step * i of a, lane tw + i lane first + step * i of b.
SAL_AVX512 static inline __m512i pair_index(long tw, int first, int step) {
    int idx[16] = {0};
    for (int i = 0; i < tw; i++) {
        idx[i] = first + step * i;
        idx[tw + i] = 16 + first + step * i;
    }
    return _mm512_loadu_si512(idx);
}

/// Rows of at most 7 tiles (their 2 tw + 2 columns fit one vector), two tile rows per
/// vector: ResNet's 14x14 and 7x7 planes would fill only 7 or 4 of 16 lanes.
SAL_AVX512 static void f2_input_pairs(const float *x, long h, long w, long pad_top, long pad_left, long th, long tw,
                                      float *v, long plane) {
    const __m512i c0 = pair_index(tw, 0, 2), c1 = pair_index(tw, 1, 2), c2 = pair_index(tw, 2, 2), c3 = pair_index(tw, 3, 2);
    for (long ty = 0; ty < th; ty += 2) {
        const struct rows_view upper = tile_rows(x, h, w, 2 * ty - pad_top, 4);
        const struct rows_view lower = tile_rows(x, h, w, 2 * ty + 2 - pad_top, 4);
        __m512 ta[4], tb[4];
        f2_bt_rows(&upper, 0, w, pad_left, ta);
        f2_bt_rows(&lower, 0, w, pad_left, tb);
        const __mmask16 mask = lanes((th - ty < 2 ? th - ty : 2) * tw);
        for (int r = 0; r < 4; r++) {
            f2_store_row(v + ty * tw + 4 * r * plane, plane, mask,
                         _mm512_permutex2var_ps(ta[r], c0, tb[r]), _mm512_permutex2var_ps(ta[r], c1, tb[r]),
                         _mm512_permutex2var_ps(ta[r], c2, tb[r]), _mm512_permutex2var_ps(ta[r], c3, tb[r]));
        }
    }
}

SAL_AVX512 void sal_winograd_f2_input_avx512(const float *x, long h, long w, long pad_top, long pad_left,
                                             long th, long tw, float *v, long plane) {
    if (tw <= 7) { f2_input_pairs(x, h, w, pad_top, pad_left, th, tw, v, plane); return; }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (long ty = 0; ty < th; ty++) {
        const struct rows_view rows = tile_rows(x, h, w, 2 * ty - pad_top, 4);
        for (long t0 = 0; t0 < tw; t0 += 16) {
            const __mmask16 mask = lanes(tw - t0);
            // Tile t0 + k reads columns 2 (t0 + k) + j: three vectors from column 2 t0 hold them.
            __m512 t[3][4];
            for (int k = 0; k < 3; k++) f2_bt_rows(&rows, 2 * t0 + 16 * k, w, pad_left, t[k]);
            for (int r = 0; r < 4; r++) {
                // Column j of the 16 tiles: a stride-2 deinterleave.
                __m512 a0 = _mm512_permutex2var_ps(t[0][r], even, t[1][r]);
                __m512 a1 = _mm512_permutex2var_ps(t[0][r], odd, t[1][r]);
                f2_store_row(v + ty * tw + t0 + 4 * r * plane, plane, mask, a0, a1, next_tile(a0, t[2][r], 0),
                             next_tile(a1, t[2][r], 1));
            }
        }
    }
}

/// Interleaves lanes first..first + 7 of a and b (a_first, b_first, a_first+1, ...):
/// permutex2var's index. Tiles back to image order, first = the first tile's lane.
SAL_AVX512 static inline __m512i interleave_index(long first) {
    int idx[16];
    for (int i = 0; i < 8; i++) {
        idx[2 * i] = (int)first + i;
        idx[2 * i + 1] = 16 + (int)first + i;
    }
    return _mm512_loadu_si512(idx);
}

/// Y = A^T M A for 16 tiles from src (the lanes of `mask`): y00, y01, y10, y11 in y[0..3].
SAL_AVX512 static inline void f2_at(const float *src, long plane, __mmask16 mask, __m512 y[4]) {
    __m512 e[16];
    for (int i = 0; i < 16; i++) e[i] = _mm512_maskz_loadu_ps(mask, src + i * plane);
    // s = A^T M, then Y = s A: Swift's order of additions.
    __m512 a0 = e[0] + e[4] + e[8], a1 = e[1] + e[5] + e[9];
    __m512 a2 = e[2] + e[6] + e[10], a3 = e[3] + e[7] + e[11];
    __m512 b0 = e[4] - e[8] - e[12], b1 = e[5] - e[9] - e[13];
    __m512 b2 = e[6] - e[10] - e[14], b3 = e[7] - e[11] - e[15];
    y[0] = a0 + a1 + a2;
    y[1] = a1 - a2 - a3;
    y[2] = b0 + b1 + b2;
    y[3] = b1 - b2 - b3;
}

SAL_AVX512 void sal_winograd_f2_output_avx512(const float *m, long plane, long th, long tw, long ho, long wo,
                                              float *y) {
    const __m512i lo = interleave_index(0), hi = interleave_index(8);
    if (tw <= 8) {
        // Two tile rows per vector (as the input transform): the lower row's tiles from lane tw.
        const __m512i lower = interleave_index(tw);
        for (long ty = 0; ty < th; ty += 2) {
            __m512 yv[4];
            f2_at(m + ty * tw, plane, lanes((th - ty < 2 ? th - ty : 2) * tw), yv);
            for (long half = 0; half < 2 && ty + half < th; half++) {
                const long row = 2 * (ty + half);
                const __m512i idx = half ? lower : lo;
                _mm512_mask_storeu_ps(y + row * wo, lanes(wo), _mm512_permutex2var_ps(yv[0], idx, yv[1]));
                if (row + 1 < ho) _mm512_mask_storeu_ps(y + (row + 1) * wo, lanes(wo), _mm512_permutex2var_ps(yv[2], idx, yv[3]));
            }
        }
        return;
    }
    for (long ty = 0; ty < th; ty++) {
        for (long t0 = 0; t0 < tw; t0 += 16) {
            __m512 yv[4];
            f2_at(m + ty * tw + t0, plane, lanes(tw - t0), yv);
            // Back to image order: tile k's two columns at 2 k, 2 k + 1.
            const long n = wo - 2 * t0 < 32 ? wo - 2 * t0 : 32;
            float *out = y + 2 * ty * wo + 2 * t0;
            store_32(out, n, _mm512_permutex2var_ps(yv[0], lo, yv[1]), _mm512_permutex2var_ps(yv[0], hi, yv[1]));
            if (2 * ty + 1 < ho)
                store_32(out + wo, n, _mm512_permutex2var_ps(yv[2], lo, yv[3]), _mm512_permutex2var_ps(yv[2], hi, yv[3]));
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

/// Rows of t = B^T d (Swift's SIMD8 rows) on the 16 columns from `col` of a tile row.
SAL_AVX512 static inline void f4_bt_rows(const struct rows_view *rows, long col, long w, long pad_left, __m512 t[6]) {
    const __mmask16 cols = inside_columns(col, w, pad_left);
    __m512 d[6];
    for (int r = 0; r < 6; r++) d[r] = load_row(rows, r, col, pad_left, cols);
    f4_bt(d, t);
}

/// Row r of V = t B from its columns a[0..5] of 16 tiles, into planes 6 r..6 r + 5.
SAL_AVX512 static inline void f4_store_row(float *o, long plane, __mmask16 mask, const __m512 a[6]) {
    __m512 out[6];
    f4_bt(a, out);
    for (int q = 0; q < 6; q++) _mm512_mask_storeu_ps(o + q * plane, mask, out[q]);
}

// Stride 4 in two steps: columns j and j + 1 of 8 tiles from two vectors (lanes 0-7 and 8-15),
// then of 16 tiles from two such.
#define SAL_F4_P01 _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29)
#define SAL_F4_P23 _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31)

/// Rows of at most 7 tiles (4 tw + 2 columns: two vectors), two tile rows per vector, as
/// f2_input_pairs; column 4 of tile i is column 0 of tile i + 1, still among the first 8.
SAL_AVX512 static void f4_input_pairs(const float *x, long h, long w, long pad_top, long pad_left, long th, long tw,
                                      float *v, long plane) {
    const __m512i p01 = SAL_F4_P01, p23 = SAL_F4_P23;
    const __m512i first = pair_index(tw, 0, 1), second = pair_index(tw, 8, 1);
    const __m512i next_first = pair_index(tw, 1, 1), next_second = pair_index(tw, 9, 1);
    for (long ty = 0; ty < th; ty += 2) {
        const struct rows_view upper = tile_rows(x, h, w, 4 * ty - pad_top, 6);
        const struct rows_view lower = tile_rows(x, h, w, 4 * ty + 4 - pad_top, 6);
        __m512 ta[2][6], tb[2][6];
        for (int k = 0; k < 2; k++) {
            f4_bt_rows(&upper, 16 * k, w, pad_left, ta[k]);
            f4_bt_rows(&lower, 16 * k, w, pad_left, tb[k]);
        }
        const __mmask16 mask = lanes((th - ty < 2 ? th - ty : 2) * tw);
        for (int r = 0; r < 6; r++) {
            __m512 a01 = _mm512_permutex2var_ps(ta[0][r], p01, ta[1][r]), b01 = _mm512_permutex2var_ps(tb[0][r], p01, tb[1][r]);
            __m512 a23 = _mm512_permutex2var_ps(ta[0][r], p23, ta[1][r]), b23 = _mm512_permutex2var_ps(tb[0][r], p23, tb[1][r]);
            __m512 a[6];
            a[0] = _mm512_permutex2var_ps(a01, first, b01);
            a[1] = _mm512_permutex2var_ps(a01, second, b01);
            a[2] = _mm512_permutex2var_ps(a23, first, b23);
            a[3] = _mm512_permutex2var_ps(a23, second, b23);
            a[4] = _mm512_permutex2var_ps(a01, next_first, b01);
            a[5] = _mm512_permutex2var_ps(a01, next_second, b01);
            f4_store_row(v + ty * tw + 6 * r * plane, plane, mask, a);
        }
    }
}

SAL_AVX512 void sal_winograd_f4_input_avx512(const float *x, long h, long w, long pad_top, long pad_left,
                                             long th, long tw, float *v, long plane) {
    if (tw <= 7) { f4_input_pairs(x, h, w, pad_top, pad_left, th, tw, v, plane); return; }
    const __m512i p01 = SAL_F4_P01, p23 = SAL_F4_P23;
    const __m512i first = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i second = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (long ty = 0; ty < th; ty++) {
        const struct rows_view rows = tile_rows(x, h, w, 4 * ty - pad_top, 6);
        for (long t0 = 0; t0 < tw; t0 += 16) {
            const __mmask16 mask = lanes(tw - t0);
            // Tile t0 + k reads columns 4 (t0 + k) + j: five vectors from column 4 t0 hold them.
            __m512 t[5][6];
            for (int k = 0; k < 5; k++) f4_bt_rows(&rows, 4 * t0 + 16 * k, w, pad_left, t[k]);
            for (int r = 0; r < 6; r++) {
                __m512 lo01 = _mm512_permutex2var_ps(t[0][r], p01, t[1][r]);
                __m512 hi01 = _mm512_permutex2var_ps(t[2][r], p01, t[3][r]);
                __m512 lo23 = _mm512_permutex2var_ps(t[0][r], p23, t[1][r]);
                __m512 hi23 = _mm512_permutex2var_ps(t[2][r], p23, t[3][r]);
                __m512 a[6];
                a[0] = _mm512_permutex2var_ps(lo01, first, hi01);
                a[1] = _mm512_permutex2var_ps(lo01, second, hi01);
                a[2] = _mm512_permutex2var_ps(lo23, first, hi23);
                a[3] = _mm512_permutex2var_ps(lo23, second, hi23);
                a[4] = next_tile(a[0], t[4][r], 0);
                a[5] = next_tile(a[1], t[4][r], 1);
                f4_store_row(v + ty * tw + t0 + 6 * r * plane, plane, mask, a);
            }
        }
    }
}

/// s = A^T M for 16 tiles from src (the lanes of `mask`), on M's columns q (Swift's SIMD8 rows).
SAL_AVX512 static inline void f4_at_columns(const float *src, long plane, __mmask16 mask, __m512 s[4][6]) {
    for (int q = 0; q < 6; q++) {
        __m512 col[6], sq[4];
        for (int r = 0; r < 6; r++) col[r] = _mm512_maskz_loadu_ps(mask, src + (6 * r + q) * plane);
        f4_at(col, sq);
        for (int i = 0; i < 4; i++) s[i][q] = sq[i];
    }
}

SAL_AVX512 void sal_winograd_f4_output_avx512(const float *m, long plane, long th, long tw, long ho, long wo,
                                              float *y) {
    // Four vectors (column j of 16 tiles) to image order in two steps of pairs.
    const __m512i lo = interleave_index(0), hi = interleave_index(8);
    const __m512i lo2 = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i hi2 = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    if (tw <= 8) {
        // Two tile rows per vector (as the input transform): the lower row's tiles from lane tw.
        const __m512i lower = interleave_index(tw);
        for (long ty = 0; ty < th; ty += 2) {
            __m512 s[4][6];
            f4_at_columns(m + ty * tw, plane, lanes((th - ty < 2 ? th - ty : 2) * tw), s);
            for (int i = 0; i < 4; i++) {
                __m512 yv[4];
                f4_at(s[i], yv);
                for (long half = 0; half < 2 && ty + half < th; half++) {
                    const long row = 4 * (ty + half) + i;
                    if (row >= ho) continue;
                    const __m512i idx = half ? lower : lo;
                    __m512 l01 = _mm512_permutex2var_ps(yv[0], idx, yv[1]), l23 = _mm512_permutex2var_ps(yv[2], idx, yv[3]);
                    store_32(y + row * wo, wo, _mm512_permutex2var_ps(l01, lo2, l23), _mm512_permutex2var_ps(l01, hi2, l23));
                }
            }
        }
        return;
    }
    for (long ty = 0; ty < th; ty++) {
        const long rows = ho - 4 * ty < 4 ? ho - 4 * ty : 4;
        for (long t0 = 0; t0 < tw; t0 += 16) {
            __m512 s[4][6];
            f4_at_columns(m + ty * tw + t0, plane, lanes(tw - t0), s);
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


#endif
