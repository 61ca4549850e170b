/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the copy family against the CPU: ax_cast between every pair of the
 * 8 dtypes, ax_contiguous / ax_clone of transposed and step-sliced views, ax_to
 * (with transfers longer than the pinned staging buffers), ax_copy_ with
 * broadcasting and conversion, ax_full / ax_zeros / ax_ones, ax_arange, and
 * ax_rand / ax_randn, which must draw the CPU's numbers: uniform bit for bit,
 * normal within a few ulp (the bound is far tighter than the f32 default). */
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "parity.h"

static const ax_dtype all_dtypes[] = {AX_F32, AX_F64, AX_BF16, AX_F16, AX_I32, AX_I64, AX_U8, AX_BOOL};
#define N_DT (int)(sizeof all_dtypes / sizeof all_dtypes[0])

typedef struct shape_case {
  int ndim;
  int64_t shape[3];
} shape_case;
static const shape_case full_sizes[] = {{0, {0}}, {1, {1}}, {1, {7}}, {1, {129}}, {1, {4097}}, {3, {33, 65, 17}}};
/* the emulate tier: the same, with a smaller 3-D case (still odd in every dim) */
static const shape_case emu_sizes[] = {{0, {0}}, {1, {1}}, {1, {7}}, {1, {129}}, {1, {4097}}, {3, {9, 17, 5}}};
#define N_SIZES (int)(sizeof full_sizes / sizeof full_sizes[0])
static const shape_case *sizes = full_sizes;

typedef struct copy_ctx {
  ax_dtype dt;
  int layout; /* 0 dense, 1 transposed (first and last dims), 2 every other element of the last dim,
               * OFFSET + k (emulate tier, 1-D): dense from element k of a longer base, so the data
               * pointer is aligned to k elements only (the launcher's narrower vector widths) */
  int ndim;
  const int64_t *shape;
  double a, b;
  uint64_t seed, offset;
} copy_ctx;

enum { OFFSET = 8 }; /* layouts OFFSET + 1, + 2, + 4 */

static void describe(char *buf, size_t n, const char *what, int ndim, const int64_t *shape, int layout) {
  char shp[64] = "[", lay[32] = "";
  for (int i = 0; i < ndim; i++) snprintf(shp + strlen(shp), sizeof shp - strlen(shp), i ? ",%lld" : "%lld", (long long)shape[i]);
  if (layout > OFFSET) snprintf(lay, sizeof lay, " offset%d", layout - OFFSET);
  snprintf(buf, n, "%s %s]%s", what, shp, layout == 1 ? " transposed" : layout == 2 ? " step2" : lay);
}

/* base shape whose view (below) has the logical shape */
static void base_shape(int ndim, const int64_t *shape, int layout, int64_t *out) {
  for (int i = 0; i < ndim; i++) out[i] = shape[i];
  if (layout == 1 && ndim >= 2) out[0] = shape[ndim - 1], out[ndim - 1] = shape[0];
  if (layout == 2 && ndim >= 1) out[ndim - 1] = 2 * shape[ndim - 1];
  if (layout > OFFSET && ndim == 1) out[0] = shape[0] + layout - OFFSET;
}
static ax_tensor *view(ax_tensor *t, int layout) {
  if (layout == 1 && t->ndim >= 2) return ax_transpose(t, 0, t->ndim - 1);
  if (layout == 2 && t->ndim >= 1) return ax_slice(t, t->ndim - 1, 0, t->shape[t->ndim - 1], 2);
  if (layout > OFFSET && t->ndim == 1) return ax_narrow(t, 0, layout - OFFSET, t->shape[0] - (layout - OFFSET));
  return t;
}
static bool layout_applies(int ndim, int layout) {
  return layout == 0 || (layout == 1 && ndim >= 2) || (layout == 2 && ndim >= 1) || (layout > OFFSET && ndim == 1);
}
/* The layouts of a tier: the offset ones in the emulate tier only, on the [129] case. */
static const int full_layouts[] = {0, 1, 2}, emu_layouts[] = {0, 1, 2, OFFSET + 1, OFFSET + 2, OFFSET + 4};
static const int *layouts = full_layouts;
static int n_layouts = 3;
static bool offset_case(int si, int layout) { return layout < OFFSET || (si == 3 && pr_emulated_tier()); }

/* values that exercise conversions: wide range, both signs, integral and not */
static ax_tensor *source(ax_dtype dt, int ndim, const int64_t *shape) {
  if (!ax_dtype_is_float(dt)) return pr_randn(dt, ndim, shape);
  return ax_mul_scalar(pr_randn(dt, ndim, shape), 60.0);
}

static ax_tensor *cast_fn(ax_tensor *const *x, const void *vc) {
  const copy_ctx *c = vc;
  return ax_cast(view(x[0], c->layout), c->dt);
}
static ax_tensor *contiguous_fn(ax_tensor *const *x, const void *vc) {
  const copy_ctx *c = vc;
  return ax_contiguous(view(x[0], c->layout));
}
static ax_tensor *clone_fn(ax_tensor *const *x, const void *vc) {
  const copy_ctx *c = vc;
  return ax_clone(view(x[0], c->layout));
}
/* to the host from either side: on CUDA a strided copy on the device, then the transfer */
static ax_tensor *to_host_fn(ax_tensor *const *x, const void *vc) {
  const copy_ctx *c = vc;
  return ax_to(view(x[0], c->layout), AX_CPU);
}
static ax_tensor *copy_into_fn(ax_tensor *const *x, const void *vc) {
  const copy_ctx *c = vc;
  /* dst: every other column of a [rows, 2 cols] tensor of dtype c->dt; src: [cols] broadcast over rows */
  int64_t shape[2] = {c->shape[0], 2 * c->shape[1]};
  ax_tensor *d = ax_full(2, shape, -7, &(ax_tensor_opts){.dtype = c->dt, .device = x[0]->device});
  if (ax_copy_(ax_slice(d, 1, 0, shape[1], 2), x[0]) != 0) return NULL;
  return d;
}
static ax_tensor *full_fn(ax_tensor *const *x, const void *vc) {
  const copy_ctx *c = vc;
  ax_tensor_opts o = {.dtype = c->dt, .device = x[0]->device};
  if (c->a == 0) return ax_zeros(c->ndim, c->shape, &o);
  if (c->a == 1) return ax_ones(c->ndim, c->shape, &o);
  return ax_full(c->ndim, c->shape, c->a, &o);
}
static ax_tensor *arange_fn(ax_tensor *const *x, const void *vc) {
  const copy_ctx *c = vc;
  return ax_arange(c->a, c->a + c->b * (double)c->shape[0], c->b, &(ax_tensor_opts){.dtype = c->dt, .device = x[0]->device});
}

static void run_cases(void) {
  char desc[160];
  int64_t bs[3];
  /* cast between every pair, forward and (float to float) backward */
  for (int si = 0; si < N_SIZES; si++)
    for (int li = 0; li < n_layouts; li++) {
      const shape_case *s = &sizes[si];
      int layout = layouts[li];
      if (!layout_applies(s->ndim, layout) || !offset_case(si, layout) || (layout && layout < OFFSET && si < 4))
        continue;
      base_shape(s->ndim, s->shape, layout, bs);
      for (int i = 0; i < N_DT; i++)
        for (int j = 0; j < N_DT; j++) {
          ax_scope_begin();
          ax_tensor *x = source(all_dtypes[i], s->ndim, bs);
          copy_ctx c = {.dt = all_dtypes[j], .layout = layout};
          char what[32];
          snprintf(what, sizeof what, "%s->%s", ax_dtype_name(all_dtypes[i]), ax_dtype_name(all_dtypes[j]));
          describe(desc, sizeof desc, what, s->ndim, s->shape, layout);
          bool g = ax_dtype_is_float(all_dtypes[i]) && ax_dtype_is_float(all_dtypes[j]);
          pr_run("cast", desc, cast_fn, &c, 1, &x, &g, PR_EXACT, PR_EXACT);
          ax_scope_end();
        }
    }
  /* contiguous, clone, to (host) of every layout and dtype */
  for (int si = 0; si < N_SIZES; si++)
    for (int li = 0; li < n_layouts; li++)
      for (int i = 0; i < N_DT; i++) {
        const shape_case *s = &sizes[si];
        int layout = layouts[li];
        if (!layout_applies(s->ndim, layout) || !offset_case(si, layout)) continue;
        ax_scope_begin();
        base_shape(s->ndim, s->shape, layout, bs);
        ax_tensor *x = source(all_dtypes[i], s->ndim, bs);
        copy_ctx c = {.layout = layout};
        describe(desc, sizeof desc, ax_dtype_name(all_dtypes[i]), s->ndim, s->shape, layout);
        bool g = ax_dtype_is_float(all_dtypes[i]);
        pr_run("contiguous", desc, contiguous_fn, &c, 1, &x, &g, PR_EXACT, PR_EXACT);
        pr_run("clone", desc, clone_fn, &c, 1, &x, &g, PR_EXACT, PR_EXACT);
        pr_run("to", desc, to_host_fn, &c, 1, &x, &g, PR_EXACT, PR_EXACT);
        ax_scope_end();
      }
  /* transfers of several staging buffers' worth (8 MiB each, two of them), odd length;
   * the emulate tier: three buffers' worth, so the first buffer is reused */
  {
    ax_scope_begin();
    int64_t n = pr_emulated_tier() ? ((int64_t)1 << 21) + 7 : ((int64_t)5 << 21) + 7;
    ax_tensor *x = pr_randn(AX_F64, 1, &n);
    copy_ctx c = {.layout = 0};
    bool g = true;
    pr_run("to", pr_emulated_tier() ? "f64 [2097159] (16 MiB)" : "f64 [10485767] (40 MiB)", to_host_fn, &c, 1, &x, &g,
           PR_EXACT, PR_EXACT);
    ax_scope_end();
  }
  /* copy_ into a strided view, broadcasting and converting */
  for (int i = 0; i < N_DT; i++)
    for (int j = 0; j < N_DT; j += 3) {
      ax_scope_begin();
      int64_t shape[2] = {pr_emulated_tier() ? 5 : 33, 129};
      ax_tensor *src = source(all_dtypes[i], 1, &shape[1]);
      copy_ctx c = {.dt = all_dtypes[j], .shape = shape};
      snprintf(desc, sizeof desc, "%s [129] into %s [%lld,258] step2", ax_dtype_name(all_dtypes[i]),
               ax_dtype_name(all_dtypes[j]), (long long)shape[0]);
      pr_run("copy_", desc, copy_into_fn, &c, 1, &src, NULL, PR_EXACT, PR_EXACT);
      ax_scope_end();
    }
  /* full / zeros / ones */
  const double values[] = {0, 1, 2.5, -1.25, 300.75};
  for (int i = 0; i < N_DT; i++)
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++)
      for (int si = 0; si < N_SIZES; si++) {
        ax_scope_begin();
        ax_tensor *dummy = ax_zeros(0, NULL, NULL);
        copy_ctx c = {.dt = all_dtypes[i], .ndim = sizes[si].ndim, .shape = sizes[si].shape, .a = values[v]};
        char what[48];
        snprintf(what, sizeof what, "%s %g", ax_dtype_name(all_dtypes[i]), values[v]);
        describe(desc, sizeof desc, what, sizes[si].ndim, sizes[si].shape, 0);
        pr_run(values[v] == 0 ? "zeros" : values[v] == 1 ? "ones" : "full", desc, full_fn, &c, 1, &dummy, NULL, PR_EXACT,
               PR_EXACT);
        ax_scope_end();
      }
  /* arange (bool too in the emulate tier: its kernel exists) */
  for (int i = 0; i < N_DT - (pr_emulated_tier() ? 0 : 1); i++)
    for (int si = 1; si < 5; si++) {
      ax_scope_begin();
      ax_tensor *dummy = ax_zeros(0, NULL, NULL);
      bool is_float = ax_dtype_is_float(all_dtypes[i]);
      copy_ctx c = {.dt = all_dtypes[i], .shape = sizes[si].shape, .a = is_float ? -3.1 : -3, .b = is_float ? 0.37 : 1};
      describe(desc, sizeof desc, ax_dtype_name(all_dtypes[i]), 1, sizes[si].shape, 0);
      pr_run("arange", desc, arange_fn, &c, 1, &dummy, NULL, PR_EXACT, PR_EXACT);
      ax_scope_end();
    }
}

/* rand / randn with the same generator state on both devices */
static ax_tensor *draw(bool normal, ax_dtype dt, const shape_case *s, ax_device dev, uint64_t seed, uint64_t offset) {
  uint64_t old_seed, old_offset;
  ax_rng_get_state(&old_seed, &old_offset);
  ax_rng_set_state(seed, offset);
  ax_tensor_opts o = {.dtype = dt, .device = dev};
  ax_tensor *t = normal ? ax_randn(s->ndim, s->shape, &o) : ax_rand(s->ndim, s->shape, &o);
  ax_rng_set_state(old_seed, old_offset);
  return t;
}

static void random_cases(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  const uint64_t seeds[][2] = {{0, 0}, {42, 3}, {0x123456789abcdefull, 0xfedcba987654321ull}};
  for (size_t d = 0; d < 4; d++)
    for (int si = 0; si < N_SIZES; si++)
      for (size_t k = 0; k < 3; k++)
        for (int normal = 0; normal < 2; normal++) {
          ax_scope_begin();
          ax_dtype dt = dts[d];
          ax_tensor *ref = draw(normal, dt, &sizes[si], AX_CPU, seeds[k][0], seeds[k][1]);
          ax_tensor *got = draw(normal, dt, &sizes[si], AX_CUDA(0), seeds[k][0], seeds[k][1]);
          char what[64], desc[160];
          snprintf(what, sizeof what, "%s seed %llx offset %llx", ax_dtype_name(dt), (unsigned long long)seeds[k][0],
                   (unsigned long long)seeds[k][1]);
          describe(desc, sizeof desc, what, sizes[si].ndim, sizes[si].shape, 0);
          if (!normal)
            pr_check("rand", desc, ref, got, PR_EXACT);
          else /* a few ulp at most: f32 1e-13 (1 ulp is ~4e-15), f64 1e-28 */
            pr_check_bound("randn", desc, ref, got, dt == AX_F32 ? 1e-13 : dt == AX_F64 ? 1e-28 : pr_bound(dt, PR_ELEMENTWISE));
          ax_scope_end();
        }
}

/* ---------------- emulate tier: what the sizes above reach only on a GPU ---------------- */

/* kernels/cuda/copy.cu (weak: absent without the CUDA backend) */
void ax_cuda_force_index64(int on) __attribute__((weak));

/* copy_ of a 0-dim source (broadcast: stride 0) into dense memory starting at element k:
 * the vectorized loop of every element size at every width its alignment allows */
static ax_tensor *scalar_into_fn(ax_tensor *const *x, const void *vc) {
  const copy_ctx *c = vc;
  int64_t n = 129 + c->layout;
  ax_tensor *d = ax_full(1, &n, -7, &(ax_tensor_opts){.dtype = c->dt, .device = x[0]->device});
  if (ax_copy_(ax_narrow(d, 0, c->layout, 129), x[0]) != 0) return NULL;
  return d;
}

/* ax_cuda_fill through the backend tables, on views no op hands it (ops fill new, dense
 * tensors): every other element, and dense from element k. Both devices fill the same view
 * of the same data; the whole base is compared. */
static ax_tensor *fill_view_fn(ax_tensor *const *x, const void *vc) {
  const copy_ctx *c = vc;
  ax_tensor *t = ax_clone(x[0]);
  const ax_backend *be = t ? ax__backend(t->device, "fill") : NULL;
  if (!be || !be->fill) return NULL;
  ax_kt k = ax__kt(t);
  if (c->layout == 2) { /* [64] every other element */
    k.shape[0] = (t->shape[0] + 1) / 2;
    k.strides[0] = 2;
  } else if (c->layout > OFFSET) {
    int64_t off = c->layout - OFFSET;
    k.data = (char *)k.data + off * ax_dtype_size(t->dtype);
    k.shape[0] -= off;
  }
  be->fill(&k, c->a);
  return t;
}

static void emulate_cases(void) {
  char desc[160];
  for (int i = 0; i < N_DT; i++) {
    ax_dtype dt = all_dtypes[i];
    for (int off = 0; off <= 4; off = off ? 2 * off : 1) {
      ax_scope_begin();
      ax_tensor *src = ax_cast(ax_full(0, NULL, 3.0, NULL), dt);
      copy_ctx c = {.dt = dt, .layout = off};
      snprintf(desc, sizeof desc, "%s [] into %s [129] at offset %d", ax_dtype_name(dt), ax_dtype_name(dt), off);
      pr_run("copy_", desc, scalar_into_fn, &c, 1, &src, NULL, PR_EXACT, PR_EXACT);
      ax_scope_end();
    }
    const int fill_layouts[] = {2, OFFSET + 1, OFFSET + 2, OFFSET + 4, 0};
    for (int li = 0; li < 5; li++) {
      ax_scope_begin();
      int64_t n = 129;
      ax_tensor *x = source(dt, 1, &n);
      copy_ctx c = {.layout = fill_layouts[li], .a = 2.5};
      describe(desc, sizeof desc, ax_dtype_name(dt), 1, &n, fill_layouts[li]);
      strncat(desc, " fill 2.5", sizeof desc - strlen(desc) - 1);
      pr_run("fill (backend)", desc, fill_view_fn, &c, 1, &x, NULL, PR_EXACT, PR_EXACT);
      ax_scope_end();
    }
  }
}

/* The strided cases again with 64-bit offsets (ax_cuda_force_index64), on the small 3-D case. */
static void index64_cases(void) {
  if (!ax_cuda_force_index64) return;
  ax_cuda_force_index64(1);
  char desc[160];
  const shape_case *s = &sizes[N_SIZES - 1];
  int64_t bs[3];
  for (int i = 0; i < N_DT; i++)
    for (int j = 0; j < N_DT; j++) {
      ax_scope_begin();
      base_shape(s->ndim, s->shape, 1, bs);
      ax_tensor *x = source(all_dtypes[i], s->ndim, bs);
      copy_ctx c = {.dt = all_dtypes[j], .layout = 1};
      char what[48];
      snprintf(what, sizeof what, "%s->%s index64", ax_dtype_name(all_dtypes[i]), ax_dtype_name(all_dtypes[j]));
      describe(desc, sizeof desc, what, s->ndim, s->shape, 1);
      bool g = ax_dtype_is_float(all_dtypes[i]) && ax_dtype_is_float(all_dtypes[j]);
      pr_run("cast", desc, i == j ? contiguous_fn : cast_fn, &c, 1, &x, &g, PR_EXACT, PR_EXACT);
      ax_scope_end();
    }
  for (int i = 0; i < N_DT; i++) {
    ax_scope_begin();
    int64_t n = 129;
    ax_tensor *x = source(all_dtypes[i], 1, &n);
    copy_ctx c = {.layout = 2, .a = 2.5};
    describe(desc, sizeof desc, ax_dtype_name(all_dtypes[i]), 1, &n, 2);
    strncat(desc, " fill 2.5 index64", sizeof desc - strlen(desc) - 1);
    pr_run("fill (backend)", desc, fill_view_fn, &c, 1, &x, NULL, PR_EXACT, PR_EXACT);
    ax_scope_end();
  }
  ax_cuda_force_index64(0);
}

/* ax_split_sizes: views of one tensor, each piece weighted and joined back, an empty piece among them
 * (an elementwise op on an empty CUDA tensor once divided by zero in ax_plan::init, loops.cuh); the
 * backward lands each piece's gradient in its region of x (the region-accumulating copy on the device). */
static ax_tensor *split_sizes_fn(ax_tensor *const *x, const void *vc) {
  const int *dim = vc;
  ax_tensor *p[4], *q[4];
  if (ax_split_sizes(x[0], (const int64_t[]){40, 0, 1, 88}, 4, *dim, p) != 4) return NULL;
  for (int i = 0; i < 4; i++) q[i] = ax_mul_scalar(p[3 - i], i + 1);
  return ax_cat(q, 4, *dim);
}

static void split_sizes_cases(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
    for (int dim = 0; dim < 2; dim++) {
      ax_scope_begin();
      ax_tensor *x = pr_randn(dts[d], 2, dim == 0 ? (int64_t[]){129, 7} : (int64_t[]){7, 129});
      char desc[64];
      snprintf(desc, sizeof desc, "%s [%lld,%lld] dim %d", ax_dtype_name(dts[d]), (long long)x->shape[0],
               (long long)x->shape[1], dim);
      pr_run("split_sizes", desc, split_sizes_fn, &dim, 1, &x, (bool[]){true}, PR_EXACT, PR_EXACT);
      ax_scope_end();
    }
}

void pr_family_copy(void) {
  bool emu = pr_emulated_tier();
  sizes = emu ? emu_sizes : full_sizes;
  layouts = emu ? emu_layouts : full_layouts;
  n_layouts = emu ? 6 : 3;
  run_cases();
  random_cases();
  split_sizes_cases();
  if (emu) {
    emulate_cases();
    index64_cases();
  }
}
