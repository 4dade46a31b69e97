#ifndef SALIENCY_CKERNELS_SAL_GEMM_H
#define SALIENCY_CKERNELS_SAL_GEMM_H

// Our own single-precision GEMM for CPUs with AVX-512 (Sources/Runtime/Core/BLAS.swift picks
// it at run time; OpenBLAS stays the path everywhere else). The library itself is compiled
// for plain x86-64: only the functions that use AVX-512 carry a target attribute, so the
// binary still runs on CPUs without it.

#include "sal_cpu.h"

// Row-major C = alpha * op(A) * op(B) + beta * C with cblas_sgemm's contract: op(A) is m x k,
// op(B) is k x n, lda/ldb/ldc are the row strides of A, B and C as stored. beta == 0 never
// reads C (it may hold NaN); k == 0 or alpha == 0 gives C = beta * C without reading A or B.
// On the calling thread only. Returns 0, or -1 when the CPU lacks AVX-512 or this thread's
// packing buffers cannot be allocated (C untouched; the caller uses another GEMM).
int sal_sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha,
                     const float *a, long lda, const float *b, long ldb,
                     float beta, float *c, long ldc);

#endif
