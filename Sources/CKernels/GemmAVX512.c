#include "sal_gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>

#define SAL_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
#define SAL_INLINE static inline __attribute__((always_inline))

// Register block: MR rows of C times NR = two 16-float vectors of columns: 28 zmm accumulators,
// two B vectors and one broadcast A value per k step (31 of the 32 zmm registers). Per k the
// tile does 28 FMAs against 16 loads, inside the two FMA and two-three load ports per cycle.
enum { MR = 14, NR = 32 };
// Cache blocks. The A micro-panel (PA x KC floats, 16 KiB) stays in the 48 KiB L1 while the k x NR
// panels of B stream past it from L2; a packed B block (KC x NC, 1 MiB) fits the 2 MiB L2.
enum { KC = 256, NC = 1024, MC = 20 * MR };
// A packed panel keeps 16 floats per k (MR used, 2 zero): every packing store is one whole,
// aligned cache line (masked 14-float stores straddling lines made packing 27 % of the
// transposed 4608 x 49 x 512 product).
enum { PA = 16 };

// Packing buffers, one pair per thread, allocated on the thread's first call and freed when it
// exits (the key's destructor). B: KC x NC floats; A: MC / MR panels of PA x KC floats.
typedef struct { float *b, *a; } buffers;
static pthread_key_t buffers_key;
static pthread_once_t buffers_once = PTHREAD_ONCE_INIT;
static int buffers_key_ok;
static __thread buffers *thread_buffers;

static void free_buffers(void *p) {
    buffers *bufs = p;
    free(bufs->b);
    free(bufs->a);
    free(bufs);
}

static void make_key(void) { buffers_key_ok = pthread_key_create(&buffers_key, free_buffers) == 0; }

static buffers *this_thread_buffers(void) {
    if (thread_buffers) return thread_buffers;
    pthread_once(&buffers_once, make_key);
    if (!buffers_key_ok) return NULL;
    buffers *bufs = malloc(sizeof *bufs);
    if (!bufs) return NULL;
    bufs->b = aligned_alloc(64, sizeof(float) * KC * NC);
    bufs->a = aligned_alloc(64, sizeof(float) * (MC / MR) * PA * KC);
    if (!bufs->b || !bufs->a || pthread_setspecific(buffers_key, bufs) != 0) {
        free_buffers(bufs);
        return NULL;
    }
    thread_buffers = bufs;
    return bufs;
}

SAL_INLINE __mmask16 lanes(long count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1);
}

// C[0..mr, 0..nv*16) (last vector masked by `mask`) = alpha * A-panel * B-panel + beta * C.
// `direct` 1: op(A) = A read in place, A[i][p] at a[i * lda + p]; 2: op(A) = A^T read in place,
// A[p][i] at a[p * lda + i]; 0: a packed panel, k-major with PA floats per k. B is a packed k x NR panel, zero past the last column.
// mr, nv and direct are constants at every call site, so each instance unrolls completely and
// its accumulators live in registers.
SAL_INLINE SAL_AVX512 void micro_tile(const int mr, const int nv, const int direct, long kc,
                                      const float *restrict a, long lda, const float *restrict b,
                                      float *restrict c, long ldc, float alpha, float beta, __mmask16 mask) {
    __m512 acc0[MR], acc1[MR];
    _Pragma("clang loop unroll(full)") for (int i = 0; i < mr; i++) {
        acc0[i] = _mm512_setzero_ps();
        acc1[i] = _mm512_setzero_ps();
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        if (nv == 2) _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
    }
    for (long p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_load_ps(b + p * NR);
        const __m512 b1 = nv == 2 ? _mm512_load_ps(b + p * NR + 16) : b0;
        _Pragma("clang loop unroll(full)") for (int i = 0; i < mr; i++) {
            const __m512 ai = _mm512_set1_ps(direct == 1 ? a[i * lda + p] : direct == 2 ? a[p * lda + i] : a[p * PA + i]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            if (nv == 2) acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
        }
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __mmask16 m0 = nv == 2 ? (__mmask16)0xFFFF : mask;
    _Pragma("clang loop unroll(full)") for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        __m512 r0 = _mm512_mul_ps(va, acc0[i]);
        if (beta != 0) r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
        _mm512_mask_storeu_ps(ci, m0, r0);
        if (nv == 2) {
            __m512 r1 = _mm512_mul_ps(va, acc1[i]);
            if (beta != 0) r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, ci + 16), r1);
            _mm512_mask_storeu_ps(ci + 16, mask, r1);
        }
    }
}

typedef void (*tile_fn)(long kc, const float *a, long lda, const float *b, float *c, long ldc,
                        float alpha, float beta, __mmask16 mask);

#define TILE(mr, nv, d)                                                                              \
    static SAL_AVX512 void tile_##mr##_##nv##_##d(long kc, const float *a, long lda, const float *b, \
                                                  float *c, long ldc, float alpha, float beta,      \
                                                  __mmask16 mask) {                                 \
        micro_tile(mr, nv, d, kc, a, lda, b, c, ldc, alpha, beta, mask);                            \
    }
#define TILES_MR(mr) TILE(mr, 1, 0) TILE(mr, 2, 0) TILE(mr, 1, 1) TILE(mr, 2, 1) TILE(mr, 1, 2) TILE(mr, 2, 2)
TILES_MR(1) TILES_MR(2) TILES_MR(3) TILES_MR(4) TILES_MR(5) TILES_MR(6) TILES_MR(7)
TILES_MR(8) TILES_MR(9) TILES_MR(10) TILES_MR(11) TILES_MR(12) TILES_MR(13) TILES_MR(14)

#define ROW(mr) {{tile_##mr##_1_0, tile_##mr##_2_0}, {tile_##mr##_1_1, tile_##mr##_2_1}, {tile_##mr##_1_2, tile_##mr##_2_2}}
// tiles[mr - 1][direct][nv - 1]
static const tile_fn tiles[MR][3][2] = {ROW(1), ROW(2), ROW(3), ROW(4), ROW(5), ROW(6), ROW(7),
                                        ROW(8), ROW(9), ROW(10), ROW(11), ROW(12), ROW(13), ROW(14)};

// op(B) rows pc..pc+kc, columns j0..j0+nc into k x NR panels, one after the other; columns
// past nc in the last panel are zero (the tile computes them and its store drops them).
static SAL_AVX512 void pack_b(int transB, const float *b, long ldb, long pc, long kc, long j0, long nc,
                              float *restrict dst) {
    for (long jr = 0; jr < nc; jr += NR, dst += kc * NR) {
        const long nr = nc - jr < NR ? nc - jr : NR;
        const __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
        if (!transB) {
            const float *src = b + pc * ldb + j0 + jr;
            for (long p = 0; p < kc; p++, src += ldb) {
                _mm512_store_ps(dst + p * NR, _mm512_maskz_loadu_ps(m0, src));
                _mm512_store_ps(dst + p * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
            }
        } else {
            // op(B)[p][j] = B[j][p]: read 16 rows of B (contiguous in p) and transpose them in
            // 16 x 16 blocks through gathers of one column each.
            const float *src = b + (j0 + jr) * ldb + pc;
            const __m512i rows = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                    _mm512_set1_epi32((int)ldb));
            for (long p = 0; p < kc; p++) {
                _mm512_store_ps(dst + p * NR, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m0, rows, src + p, 4));
                _mm512_store_ps(dst + p * NR + 16,
                                _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m1, rows, src + 16 * ldb + p, 4));
            }
        }
    }
}

// op(A) rows i0..i0+mc, columns pc..pc+kc into k-major panels of MR rows (PA floats per k),
// one after the other, kc * PA floats apart, PA floats per k.
static SAL_AVX512 void pack_a(int transA, const float *a, long lda, long i0, long mc, long pc, long kc,
                              float *restrict dst) {
    if (transA) {
        // op(A)[i][p] = A[p][i]: walk A's rows p in order, each a contiguous run of mc floats
        // cut into the panels (reading A panel by panel would touch a new row, often a new
        // page, every MR floats).
        const float *src = a + pc * lda + i0;
        for (long p = 0; p < kc; p++, src += lda) {
            for (long ir = 0; ir < mc; ir += MR) {
                const __mmask16 m = lanes(mc - ir < MR ? mc - ir : MR);
                _mm512_store_ps(dst + ir / MR * PA * kc + p * PA, _mm512_maskz_loadu_ps(m, src + ir));
            }
        }
    } else {
        const __m512i rows = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                _mm512_set1_epi32((int)lda));
        for (long ir = 0; ir < mc; ir += MR) {
            const __mmask16 m = lanes(mc - ir < MR ? mc - ir : MR);
            const float *src = a + (i0 + ir) * lda + pc;
            float *panel = dst + ir / MR * PA * kc;
            for (long p = 0; p < kc; p++)
                _mm512_store_ps(panel + p * PA, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, rows, src + p, 4));
        }
    }
}

// C = beta * C (k == 0 or alpha == 0: the product adds nothing); beta == 0 writes zeros.
static SAL_AVX512 void scale_c(long m, long n, float beta, float *c, long ldc) {
    const __m512 vb = _mm512_set1_ps(beta);
    for (long i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (long j = 0; j < n; j += 16) {
            const __mmask16 mk = lanes(n - j);
            const __m512 v = beta == 0 ? _mm512_setzero_ps() : _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(mk, ci + j));
            _mm512_mask_storeu_ps(ci + j, mk, v);
        }
    }
}

int sal_sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha,
                     const float *a, long lda, const float *b, long ldb,
                     float beta, float *c, long ldc) {
    if (!sal_avx512_available()) return -1;
    if (m <= 0 || n <= 0) return 0;
    if (k <= 0 || alpha == 0) {
        scale_c(m, n, beta, c, ldc);
        return 0;
    }
    // The gathers index rows with 32-bit offsets.
    const long gather_limit = 0x7fffffffL / 32;
    if ((!transA && lda > gather_limit) || (transB && ldb > gather_limit)) return -1;
    buffers *bufs = this_thread_buffers();
    if (!bufs) return -1;
    // How the tile reads op(A). Untransposed, in place (1): its rows are contiguous in k and
    // the tile reads MR of them at once; packing would cost as much as the product when n is
    // small (Winograd's 16 tiles, layer4's 49 pixels). Except when the row stride is a
    // multiple of 4 KiB: then all MR rows fall into the same L1 sets, more rows than the
    // cache has ways, and the panel is packed (0). Transposed, in place (2) when one or two
    // vectors of columns reuse each A value (n <= 32: packing was half the time of
    // 512 x 16 x 512); packed otherwise, where the panel is reused across many B panels.
    const int direct = !transA ? (lda % 1024) != 0 : n <= NR ? 2 : 0;
    for (long jc = 0; jc < n; jc += NC) {
        const long nc = n - jc < NC ? n - jc : NC;
        for (long pc = 0; pc < k; pc += KC) {
            const long kc = k - pc < KC ? k - pc : KC;
            const float beta_block = pc == 0 ? beta : 1.0f;
            pack_b(transB, b, ldb, pc, kc, jc, nc, bufs->b);
            for (long ic = 0; ic < m; ic += MC) {
                const long mc = m - ic < MC ? m - ic : MC;
                if (!direct) pack_a(transA, a, lda, ic, mc, pc, kc, bufs->a);
                for (long ir = 0; ir < mc; ir += MR) {
                    const long mr = mc - ir < MR ? mc - ir : MR;
                    const float *ap = direct == 1 ? a + (ic + ir) * lda + pc : direct == 2 ? a + pc * lda + ic + ir : bufs->a + ir / MR * PA * kc;
                    const tile_fn *row = tiles[mr - 1][direct];
                    float *crow = c + (ic + ir) * ldc + jc;
                    const float *bp = bufs->b;
                    for (long jr = 0; jr < nc; jr += NR, bp += kc * NR) {
                        const long nr = nc - jr < NR ? nc - jr : NR;
                        if (nr <= 16) row[0](kc, ap, lda, bp, crow + jr, ldc, alpha, beta_block, lanes(nr));
                        else row[1](kc, ap, lda, bp, crow + jr, ldc, alpha, beta_block, lanes(nr - 16));
                    }
                }
            }
        }
    }
    return 0;
}
#else
int sal_sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha,
                     const float *a, long lda, const float *b, long ldb,
                     float beta, float *c, long ldc) {
    (void)transA; (void)transB; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda;
    (void)b; (void)ldb; (void)beta; (void)c; (void)ldc;
    return -1;
}
#endif
