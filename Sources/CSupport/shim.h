#ifndef SALIENCY_CSUPPORT_SHIM_H
#define SALIENCY_CSUPPORT_SHIM_H
#include <malloc.h>
// glibc's malloc tuning (malloc.h does not import as a Swift module on Linux).
static inline void sal_keep_large_blocks(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}
#endif
