/* SPDX-License-Identifier: BSD-3-Clause */
/* Axon tensors: dtypes, devices, storage, scopes, errors, random numbers.
 *
 * An ax_tensor is a strided view (shape, strides in elements, offset) of a
 * reference-counted storage on one device. Every tensor an op returns belongs
 * to the innermost open scope and is released when that scope ends; outside
 * any scope the caller owns it and releases it with ax_free. Views share
 * storage, so a view keeps its data alive after the tensor it came from is
 * released.
 *
 * Errors (wrong shape, dtype, device) go to the error handler. The default
 * handler prints the message and aborts; a program that installs its own gets
 * NULL back from the failing op, and every op given NULL returns NULL.
 */
#ifndef AXON_TENSOR_H
#define AXON_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "axon/version.h" /* AX_VERSION_MAJOR/MINOR/PATCH, ax_version(): generated from CMake's project() version */

#ifdef __cplusplus
extern "C" {
#endif


#define AX_MAX_DIMS 8

typedef enum ax_dtype {
  AX_F32 = 0, /* the default: a zero-initialized options struct means f32 */
  AX_F64,
  AX_BF16,
  AX_F16,
  AX_I32,
  AX_I64,
  AX_U8,
  AX_BOOL,
  AX_I8, /* signed 8-bit: int8 quantized weights and activations (docs/quantization.md) */
  AX_NUM_DTYPES
} ax_dtype;

typedef enum ax_device_type { AX_DEVICE_CPU = 0, AX_DEVICE_CUDA = 1 } ax_device_type;

typedef struct ax_device {
  int type;  /* ax_device_type */
  int index; /* GPU ordinal; 0 for the CPU */
} ax_device;

#define AX_CPU ((ax_device){AX_DEVICE_CPU, 0})
#define AX_CUDA(i) ((ax_device){AX_DEVICE_CUDA, (i)})

struct ax_storage;
struct ax_node;
struct ax_tensor;

typedef void (*ax_grad_hook)(struct ax_tensor *leaf, void *user);

typedef struct ax_tensor {
  ax_dtype dtype;
  ax_device device;
  int ndim;
  int64_t shape[AX_MAX_DIMS];
  int64_t strides[AX_MAX_DIMS]; /* in elements */
  int64_t offset;               /* in elements, into storage */
  struct ax_storage *storage;

  /* autograd */
  bool requires_grad;
  bool retains_grad;       /* non-leaf whose .grad is kept (ax_retain_grad) */
  struct ax_tensor *grad;  /* accumulated gradient, owned by this tensor */
  struct ax_node *grad_fn; /* the op that produced it; NULL for leaves */
  ax_grad_hook grad_hook;  /* called when this leaf's grad is final in a backward pass */
  void *grad_hook_user;

  /* internal */
  int refcount;
  uint32_t visit_mark; /* backward pass bookkeeping */
  int pending_grads;
  /* where it came from, for error messages (AXON_DEBUG_SCOPES, docs/settings.md): the op that
   * made it, and the file and line of the innermost scope open then (NULL: outside any scope) */
  const char *origin;
  const char *origin_file;
  int origin_line;
} ax_tensor;

/* Options for creating tensors; NULL or {0} means f32 on the CPU. */
typedef struct ax_tensor_opts {
  ax_dtype dtype;
  ax_device device;
  bool requires_grad;
} ax_tensor_opts;

/* AX_SHAPE(2, 3) expands to the two arguments `ndim, shape`. */
#define AX_SHAPE(...) \
  (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}

/* ---- dtypes and devices ---- */
size_t ax_dtype_size(ax_dtype dt);
const char *ax_dtype_name(ax_dtype dt); /* "f32", "bf16", ... */
bool ax_dtype_is_float(ax_dtype dt);
bool ax_device_eq(ax_device a, ax_device b);
const char *ax_device_str(ax_device d, char *buf, size_t n); /* "cpu", "cuda:0" */
int ax_cuda_device_count(void); /* 0 without a CUDA build or without a usable GPU */
bool ax_has_cuda(void);         /* true when the CUDA backend is compiled in */
/* true when the CUDA devices are the host emulator (built with -DAXON_CUDA=EMULATE):
 * every kernel runs, on the CPU, about a thousand times slower than on a GPU */
bool ax_cuda_emulated(void);
/* where work goes unless told otherwise: cuda:0 when there is a real GPU, else the
 * CPU (an emulated device is used only when asked for, e.g. --device cuda) */
ax_device ax_default_device(void);
/* Waits until every queued kernel on d has finished (a no-op on the CPU); for timing. */
void ax_synchronize(ax_device d);

/* ---- lifetime: scopes and reference counts ---- */
void(ax_scope_begin)(void);
/* ax_scope_begin() is a macro that records where the scope was opened, for the reports of
 * scope debugging (AXON_DEBUG_SCOPES=1: a tensor used after its scope ended is an error
 * naming the op and where the tensor was made; scopes still open at exit and nesting deeper
 * than AX_SCOPE_DEPTH_WARN are reported on stderr). file may be NULL. */
void ax_scope_begin_at(const char *file, int line);
#define ax_scope_begin() ax_scope_begin_at(__FILE__, __LINE__)
#define AX_SCOPE_DEPTH_WARN 256
void ax_scope_end(void);       /* releases every tensor created since the matching begin */
int ax_scope_depth(void);
ax_tensor *ax_keep(ax_tensor *t);    /* hand t to the enclosing scope (detached from autograd) */
/* Take t out of scope ownership: the caller ax_free()s it; detached. It adds a reference,
 * so call it on a tensor a scope owns (with no scope open, the creation reference is
 * already the caller's and ax_persist's would be a second one to free). */
ax_tensor *ax_persist(ax_tensor *t);
ax_tensor *ax_retain(ax_tensor *t);  /* one more reference, released by ax_free */
void ax_free(ax_tensor *t);          /* release one reference; NULL is fine */

/* ---- tensor facts ---- */
int64_t ax_numel(const ax_tensor *t);
size_t ax_nbytes(const ax_tensor *t);
bool ax_is_contiguous(const ax_tensor *t);
void *ax_data_ptr(const ax_tensor *t); /* address of element 0 (device memory for CUDA tensors) */
const char *ax_shape_str(const ax_tensor *t, char *buf, size_t n); /* "[2, 3]" */
bool ax_same_shape(const ax_tensor *a, const ax_tensor *b);
bool ax_shares_storage(const ax_tensor *a, const ax_tensor *b);

/* ---- errors ---- */
typedef void (*ax_error_handler)(const char *message, void *user);
/* Install a handler (NULL restores the default print-and-abort). Returns the previous one. */
ax_error_handler ax_set_error_handler(ax_error_handler h, void *user);
const char *ax_last_error(void); /* message of the latest error on this thread, or "" */
void ax_clear_error(void);
void ax_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ---- memory ---- */
typedef struct ax_memory_stats {
  size_t live_bytes;   /* held by tensors' storages */
  size_t cached_bytes; /* freed blocks kept for reuse */
  size_t peak_bytes;   /* highest live_bytes seen */
  size_t os_allocs;    /* blocks obtained from the system */
  size_t live_tensors; /* ax_tensor structs alive (all devices) */
} ax_memory_stats;
ax_memory_stats ax_memory_stats_get(ax_device d);
void ax_memory_empty_cache(ax_device d);

/* ---- random numbers (Philox 4x32-10, the same stream on every backend) ---- */
void ax_manual_seed(uint64_t seed);
void ax_rng_get_state(uint64_t *seed, uint64_t *offset);
void ax_rng_set_state(uint64_t seed, uint64_t offset);

/* ---- printing ---- */
void ax_print(const ax_tensor *t); /* like PyTorch's repr, to stdout */
void ax_fprint(FILE *f, const ax_tensor *t);

/* ---- threads ---- */
int ax_num_threads(void);
void ax_set_num_threads(int n);
const char *ax_cpu_name(char *buf, size_t n); /* the CPU's model name ("unknown" if unreadable) */

#ifdef __cplusplus
}
#endif
#endif
