#ifndef SALIENCY_CZMQ_SHIM_H
#define SALIENCY_CZMQ_SHIM_H
#include <errno.h>
#include <stdio.h>
#include <zmq.h>
// Swift 6 rejects reading C globals and does not import function-like macros: accessors
// for what the kernel's socket wrapper needs. Plain integer macros (ZMQ_ROUTER, ZMQ_POLLIN,
// ZMQ_SNDMORE, ...) import as constants.
static inline int sal_zmq_errno(void) { return zmq_errno(); }
static inline int sal_eintr(void) { return EINTR; }
static inline int sal_eagain(void) { return EAGAIN; }
static inline int sal_eterm(void) { return ETERM; }
// The kernel flushes C stdout before its descriptor becomes a pipe and after each cell.
static inline FILE *sal_kernel_stdout(void) { return stdout; }
#endif
