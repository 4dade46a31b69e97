#ifndef SALIENCY_COPENBLAS_SHIM_H
#define SALIENCY_COPENBLAS_SHIM_H
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
// OpenBLAS thread control (declared in cblas.h on Debian's OpenBLAS; repeated here for clarity).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);

// Kernel choice of a DYNAMIC_ARCH OpenBLAS. Weak: a build without DYNAMIC_ARCH lacks them,
// and then there is nothing to choose.
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));

#if defined(__x86_64__)
#include <cpuid.h>
// AVX2 and FMA in the CPU, and YMM state enabled by the OS (XCR0 bits 1 and 2).
static inline int sal_cpu_has_avx2_fma(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!((c >> 12) & 1) || !((c >> 27) & 1) || !((c >> 28) & 1)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 5) & 1;
}
#else
static inline int sal_cpu_has_avx2_fma(void) { return 0; }
#endif

// OpenBLAS 0.3.21 (Debian 12) does not recognise newer Intel cores and falls back to its
// Prescott (SSE3) kernels, several times slower than its Haswell (AVX2 + FMA) ones on a CPU
// that has AVX2. OpenBLAS reads OPENBLAS_CORETYPE in its library constructor, which runs
// before any code of ours, so setting the variable alone is too late: we set it (so child
// processes and the library agree) and redo OpenBLAS's dynamic kernel choice, which reads
// it again. Only when the user has not set OPENBLAS_CORETYPE, only from a core without AVX2
// kernels, and only to Haswell (never an AVX-512 kernel family). Must run before the first
// BLAS call. Returns 1 when it switched. SALIENCY_OPENBLAS_OWN_CHOICE=1 keeps OpenBLAS's own
// choice (scripts/test-rounding runs the numerical suites under it: another kernel family).
static inline int sal_openblas_prefer_haswell(void) {
    if (getenv("OPENBLAS_CORETYPE") != NULL) return 0;
    const char *own = getenv("SALIENCY_OPENBLAS_OWN_CHOICE");
    if (own != NULL && strcmp(own, "1") == 0) return 0;
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit) return 0;
    if (!sal_cpu_has_avx2_fma()) return 0;
    static const char *const weak[] = {"Unknown", "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom",
                                       "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Nano",
                                       "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Bobcat"};
    const char *core = openblas_get_corename();
    int switchable = 0;
    for (unsigned i = 0; core && i < sizeof weak / sizeof weak[0]; i++) {
        if (strcasecmp(core, weak[i]) == 0) { switchable = 1; break; }
    }
    if (!switchable) return 0;
    setenv("OPENBLAS_CORETYPE", "Haswell", 0);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    return 1;
}
#endif
