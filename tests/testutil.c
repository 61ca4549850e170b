/* SPDX-License-Identifier: BSD-3-Clause */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int error_count;
static char last_message[1024];

static void record(const char *msg, void *user) {
  (void)user;
  error_count++;
  snprintf(last_message, sizeof last_message, "%s", msg);
}

void tu_capture_errors(void) {
  ax_set_error_handler(record, NULL);
  tu_reset_errors();
}
int tu_error_count(void) { return error_count; }
void tu_reset_errors(void) {
  error_count = 0;
  last_message[0] = '\0';
}

bool tu_error_contains(const char *first, ...) {
  va_list ap;
  va_start(ap, first);
  bool ok = true;
  for (const char *s = first; s; s = va_arg(ap, const char *))
    if (!strstr(last_message, s)) {
      fprintf(stderr, "error message \"%s\" lacks \"%s\"\n", last_message, s);
      ok = false;
    }
  va_end(ap);
  return ok;
}

ax_tensor *tu_randn(ax_dtype dt, int ndim, const int64_t *shape) {
  return ax_randn(ndim, shape, &(ax_tensor_opts){.dtype = dt});
}

ax_tensor *tu_uniform(ax_dtype dt, int ndim, const int64_t *shape, double lo, double hi) {
  ax_tensor *u = ax_rand(ndim, shape, &(ax_tensor_opts){.dtype = dt});
  return ax_add_scalar(ax_mul_scalar(u, hi - lo), lo);
}

ax_tensor *tu_leaf(ax_tensor *t) {
  ax_tensor *l = ax_detach(t);
  ax_set_requires_grad(l, true);
  return l;
}

static int64_t elem_offset(const ax_tensor *t, int64_t i) {
  int64_t off = 0;
  for (int d = t->ndim - 1; d >= 0; d--) {
    off += (i % t->shape[d]) * t->strides[d];
    i /= t->shape[d];
  }
  return off;
}

double tu_get(const ax_tensor *t, int64_t i) {
  ax_scope_begin(); /* callable outside any scope without leaking */
  ax_tensor *c = ax_to(ax_cast((ax_tensor *)t, AX_F64), AX_CPU);
  double v = c ? ((const double *)ax_data_ptr(c))[elem_offset(c, i)] : NAN;
  ax_scope_end();
  return v;
}

static bool close_loop(const ax_tensor *a, const double *exp_vals, const ax_tensor *exp_t, int64_t n, double atol,
                       double rtol) {
  if (ax_numel(a) != n) {
    fprintf(stderr, "tu_allclose: %lld elements, expected %lld\n", (long long)ax_numel(a), (long long)n);
    return false;
  }
  ax_scope_begin();
  ax_no_grad_begin();
  ax_tensor *ac = ax_contiguous(ax_to(ax_cast((ax_tensor *)a, AX_F64), AX_CPU));
  ax_tensor *bc = exp_t ? ax_contiguous(ax_to(ax_cast((ax_tensor *)exp_t, AX_F64), AX_CPU)) : NULL;
  const double *av = ax_data_ptr(ac), *bv = exp_t ? ax_data_ptr(bc) : exp_vals;
  bool ok = true;
  double worst = 0;
  int64_t worst_i = -1;
  for (int64_t i = 0; i < n; i++) {
    double e = fabs(av[i] - bv[i]) / (atol + rtol * fabs(bv[i]));
    if (isnan(av[i]) != isnan(bv[i]) || (!isnan(av[i]) && !(e <= 1.0) && !(av[i] == bv[i]))) {
      if (ok || e > worst) {
        worst = e;
        worst_i = i;
      }
      ok = false;
    }
  }
  if (!ok)
    fprintf(stderr, "tu_allclose: element %lld is %.10g, expected %.10g (error %.3g x tolerance)\n",
            (long long)worst_i, av[worst_i], bv[worst_i], worst);
  ax_no_grad_end();
  ax_scope_end();
  return ok;
}

bool tu_allclose(const ax_tensor *a, const ax_tensor *b, double atol, double rtol) {
  if (!a || !b) return false;
  return close_loop(a, NULL, b, ax_numel(b), atol, rtol);
}

bool tu_allclose_data(const ax_tensor *a, const double *expected, int64_t n, double atol, double rtol) {
  if (!a) return false;
  return close_loop(a, expected, NULL, n, atol, rtol);
}

static double weighted_sum(tu_fn f, ax_tensor **inputs, void *ctx, ax_tensor *w) {
  ax_scope_begin();
  ax_no_grad_begin();
  ax_tensor *y = f(inputs, ctx);
  double v = y ? ax_item(ax_sum(ax_mul(ax_cast(y, AX_F64), w), AX_ALL, false)) : NAN;
  ax_no_grad_end();
  ax_scope_end();
  return v;
}

bool tu_gradcheck(tu_fn f, ax_tensor **inputs, int n_inputs, void *ctx, double eps, double atol, double rtol) {
  bool ok = true;
  ax_scope_begin();
  for (int i = 0; i < n_inputs; i++) ax_zero_grad(inputs[i]);
  ax_tensor *y = f(inputs, ctx);
  if (!y) {
    fprintf(stderr, "tu_gradcheck: the function returned NULL (%s)\n", ax_last_error());
    ax_scope_end();
    return false;
  }
  ax_tensor *w = ax_randn(y->ndim, y->shape, &(ax_tensor_opts){.dtype = AX_F64});
  ax_tensor *loss = ax_sum(ax_mul(ax_cast(y, AX_F64), w), AX_ALL, false);
  if (ax_backward(loss, NULL) != 0) {
    fprintf(stderr, "tu_gradcheck: backward failed (%s)\n", ax_last_error());
    ax_scope_end();
    return false;
  }
  for (int k = 0; k < n_inputs && ok; k++) {
    ax_tensor *x = inputs[k];
    if (!x->requires_grad) continue;
    if (x->dtype != AX_F64 || x->device.type != AX_DEVICE_CPU) {
      fprintf(stderr, "tu_gradcheck: input %d must be an f64 CPU tensor\n", k);
      ok = false;
      break;
    }
    if (!x->grad) {
      fprintf(stderr, "tu_gradcheck: input %d received no gradient\n", k);
      ok = false;
      break;
    }
    int64_t n = ax_numel(x);
    double *base = (double *)ax_data_ptr(x);
    for (int64_t i = 0; i < n; i++) {
      double *p = base + elem_offset(x, i);
      double orig = *p;
      *p = orig + eps;
      double fp = weighted_sum(f, inputs, ctx, w);
      *p = orig - eps;
      double fm = weighted_sum(f, inputs, ctx, w);
      *p = orig;
      double numeric = (fp - fm) / (2 * eps);
      double analytic = tu_get(x->grad, i);
      if (!(fabs(numeric - analytic) <= atol + rtol * fabs(numeric)) || isnan(analytic)) {
        fprintf(stderr, "tu_gradcheck: input %d %s element %lld: analytic %.10g, numeric %.10g\n", k,
                ax_shape_str(x, (char[64]){0}, 64), (long long)i, analytic, numeric);
        ok = false;
        break;
      }
    }
  }
  ax_scope_end();
  return ok;
}

bool tu_write_idx_u8(const char *dir, const char *name, int ndim, const int *dims, const unsigned char *data,
                     size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  unsigned char hdr[4] = {0, 0, 0x08, (unsigned char)ndim};
  bool ok = fwrite(hdr, 1, 4, f) == 4;
  for (int d = 0; d < ndim; d++) {
    unsigned char b[4] = {(unsigned char)(dims[d] >> 24), (unsigned char)(dims[d] >> 16), (unsigned char)(dims[d] >> 8),
                          (unsigned char)dims[d]};
    ok = ok && fwrite(b, 1, 4, f) == 4;
  }
  ok = ok && fwrite(data, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

bool tu_make_band_split(const char *dir, const char *prefix, int n, unsigned seed) {
  unsigned char *img = malloc((size_t)n * 784), *lab = malloc((size_t)n);
  bool ok = img && lab;
  for (int i = 0; ok && i < n; i++) {
    int c = (int)((i * 7 + seed) % 10);
    lab[i] = (unsigned char)c;
    for (int p = 0; p < 784; p++) {
      seed = seed * 1103515245u + 12345u;
      int row = p / 28, noise = (int)((seed >> 16) % 90);
      img[(size_t)i * 784 + p] = (unsigned char)((row / 3 == c ? 150 : 0) + noise);
    }
  }
  char name[64];
  snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
  ok = ok && tu_write_idx_u8(dir, name, 3, (int[]){n, 28, 28}, img, (size_t)n * 784);
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
  ok = ok && tu_write_idx_u8(dir, name, 1, (int[]){n}, lab, (size_t)n);
  free(img);
  free(lab);
  return ok;
}
