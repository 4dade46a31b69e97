#ifndef SALIENCY_CKERNELS_SAL_CPU_H
#define SALIENCY_CKERNELS_SAL_CPU_H

// The one CPU check of our AVX-512 kernels (GEMM, Winograd transforms, stride-2 im2col).
// 1 when the CPU has AVX-512 F, DQ, BW, VL and FMA (what the kernels are compiled for) and the
// OS saves the opmask and all 512-bit register state (OSXSAVE, XCR0 & 0xE6 == 0xE6); 0
// otherwise, also when a VM reports the CPUID bits without enabling that state. Computed
// once; never faults, on any CPU.
int sal_avx512_available(void);

#endif
