/* SPDX-License-Identifier: BSD-3-Clause */
/* Named tensors and tensor files.
 *
 * An ax_state_dict is an ordered name -> tensor map, the C form of PyTorch's
 * state_dict: modules add their parameters and buffers to one
 * (ax_module_state_dict), optimizers their state, and a safetensors file holds
 * one. The dict holds a reference to each tensor, so a tensor added from a scope
 * outlives that scope until the dict is freed.
 *
 * File loaders never abort on bad input: they return NULL or -1 and write a
 * one-line reason to err (which may be NULL). Writers write a temporary file,
 * fsync it and rename it over the target, so a crash leaves the old file whole.
 */
#ifndef AXON_IO_H
#define AXON_IO_H

#include <stddef.h>

#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_state_dict ax_state_dict;

ax_state_dict *ax_state_dict_new(void);
void ax_state_dict_free(ax_state_dict *sd);
/* Adds (or replaces) name -> t, taking a new reference to t. Returns 0 or -1. */
int ax_state_dict_set(ax_state_dict *sd, const char *name, ax_tensor *t);
ax_tensor *ax_state_dict_get(const ax_state_dict *sd, const char *name); /* NULL if absent */
int ax_state_dict_size(const ax_state_dict *sd);
const char *ax_state_dict_name(const ax_state_dict *sd, int i);
ax_tensor *ax_state_dict_tensor(const ax_state_dict *sd, int i);
/* Free-form string metadata (safetensors "__metadata__"). */
int ax_state_dict_set_meta(ax_state_dict *sd, const char *key, const char *value);
const char *ax_state_dict_meta(const ax_state_dict *sd, const char *key); /* NULL if absent */
int ax_state_dict_meta_count(const ax_state_dict *sd);
const char *ax_state_dict_meta_key(const ax_state_dict *sd, int i);

/* safetensors (https://huggingface.co/docs/safetensors): 8-byte little-endian
 * header length, JSON header {name: {dtype, shape, data_offsets}}, raw data.
 * Tensors on a GPU are copied to the host to be written; loaded tensors are on the CPU. */
int ax_save_safetensors(const char *path, const ax_state_dict *sd, char *err, size_t errlen);
ax_state_dict *ax_load_safetensors(const char *path, char *err, size_t errlen);

/* Copy src's values into dst (same shape; dtype converted). Returns 0, or -1 with a
 * reason naming `name` and both shapes. */
int ax_state_copy_into(ax_tensor *dst, ax_tensor *src, const char *name, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
