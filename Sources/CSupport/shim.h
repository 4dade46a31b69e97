#ifndef SALIENCY_CSUPPORT_SHIM_H
#define SALIENCY_CSUPPORT_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
// glibc's malloc tuning (malloc.h does not import as a Swift module on Linux).
static inline void sal_keep_large_blocks(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}

// Bytes of stack left below the caller's frame on the current thread (stacks grow down on
// every platform we build for). The thread's stack bounds are looked up once per thread.
// Recursive walkers (the interpreter, value printing) stop with an error before this runs
// out instead of crashing with SIGSEGV.
static inline size_t sal_stack_remaining(void) {
    static __thread uintptr_t low = 0;
    if (low == 0) {
        void *addr = NULL;
#if defined(__APPLE__)
        addr = (char *)pthread_get_stackaddr_np(pthread_self()) - pthread_get_stacksize_np(pthread_self());
#else
        pthread_attr_t attr;
        size_t size = 0;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            pthread_attr_getstack(&attr, &addr, &size);
            pthread_attr_destroy(&attr);
        }
#endif
        // Unknown bounds (1): the guard never fires, as before it existed.
        low = addr ? (uintptr_t)addr : 1;
    }
    char here;
    uintptr_t sp = (uintptr_t)&here;
    return sp > low ? (size_t)(sp - low) : 0;
}
#endif
