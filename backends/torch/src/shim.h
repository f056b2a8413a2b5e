/* The C API of the TORCH plugin's C++ shim over libtorch (shim.cpp); the Rust side is
 * src/ffi.rs, which mirrors every declaration here.
 *
 * Rules:
 * - No C++ exception leaves a function of this API: each catches everything and reports the
 *   message (one libtorch message, without its C++ backtrace) through its `err` sink, then
 *   returns RT_ERROR.
 * - Everything passed in is borrowed for the duration of the call. Everything passed out goes
 *   through a sink (`put` is called during the call and must copy what it needs).
 * - Handles (models, scripts) are freed with their own free function.
 * - The tensor, bytes and sink structs have the layout of the plugin ABI's TensorView, Bytes,
 *   ByteSink and TensorSink (backends/api), so the Rust side passes those directly.
 */
#ifndef REDISAI_TORCH_SHIM_H
#define REDISAI_TORCH_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RT_OK 0
#define RT_ERROR 1

/* DLPack type codes used by RedisAI (the plugin ABI's DL_* constants). */
#define RT_DL_INT 0
#define RT_DL_UINT 1
#define RT_DL_FLOAT 2
#define RT_DL_BOOL 6

/* A row-major, contiguous CPU tensor: the ABI's TensorView. */
typedef struct rt_tensor {
    uint8_t code;
    uint8_t bits;
    uint16_t lanes;
    uint32_t ndim;
    const int64_t *shape;
    const void *data;
    uint64_t byte_len;
    const uint64_t *string_offsets; /* unused: always null */
} rt_tensor;

typedef struct rt_bytes {
    const uint8_t *data;
    size_t len;
} rt_bytes;

typedef struct rt_bytes_sink {
    void *ctx;
    void (*put)(void *ctx, const uint8_t *data, size_t len);
} rt_bytes_sink;

typedef struct rt_tensor_sink {
    void *ctx;
    void (*put)(void *ctx, const rt_tensor *tensor);
} rt_tensor_sink;

/* The host's services to a running script (`redis.execute`, `redisAI.model_execute`). Each
 * returns RT_OK or RT_ERROR. redis_call: on RT_OK `reply` received the reply in the ABI's
 * Reply encoding (strings already valid UTF-8); on RT_ERROR it received the error text.
 * model_execute: on RT_OK each output went to `outputs`; on RT_ERROR `error` got the text. */
typedef struct rt_host {
    void *ctx;
    int (*redis_call)(void *ctx, const rt_bytes *argv, size_t argc, const rt_bytes_sink *reply);
    int (*model_execute)(void *ctx, rt_bytes key, const rt_tensor *inputs, size_t n_inputs,
                         const rt_tensor_sink *outputs, const rt_bytes_sink *error);
} rt_host;

/* libtorch's version, e.g. "2.13.0" (static). */
const char *rt_torch_version(void);

/* 1 when libtorch can use a CUDA device. */
int rt_cuda_available(void);

/* Sets the intra-op (when > 0) and inter-op (when > 0, once per process) thread pools. */
int rt_set_threads(int32_t intra_op, int32_t inter_op, const rt_bytes_sink *err);

/* Registers the redis:: and redisAI:: TorchScript operators (idempotent). */
int rt_init(const rt_bytes_sink *err);

/* ---- models ------------------------------------------------------------------------------ */

/* Loads a TorchScript archive (torch.jit.save). device: -1 = CPU, n >= 0 = CUDA device n. */
int rt_model_load(const uint8_t *blob, size_t len, int32_t device, void **model,
                  const rt_bytes_sink *err);
/* Names of forward's arguments (without self), each put as one string to `names`. */
void rt_model_input_names(void *model, const rt_bytes_sink *names);
/* Number of outputs forward declares: N for a tuple of N, else 1. */
size_t rt_model_num_outputs(void *model);
/* Runs forward; each output tensor (tuples and lists flattened) goes to `outputs`. */
int rt_model_run(void *model, const rt_tensor *inputs, size_t n_inputs,
                 const rt_tensor_sink *outputs, const rt_bytes_sink *err);
void rt_model_free(void *model);

/* ---- scripts ----------------------------------------------------------------------------- */

/* Argument kinds reported by rt_script_signature. */
#define RT_ARG_OTHER 0
#define RT_ARG_TENSOR 1
#define RT_ARG_TENSOR_LIST 2
#define RT_ARG_STRING_LIST 3

/* Compiles TorchScript source (names resolved: torch, redis, redisAI). */
int rt_script_compile(const uint8_t *source, size_t len, int32_t device, void **script,
                      const rt_bytes_sink *err);
/* -1 when the script has no function `name`; otherwise its number of parameters, with the
 * kinds of the first min(n, cap) written to `kinds`. */
int64_t rt_script_signature(void *script, const uint8_t *name, size_t name_len, int32_t *kinds,
                            size_t cap);
/* Runs function `name`. mode RT_CALL_ENTRY_POINT: fn(inputs, keys, args) with keys/args as
 * List[str] (UTF-8); mode RT_CALL_LEGACY: parameters filled positionally from the inputs, a
 * Tensor parameter taking one, a List[Tensor] parameter all the remaining ones (the caller
 * checked the signature). `host` serves the script's redis/redisAI calls (may be null). */
#define RT_CALL_ENTRY_POINT 0
#define RT_CALL_LEGACY 1
int rt_script_run(void *script, const uint8_t *name, size_t name_len, int32_t mode,
                  const rt_tensor *inputs, size_t n_inputs, const rt_bytes *keys, size_t n_keys,
                  const rt_bytes *args, size_t n_args, const rt_host *host,
                  const rt_tensor_sink *outputs, const rt_bytes_sink *err);
void rt_script_free(void *script);

/* ---- fixtures ---------------------------------------------------------------------------- */

/* Builds a torch::jit::Module holding float32 parameters (names[i], data[i] with ndims[i]
 * dimensions shapes[i]), defines its methods from TorchScript `source` and saves it to
 * `path` with Module::save (what torch.jit.save writes). */
int rt_save_module(const char *source, size_t n_params, const char *const *names,
                   const float *const *data, const int64_t *ndims, const int64_t *const *shapes,
                   const char *path, const rt_bytes_sink *err);

#ifdef __cplusplus
}
#endif

#endif
