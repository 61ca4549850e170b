/* SPDX-License-Identifier: BSD-3-Clause */
/* Private: the op-layer entry to the backends' fused optimizer kernel, for optim/. */
#ifndef AXON_CORE_OPTIM_KERNEL_H
#define AXON_CORE_OPTIM_KERNEL_H

#include "axon.h"
#include "kernels/backend.h"

/* The dtype of a parameter's optimizer state: f32 for bf16/f16, the parameter's otherwise. */
ax_dtype ax__optim_state_dtype(ax_dtype param_dtype);

/* One fused update (see ax_optim_args in kernels/backend.h) of n parameters on one
 * device. grads[i] has params[i]'s shape and dtype; states[k][i] (k < 3, may be NULL)
 * are contiguous, of params[i]'s shape and of ax__optim_state_dtype. Parameters and
 * grads of any layout are accepted (the kernels see contiguous copies). Returns 0, or
 * -1 after reporting an error naming op, before anything is modified. */
int ax__optim_step(const char *op, const ax_optim_args *a, int n, ax_tensor *const *params, ax_tensor *const *grads,
                   ax_tensor *const *state0, ax_tensor *const *state1, ax_tensor *const *state2);

#endif
