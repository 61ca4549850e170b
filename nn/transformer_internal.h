/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared between nn/transformer.c and nn/models/gpt.c: the cached forward of
 * attention and of a block (k_cache / v_cache [B, H, max_len, D], new positions
 * written at pos; NULL caches: a plain forward). */
#ifndef AXON_NN_TRANSFORMER_INTERNAL_H
#define AXON_NN_TRANSFORMER_INTERNAL_H

#include "axon.h"

ax_tensor *ax__attention_run(ax_module *m, ax_tensor *x, ax_tensor *k_cache, ax_tensor *v_cache, int64_t pos);
ax_tensor *ax__block_run(ax_module *m, ax_tensor *x, ax_tensor *k_cache, ax_tensor *v_cache, int64_t pos);

#endif
