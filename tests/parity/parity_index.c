/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the indexing ops (index_select, gather, scatter_add) against the
 * CPU: every dtype forward, float dtypes backward, i64 and i32 indices with
 * repeats, transposed inputs, 0-dim and 3-D cases. The backward of
 * index_select / gather runs the index_add / scatter_add kernels; the cases
 * cover both of their schemes (index.cu): the deterministic one (short
 * indices, which must match the CPU exactly up to the dtype's rounding) and
 * the atomic one (an index of 4097 entries into 300 rows), whose float sums
 * may be ordered differently and are held to the reduction bound. */
#include <stdio.h>
#include <string.h>

#include "parity.h"

static const ax_dtype all_dtypes[] = {AX_F32, AX_F64, AX_BF16, AX_F16, AX_I32, AX_I64, AX_U8, AX_BOOL};
#define N_DT (int)(sizeof all_dtypes / sizeof all_dtypes[0])

typedef struct index_case {
  int ndim;
  int64_t x[3];     /* the input's logical shape */
  int dim;
  int64_t index[3]; /* index_select: [index[0]]; gather / scatter_add: index shape (ndim dims) */
  int transposed;   /* x stored with its first and last dims swapped */
} index_case;

static const index_case select_cases[] = {
    {0, {0}, 0, {1}, 0},
    {1, {7}, 0, {1}, 0},
    {2, {7, 5}, 0, {13}, 0},
    {2, {129, 33}, 1, {7}, 1},
    {2, {300, 129}, 0, {4097}, 0}, /* long index: the atomic scheme in the backward */
    {3, {33, 65, 17}, 1, {40}, 0},
    {3, {33, 65, 17}, 2, {5}, 1},
};
static const index_case gather_cases[] = {
    {1, {7}, 0, {7}, 0},
    {2, {7, 5}, 0, {13, 5}, 0},
    {2, {129, 33}, 1, {129, 7}, 1},
    {2, {64, 1000}, 1, {64, 1}, 0}, /* a cross-entropy style pick */
    {2, {300, 129}, 0, {4097, 129}, 0},
    {3, {33, 65, 17}, 1, {33, 40, 17}, 0},
    {3, {33, 65, 17}, 2, {20, 65, 5}, 1}, /* index smaller than x outside dim */
};

/* The emulate tier: the same cases smaller, except along the indexed dim; the long
 * index still takes the atomic scheme (index.cu: more than 32 entries and more than
 * 2^26 index reads for the owner scheme), with few columns instead of many rows. */
static const index_case emu_select_cases[] = {
    {0, {0}, 0, {1}, 0},
    {1, {7}, 0, {1}, 0},
    {2, {7, 5}, 0, {13}, 0},
    {2, {129, 33}, 1, {7}, 1},
    {2, {8193, 3}, 0, {4097}, 0}, /* long index: the atomic scheme in the backward */
    {3, {5, 65, 9}, 1, {40}, 0},
    {3, {5, 65, 9}, 2, {5}, 1},
};
static const index_case emu_gather_cases[] = {
    {1, {7}, 0, {7}, 0},
    {2, {7, 5}, 0, {13, 5}, 0},
    {2, {129, 33}, 1, {129, 7}, 1},
    {2, {64, 1000}, 1, {64, 1}, 0},
    {2, {8193, 3}, 0, {4097, 3}, 0}, /* scatter_add: the atomic scheme */
    {3, {5, 65, 9}, 1, {5, 40, 9}, 0},
    {3, {5, 65, 9}, 2, {4, 65, 5}, 1},
};

/* kernels/cuda/copy.cu (weak: absent without the CUDA backend) */
void ax_cuda_force_index64(int on) __attribute__((weak));
static bool index64_pass; /* the emulate tier's second pass: 64-bit offsets, cases 1 and 4 */

typedef struct ctx {
  int dim, transposed;
} ctx;

static ax_tensor *as_input(ax_tensor *x, int transposed) {
  return transposed && x->ndim >= 2 ? ax_transpose(x, 0, x->ndim - 1) : x;
}

static ax_tensor *select_fn(ax_tensor *const *x, const void *vc) {
  const ctx *c = vc;
  return ax_index_select(as_input(x[0], c->transposed), c->dim, x[1]);
}
static ax_tensor *gather_fn(ax_tensor *const *x, const void *vc) {
  const ctx *c = vc;
  return ax_gather(as_input(x[0], c->transposed), c->dim, x[1]);
}
static ax_tensor *scatter_fn(ax_tensor *const *x, const void *vc) {
  const ctx *c = vc;
  return ax_scatter_add(as_input(x[0], c->transposed), c->dim, x[1], x[2]);
}

static void stored_shape(const index_case *k, int64_t *s) {
  for (int i = 0; i < k->ndim; i++) s[i] = k->x[i];
  if (k->transposed && k->ndim >= 2) s[0] = k->x[k->ndim - 1], s[k->ndim - 1] = k->x[0];
}

static void describe(char *buf, size_t n, ax_dtype dt, ax_dtype idt, const index_case *k, bool per_element) {
  char xs[48] = "[", is[48] = "[";
  for (int i = 0; i < k->ndim; i++) snprintf(xs + strlen(xs), sizeof xs - strlen(xs), i ? ",%lld" : "%lld", (long long)k->x[i]);
  int ni = per_element ? k->ndim : 1;
  for (int i = 0; i < ni; i++) snprintf(is + strlen(is), sizeof is - strlen(is), i ? ",%lld" : "%lld", (long long)k->index[i]);
  snprintf(buf, n, "%s x%s]%s dim %d %s index%s]%s", ax_dtype_name(dt), xs, k->transposed ? "^T" : "", k->dim,
           ax_dtype_name(idt), is, index64_pass ? " index64" : "");
}

/* indices in [0, size) with repeats */
static ax_tensor *indices(ax_dtype idt, int ndim, const int64_t *shape, int64_t size) {
  return pr_uniform(idt, ndim, shape, 0, (double)size);
}

static void run(const char *op, const index_case *cases, int n_cases, bool per_element, bool scatter) {
  for (int ci = 0; ci < n_cases; ci++)
    for (int d = 0; d < N_DT; d++)
      for (int ii = 0; ii < 2; ii++) {
        const index_case *k = &cases[ci];
        ax_dtype dt = all_dtypes[d], idt = ii ? AX_I32 : AX_I64;
        /* i32 indices: f32 and f64 are enough for the full tier; the emulate tier runs every
         * dtype with them (each element size and dtype has its own kernel instantiation) */
        if (ii && d > 1 && !pr_emulated_tier()) continue;
        if (index64_pass && ci != 1 && ci != 4) continue;
        ax_scope_begin();
        int64_t xs[3];
        stored_shape(k, xs);
        int64_t size = k->ndim ? k->x[k->dim] : 1;
        ax_tensor *x = pr_randn(dt, k->ndim, xs);
        ax_tensor *idx = per_element ? indices(idt, k->ndim, k->index, size) : indices(idt, 1, k->index, size);
        ax_tensor *src = per_element ? pr_randn(dt, k->ndim, k->index) : NULL;
        ax_tensor *bases[3] = {x, idx, src};
        bool is_float = ax_dtype_is_float(dt);
        bool g[3] = {is_float, false, is_float};
        char desc[200];
        describe(desc, sizeof desc, dt, idt, k, per_element);
        ctx c = {k->dim, k->transposed};
        if (!scatter)
          pr_run(op, desc, per_element ? gather_fn : select_fn, &c, 2, bases, g, PR_EXACT, PR_REDUCTION);
        else
          pr_run(op, desc, scatter_fn, &c, 3, bases, g, is_float ? PR_REDUCTION : PR_EXACT, PR_ELEMENTWISE);
        ax_scope_end();
      }
}

void pr_family_index(void) {
  int ns = (int)(sizeof select_cases / sizeof select_cases[0]), ng = (int)(sizeof gather_cases / sizeof gather_cases[0]);
  bool emu = pr_emulated_tier();
  const index_case *sel = emu ? emu_select_cases : select_cases, *gat = emu ? emu_gather_cases : gather_cases;
  run("index_select", sel, ns, false, false);
  run("gather", gat, ng, true, false);
  run("scatter_add", gat, ng, true, true);
  if (emu && ax_cuda_force_index64) { /* the 64-bit offset path of every kernel, on small cases */
    index64_pass = true;
    ax_cuda_force_index64(1);
    run("index_select", sel, ns, false, false);
    run("gather", gat, ng, true, false);
    run("scatter_add", gat, ng, true, true);
    ax_cuda_force_index64(0);
    index64_pass = false;
  }
}
