/*
 * saliency_plugin.h: the C ABI between saliency-repl and compiled explanation plugins.
 *
 * Why C: the saliency-repl executable links its Swift modules statically. A plugin that
 * linked them again would carry a second copy of every type and of the plugin registry, so
 * the boundary is this small set of plain C structs and function pointers instead. Any
 * language that can export a C function can implement a plugin (Swift via @_cdecl, C, C++,
 * Rust, Zig).
 *
 * A plugin is a shared library (.so on Linux, .dylib on macOS) exporting one function:
 *
 *     int32_t saliency_plugin_register(const SalHostAPI *host, SalRegistrar *registrar);
 *
 * The host calls it once, right after dlopen. The plugin calls registrar->add_explainer once
 * per explanation method and returns SAL_OK; anything else aborts the load (nothing of the
 * library is registered then). Registered methods are used exactly like built-in ones
 * (explain, compare, pipelines, help, methods()).
 *
 * VERSIONING. SAL_PLUGIN_ABI_VERSION is bumped on every incompatible change of this file.
 * Every descriptor the plugin hands to the host starts with `abi_version`, which the plugin
 * sets to the SAL_PLUGIN_ABI_VERSION it was compiled with; the host refuses a descriptor of
 * another version with a message naming both versions, before reading any other field.
 * `host->abi_version` lets a plugin refuse an older or newer host the same way.
 *
 * MEMORY. Neither side ever frees memory of the other.
 *   - Registration: the host copies every string and the parameter array during
 *     add_explainer; they need to live only until add_explainer returns. The `explain` and
 *     `user_data` pointers must stay valid while the process runs (the host never unloads a
 *     plugin: Swift and C++ runtimes do not support unloading reliably).
 *   - explain: everything in SalExplainCall is owned by the host and valid only during the
 *     call. `images`, `targets` and `params` are read-only; `output` (zero-filled) and
 *     `error` are the plugin's to write.
 *   - Host callbacks: every buffer passed to a callback is owned by the caller (the plugin)
 *     and must have exactly the size the callback documents; the host writes into output
 *     buffers and keeps no pointer after returning. Strings returned by the host
 *     (last_error) are owned by the host and valid until the next callback on that context.
 *
 * THREADS. The host calls `explain` on the thread that runs the explanation; the plugin may
 * call host callbacks only from that thread and only during that call (the context is dead
 * afterwards). Keep `explain` reentrant (no mutable globals): two explanations may run at
 * once on different threads, each with its own context. The host's forward and backward
 * passes already use every core, so a plugin gains nothing from threads of its own.
 *
 * ERRORS. Functions return SAL_OK (0) or a nonzero SalStatus. When a host callback fails,
 * last_error(ctx) says why; the plugin should stop and return that status from `explain`
 * (the host reports its own message, and a cancellation as a cancellation). When the plugin
 * fails on its own, it writes a NUL-terminated message into call->error (at most
 * call->error_capacity bytes including the NUL) and returns SAL_ERR_PLUGIN.
 */
#ifndef SALIENCY_PLUGIN_H
#define SALIENCY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI this header describes. */
#define SAL_PLUGIN_ABI_VERSION 1u

/** Largest tensor rank the ABI carries (images are rank 4: [N, C, H, W]). */
#define SAL_MAX_RANK 8

/** Status codes. */
typedef enum SalStatus {
    SAL_OK = 0,
    /** A caller's argument is wrong (shape, size, unknown layer, NULL pointer). */
    SAL_ERR_INVALID = 1,
    /** The user cancelled (Ctrl-C, SIGTERM); stop and return this. */
    SAL_ERR_CANCELLED = 2,
    /** The host failed (the model's forward or backward pass raised an error). */
    SAL_ERR_HOST = 3,
    /** The plugin failed; its message is in call->error. */
    SAL_ERR_PLUGIN = 4,
} SalStatus;

/**
 * A dense float32 tensor view, contiguous row-major (NCHW for images). `data` holds
 * shape[0] * ... * shape[rank - 1] floats; shape entries at index >= rank are ignored.
 */
typedef struct SalTensor {
    float *data;
    int32_t rank;
    int64_t shape[SAL_MAX_RANK];
} SalTensor;

/** Parameter kinds. The host validates values (type, range) before calling explain. */
typedef enum SalParamKind {
    /** A real number (double). */
    SAL_PARAM_NUMBER = 0,
    /** A whole number (passed as a double holding an integer). */
    SAL_PARAM_INT = 1,
    /** A string (UTF-8). */
    SAL_PARAM_STRING = 2,
    /** A boolean (passed as 0.0 or 1.0). */
    SAL_PARAM_BOOL = 3,
    /** A layer name of the model (a string; pass it to gradient's `layer`). */
    SAL_PARAM_LAYER = 4,
} SalParamKind;

/** One parameter of an explainer: what help(), completion and pipeline validation show. */
typedef struct SalParamSpec {
    /** Identifier: letters, digits and _, not starting with a digit; unique per explainer. */
    const char *name;
    /** A SalParamKind. */
    int32_t kind;
    /** Nonzero when the parameter has a default (otherwise it is optional with no value). */
    int32_t has_default;
    /** Default of NUMBER, INT (whole) and BOOL (0 or 1) parameters. */
    double default_number;
    /** Default of STRING and LAYER parameters (may be NULL when has_default is 0). */
    const char *default_string;
    /** Nonzero when NUMBER / INT values must lie in [min, max] (the default too). */
    int32_t has_range;
    double min;
    double max;
    /** One line for help(). */
    const char *doc;
} SalParamSpec;

/** A resolved parameter value, in the order of the explainer's parameter specs. */
typedef struct SalParamValue {
    /** 0 when an optional parameter without default was not given. */
    int32_t is_set;
    /** NUMBER, INT (whole) and BOOL (0 or 1) values. */
    double number;
    /** STRING and LAYER values (NULL otherwise). Host-owned, valid during explain. */
    const char *string;
} SalParamValue;

/** Capability flags (the same bits as the host's own capabilities). */
#define SAL_CAP_NEEDS_GRADIENTS 1u
#define SAL_CAP_LAYER_CHOICE 2u
#define SAL_CAP_BATCHED 4u
#define SAL_CAP_STOCHASTIC 8u

/** Opaque per-call host state: the model, score kind, seeded generator, cancellation. */
typedef struct SalContext SalContext;

/** Everything one explain call sees. */
typedef struct SalExplainCall {
    /** [N, C, H, W] images to explain (read-only). */
    SalTensor images;
    /** N resolved target classes (read-only). */
    const int32_t *targets;
    /** param_count values, one per spec, in spec order (read-only). */
    const SalParamValue *params;
    int32_t param_count;
    /** [N, 1, H, W], zero-filled: the saliency map the plugin writes. */
    SalTensor output;
    /** Where the plugin writes a NUL-terminated message when it returns SAL_ERR_PLUGIN. */
    char *error;
    int64_t error_capacity;
    /** The descriptor's user_data. */
    void *user_data;
} SalExplainCall;

/** The host's callbacks. The table is valid for the life of the process. */
typedef struct SalHostAPI {
    /** The SAL_PLUGIN_ABI_VERSION the host was built with. */
    uint32_t abi_version;
    uint32_t reserved;

    /** Number of classes of the model (the width of its logits). */
    int32_t (*class_count)(SalContext *ctx, int64_t *classes);

    /**
     * Logits of a batch: `input` is [M, C, H, W] (the image shape, any M >= 1); `logits`
     * must be a plugin buffer of rank 2 with shape [M, class_count] which the host fills.
     * No gradients are recorded.
     */
    int32_t (*forward)(SalContext *ctx, const SalTensor *input, SalTensor *logits);

    /**
     * Shape of a layer's activation for a batch of `batch` images: the host sets
     * shape->rank and shape->shape (shape->data is ignored).
     */
    int32_t (*layer_shape)(SalContext *ctx, const char *layer, int64_t batch, SalTensor *shape);

    /**
     * Gradient of the explained score (logit, probability or log-probability of each item's
     * target class, as the user chose with `score:`), summed over the batch, so item m's
     * gradient is the gradient of its own score.
     *   input        [M, C, H, W]
     *   targets      M target classes
     *   input_grad   [M, C, H, W] plugin buffer the host fills, or NULL
     *   layer        a layer name, or NULL when no layer output is wanted
     *   layer_grad   plugin buffer shaped like layer_shape(layer, M): gradient w.r.t. the
     *                layer's activation, or NULL
     *   activation   same shape: the layer's activation, or NULL
     *   scores       M floats: each item's score, or NULL
     */
    int32_t (*gradient)(SalContext *ctx, const SalTensor *input, const int32_t *targets,
                        SalTensor *input_grad, const char *layer, SalTensor *layer_grad,
                        SalTensor *activation, float *scores);

    /**
     * `count` draws from the context's seeded generator (the same seed gives the same
     * draws; every other method of the host uses the same generator): uniform in [0, 1),
     * or standard normal.
     */
    int32_t (*random_uniform)(SalContext *ctx, float *out, int64_t count);
    int32_t (*random_normal)(SalContext *ctx, float *out, int64_t count);

    /** Reports work done for progress bars (done of total steps). */
    void (*progress)(SalContext *ctx, int64_t done, int64_t total);

    /** 1 once the user asked to cancel (poll between steps and return SAL_ERR_CANCELLED). */
    int32_t (*is_cancelled)(SalContext *ctx);

    /** The message of the last failed callback on this context ("" when none). */
    const char *(*last_error)(SalContext *ctx);
} SalHostAPI;

/** An explanation method a plugin registers. */
typedef struct SalExplainer {
    /** SAL_PLUGIN_ABI_VERSION as the plugin was compiled (checked before any other field). */
    uint32_t abi_version;
    /** SAL_CAP_* flags. */
    uint32_t capabilities;
    /** Method name: letters, digits, _ and -, starting with a letter; at most 64 bytes. */
    const char *name;
    /** One line for methods() and help(). */
    const char *summary;
    /** Paper reference, "Authors, Title, Venue Year". */
    const char *reference;
    const SalParamSpec *params;
    int32_t param_count;
    /** Computes call->output; returns SAL_OK or a SalStatus. */
    int32_t (*explain)(const SalHostAPI *host, SalContext *ctx, SalExplainCall *call);
    /** Passed back in every call (never touched by the host). */
    void *user_data;
} SalExplainer;

/** What the host hands to saliency_plugin_register. */
typedef struct SalRegistrar {
    /**
     * Registers one explainer. Returns SAL_OK, or SAL_ERR_INVALID when the descriptor is
     * wrong (its ABI version, name, parameters); the host then reports the message and
     * the load fails as a whole.
     */
    int32_t (*add_explainer)(struct SalRegistrar *registrar, const SalExplainer *explainer);
    /** Host state (do not touch). */
    void *host_data;
} SalRegistrar;

/** The one symbol a plugin exports. */
typedef int32_t (*SalPluginRegisterFn)(const SalHostAPI *host, SalRegistrar *registrar);
#define SAL_PLUGIN_ENTRY_POINT "saliency_plugin_register"

#ifdef __cplusplus
}
#endif

#endif /* SALIENCY_PLUGIN_H */
