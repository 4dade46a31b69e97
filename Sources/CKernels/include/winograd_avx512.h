// Winograd F(2x2, 3x3) and F(4x4, 3x3) tile transforms with AVX-512, 16 tiles per vector.
// The runtime calls them only where sal_avx512_available() (sal_cpu.h) says the CPU and the OS
// support AVX-512 (Sources/Runtime/Core/SIMDKernels.swift decides once); elsewhere the Swift
// transforms in Sources/Runtime/Ops/Winograd.swift and WinogradF4.swift run. Each function
// computes exactly what its Swift twin computes: the same float operations in the same order,
// no fused multiply-add, so both paths give the same bits.
//
// One call transforms one (sample, channel) plane. Layouts, with tiles t = ty * tw + tx:
//   input plane   x [h, w], tile (ty, tx) starts at row step * ty - pad_top and column
//                 step * tx - pad_left (step 2 for F2, 4 for F4), zero outside the image;
//   tile planes   v / m: element e (0..<16 for F2, 0..<36 for F4) of tile t at e * plane + t;
//   output plane  y [ho, wo], tile (ty, tx) covers rows 2 ty.. (4 ty..) and columns 2 tx..
//                 (4 tx..), cut at ho and wo.
#ifndef SAL_WINOGRAD_AVX512_H
#define SAL_WINOGRAD_AVX512_H

#include "sal_cpu.h"

#if defined(__x86_64__)

/// V = B^T d B for every 4x4 tile of one plane (F(2x2, 3x3)).
void sal_winograd_f2_input_avx512(const float *x, long h, long w, long pad_top, long pad_left,
                                  long th, long tw, float *v, long plane);

/// V = B^T d B for every 6x6 tile of one plane (F(4x4, 3x3)).
void sal_winograd_f4_input_avx512(const float *x, long h, long w, long pad_top, long pad_left,
                                  long th, long tw, float *v, long plane);

/// y = A^T M A for every tile of one plane (F(2x2, 3x3)): 2x2 outputs from 16 planes of m.
void sal_winograd_f2_output_avx512(const float *m, long plane, long th, long tw, long ho, long wo,
                                   float *y);

/// y = A^T M A for every tile of one plane (F(4x4, 3x3)): 4x4 outputs from 36 planes of m.
void sal_winograd_f4_output_avx512(const float *m, long plane, long th, long tw, long ho, long wo,
                                   float *y);

#endif
#endif
