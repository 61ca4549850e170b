/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_print: a tensor's values the way PyTorch's repr shows them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define SUMMARIZE_OVER 1000
#define EDGE 3

typedef struct {
  FILE *f;
  const double *v;
  const int64_t *shape;
  int ndim;
  int width;
  int mode; /* 0 integer, 1 fixed, 2 scientific, 3 bool */
  bool summarize;
} printer;

static void fmt_value(const printer *p, double x, char *buf, size_t n) {
  if (p->mode == 3)
    snprintf(buf, n, "%s", x != 0 ? "True" : "False");
  else if (isnan(x))
    snprintf(buf, n, "nan");
  else if (isinf(x))
    snprintf(buf, n, x > 0 ? "inf" : "-inf");
  else if (p->mode == 0)
    snprintf(buf, n, "%.0f", x);
  else if (p->mode == 1)
    snprintf(buf, n, "%.4f", x);
  else
    snprintf(buf, n, "%.4e", x);
}

static void print_rec(const printer *p, int dim, int64_t base, int indent) {
  if (p->ndim == 0) {
    char b[64];
    fmt_value(p, p->v[0], b, sizeof b);
    fputs(b, p->f);
    return;
  }
  int64_t n = p->shape[dim], stride = 1;
  for (int d = dim + 1; d < p->ndim; d++) stride *= p->shape[d];
  fputc('[', p->f);
  for (int64_t i = 0; i < n; i++) {
    if (p->summarize && n > 2 * EDGE && i == EDGE) {
      if (dim == p->ndim - 1)
        fputs("...", p->f);
      else
        fprintf(p->f, "...");
      i = n - EDGE - 1;
      fputs(dim == p->ndim - 1 ? ", " : ",\n", p->f);
      if (dim != p->ndim - 1)
        for (int s = 0; s < indent + 1; s++) fputc(' ', p->f);
      continue;
    }
    if (dim == p->ndim - 1) {
      char b[64];
      fmt_value(p, p->v[base + i], b, sizeof b);
      fprintf(p->f, "%*s", p->width, b);
      if (i + 1 < n) fputs(", ", p->f);
    } else {
      print_rec(p, dim + 1, base + i * stride, indent + 1);
      if (i + 1 < n) {
        fputc(',', p->f);
        for (int nl = 0; nl < p->ndim - dim - 1; nl++) fputc('\n', p->f);
        for (int s = 0; s < indent + 1; s++) fputc(' ', p->f);
      }
    }
  }
  fputc(']', p->f);
}

void ax_fprint(FILE *f, const ax_tensor *t) {
  if (!t) {
    fprintf(f, "tensor(NULL)\n");
    return;
  }
  int64_t n = ax_numel(t);
  ax_scope_begin();
  ax_no_grad_begin();
  ax_tensor *c = ax_cast((ax_tensor *)t, AX_F64);
  ax_tensor *h = c ? ax_to(c, AX_CPU) : NULL;
  ax_tensor *hc = h ? ax_contiguous(h) : NULL;
  if (!hc) {
    ax_no_grad_end();
    ax_scope_end();
    return;
  }
  const double *v = ax_data_ptr(hc);
  printer p = {f, v, t->shape, t->ndim, 1, 0, n > SUMMARIZE_OVER};
  double maxabs = 0, minabs = INFINITY;
  bool all_int = true;
  for (int64_t i = 0; i < n; i++) {
    double a = fabs(v[i]);
    if (!isfinite(a)) continue;
    if (a > maxabs) maxabs = a;
    if (a > 0 && a < minabs) minabs = a;
    if (v[i] != floor(v[i])) all_int = false;
  }
  if (t->dtype == AX_BOOL)
    p.mode = 3;
  else if (!ax_dtype_is_float(t->dtype))
    p.mode = 0;
  else if (all_int && maxabs < 1e8)
    p.mode = 1;
  else if (maxabs >= 1e8 || (minabs < 1e-4 && minabs > 0))
    p.mode = 2;
  else
    p.mode = 1;
  for (int64_t i = 0; i < n; i++) {
    char b[64];
    fmt_value(&p, v[i], b, sizeof b);
    int w = (int)strlen(b);
    if (w > p.width) p.width = w;
  }
  fputs("tensor(", f);
  print_rec(&p, 0, 0, 7);
  if (t->dtype != AX_F32 && t->dtype != AX_I64 && t->dtype != AX_BOOL) fprintf(f, ", dtype=%s", ax_dtype_name(t->dtype));
  if (t->device.type != AX_DEVICE_CPU) fprintf(f, ", device='%s'", ax__dev(t->device));
  if (t->grad_fn)
    fprintf(f, ", grad_fn=<%s>", t->grad_fn->name);
  else if (t->requires_grad)
    fputs(", requires_grad=True", f);
  fputs(")\n", f);
  ax_no_grad_end();
  ax_scope_end();
}

void ax_print(const ax_tensor *t) { ax_fprint(stdout, t); }
