/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to optim/: the optimizer object shared by every kind. */
#ifndef AXON_OPTIM_INTERNAL_H
#define AXON_OPTIM_INTERNAL_H

#include "core/optim_kernel.h"

#define AX_OPTIM_STATES 3

struct ax_optimizer {
  const char *name;    /* "sgd", ... */
  const char *op;      /* "ax_sgd", ... for messages */
  ax_optim_args args;  /* hyperparameters; .step is set per update */
  int n;
  ax_tensor **params;  /* retained */
  /* state k of parameter i is state[k][i] (persistent, NULL until its first update);
   * state_names[k] is its PyTorch name, NULL when this configuration does not use it */
  const char *state_names[AX_OPTIM_STATES];
  ax_tensor **state[AX_OPTIM_STATES];
  int64_t *param_steps; /* updates of each parameter (PyTorch's per-parameter "step") */
  int64_t steps;        /* ax_optimizer_step calls that succeeded */
  const ax_optimizer_ops *ops; /* a wrapper (ax_optimizer_wrap): every call goes to ops with impl */
  void *impl;
};

/* An option value: 0 means def, AX_OPTIM_ZERO means 0. */
double ax__opt_or(double v, double def);
/* Checks lr, grad_scale, weight_decay, l1 and the parameter list (reports with op). */
bool ax__optim_check_common(const char *op, ax_tensor *const *params, int n, const ax_optim_args *a);
/* A new optimizer (NULL after an error); state_names as in struct ax_optimizer. */
ax_optimizer *ax__optimizer_new(const char *op, const char *name, const ax_optim_args *a, ax_tensor *const *params,
                                int n, const char *s0, const char *s1, const char *s2);

#endif
