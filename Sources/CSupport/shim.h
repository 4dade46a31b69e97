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

// The current thread's stack: its lowest address and its size, looked up once per thread
// (stacks grow down on every platform we build for). Recursive walkers (the interpreter,
// value printing) compare the stack pointer against it and stop with an error before the
// stack runs out instead of crashing with SIGSEGV. Unknown bounds give size 0.
typedef struct { uintptr_t low; size_t size; } sal_stack_bounds;

static inline sal_stack_bounds sal_current_stack(void) {
    static __thread sal_stack_bounds bounds = {0, 0};
    static __thread int known = 0;
    if (!known) {
        void *addr = NULL;
        size_t size = 0;
#if defined(__APPLE__)
        size = pthread_get_stacksize_np(pthread_self());
        addr = (char *)pthread_get_stackaddr_np(pthread_self()) - size;
#else
        pthread_attr_t attr;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            pthread_attr_getstack(&attr, &addr, &size);
            pthread_attr_destroy(&attr);
        }
#endif
        bounds.low = (uintptr_t)addr;
        bounds.size = addr ? size : 0;
        known = 1;
    }
    return bounds;
}

// Bytes of stack left below the caller's frame (SIZE_MAX when the bounds are unknown).
static inline size_t sal_stack_remaining(void) {
    sal_stack_bounds b = sal_current_stack();
    if (b.size == 0) return (size_t)-1;
    char here;
    uintptr_t sp = (uintptr_t)&here;
    return sp > b.low ? (size_t)(sp - b.low) : 0;
}

static inline size_t sal_stack_size(void) { return sal_current_stack().size; }
// One spin-wait hint (x86 PAUSE): lets the sibling hyperthread run and saves power while a
// worker of our pool waits a few microseconds for the next job (Sources/Runtime/Core/WorkerPool.swift).
static inline void sal_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

#endif
