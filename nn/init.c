/* SPDX-License-Identifier: BSD-3-Clause */
/* Initializers with torch.nn.init's distributions, filled in place from the
 * global Philox generator so that a seed reproduces a model on every backend. */
#include <math.h>

#include "axon.h"

double ax_init_calculate_gain(ax_nonlinearity nl, double param) {
  switch (nl) {
  case AX_NONLIN_RELU: return sqrt(2.0);
  case AX_NONLIN_LEAKY_RELU: return sqrt(2.0 / (1.0 + param * param));
  case AX_NONLIN_TANH: return 5.0 / 3.0;
  case AX_NONLIN_SELU: return 0.75;
  case AX_NONLIN_LINEAR:
  default: return 1.0;
  }
}

int ax_init_fans(const ax_tensor *t, int64_t *fan_in, int64_t *fan_out) {
  if (!t || t->ndim < 2) {
    if (fan_in) *fan_in = -1;
    if (fan_out) *fan_out = -1;
    return -1;
  }
  int64_t receptive = 1;
  for (int d = 2; d < t->ndim; d++) receptive *= t->shape[d];
  if (fan_in) *fan_in = t->shape[1] * receptive;
  if (fan_out) *fan_out = t->shape[0] * receptive;
  return 0;
}

static bool check_float(const char *op, const ax_tensor *t) {
  if (ax_dtype_is_float(t->dtype)) return true;
  char buf[128];
  ax_error("%s: expected a floating-point tensor, got %s %s", op, ax_dtype_name(t->dtype), ax_shape_str(t, buf, sizeof buf));
  return false;
}

/* t = src * scale + shift, written in place without recording a graph. */
static int fill_from(ax_tensor *t, ax_tensor *src, double scale, double shift) {
  ax_tensor *v = ax_add_scalar(ax_mul_scalar(src, scale), shift);
  return v ? ax_copy_(t, v) : -1;
}

/* dist 0: U(0,1) mapped by scale/shift; 1: N(0,1) mapped by scale/shift. */
static int fill_random(const char *op, ax_tensor *t, int dist, double scale, double shift) {
  if (!t) return -1;
  if (!check_float(op, t)) return -1;
  ax_scope_begin();
  ax_no_grad_begin();
  ax_tensor_opts o = {.dtype = t->dtype, .device = t->device};
  /* draw in f32 or f64 (bf16/f16 targets get rounded values of f32 draws) */
  if (t->dtype != AX_F64) o.dtype = AX_F32;
  ax_tensor *r = dist ? ax_randn(t->ndim, t->shape, &o) : ax_rand(t->ndim, t->shape, &o);
  int rc = r ? fill_from(t, r, scale, shift) : -1;
  ax_no_grad_end();
  ax_scope_end();
  return rc;
}

int ax_init_uniform_(ax_tensor *t, double a, double b) { return fill_random("ax_init_uniform_", t, 0, b - a, a); }
int ax_init_normal_(ax_tensor *t, double mean, double std) {
  return fill_random("ax_init_normal_", t, 1, std, mean);
}

int ax_init_constant_(ax_tensor *t, double value) {
  if (!t) return -1;
  if (!check_float("ax_init_constant_", t)) return -1;
  ax_scope_begin();
  ax_no_grad_begin();
  ax_tensor *v = ax_scalar(value, &(ax_tensor_opts){.dtype = t->dtype, .device = t->device});
  int rc = v ? ax_copy_(t, v) : -1;
  ax_no_grad_end();
  ax_scope_end();
  return rc;
}

int ax_init_zeros_(ax_tensor *t) { return ax_init_constant_(t, 0.0); }
int ax_init_ones_(ax_tensor *t) { return ax_init_constant_(t, 1.0); }

/* fan_in, fan_out of t, or an error naming op for tensors of fewer than 2 dims */
static bool fans(const char *op, const ax_tensor *t, int64_t *fan_in, int64_t *fan_out) {
  if (ax_init_fans(t, fan_in, fan_out) == 0) return true;
  char buf[128];
  ax_error("%s: fan in and fan out need a tensor of at least 2 dims, got %s", op, ax_shape_str(t, buf, sizeof buf));
  return false;
}

int ax_init_xavier_uniform_(ax_tensor *t, double gain) {
  int64_t fi, fo;
  if (!t || !fans("ax_init_xavier_uniform_", t, &fi, &fo)) return -1;
  double bound = gain * sqrt(6.0 / (double)(fi + fo));
  return fill_random("ax_init_xavier_uniform_", t, 0, 2 * bound, -bound);
}

int ax_init_xavier_normal_(ax_tensor *t, double gain) {
  int64_t fi, fo;
  if (!t || !fans("ax_init_xavier_normal_", t, &fi, &fo)) return -1;
  return fill_random("ax_init_xavier_normal_", t, 1, gain * sqrt(2.0 / (double)(fi + fo)), 0.0);
}

static double kaiming_std(double a, ax_fan_mode mode, ax_nonlinearity nl, int64_t fi, int64_t fo) {
  int64_t fan = mode == AX_FAN_OUT ? fo : fi;
  return ax_init_calculate_gain(nl, a) / sqrt((double)(fan > 0 ? fan : 1));
}

int ax_init_kaiming_uniform_(ax_tensor *t, double a, ax_fan_mode mode, ax_nonlinearity nl) {
  int64_t fi, fo;
  if (!t || !fans("ax_init_kaiming_uniform_", t, &fi, &fo)) return -1;
  double bound = sqrt(3.0) * kaiming_std(a, mode, nl, fi, fo);
  return fill_random("ax_init_kaiming_uniform_", t, 0, 2 * bound, -bound);
}

int ax_init_kaiming_normal_(ax_tensor *t, double a, ax_fan_mode mode, ax_nonlinearity nl) {
  int64_t fi, fo;
  if (!t || !fans("ax_init_kaiming_normal_", t, &fi, &fo)) return -1;
  return fill_random("ax_init_kaiming_normal_", t, 1, kaiming_std(a, mode, nl, fi, fo), 0.0);
}
