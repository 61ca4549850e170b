/* The GPU parity runner: every op on CUDA against the CPU reference.
 *
 * A standalone program (no Criterion: GPU machines may not have it), built as
 * build/axon_parity and run by ctest with the label `gpu`. Without a GPU it
 * prints one line and exits 0 (every case skipped). With one it runs every
 * family, prints a line per failing case and a summary per op, and exits 1 if
 * any case failed.
 *
 * A family is one file tests/parity/parity_<family>.c defining
 * `void pr_family_<family>(void)`, which builds inputs on the CPU (fresh random
 * values, sizes that are not multiples of tile or vector widths: 1, 7, 129,
 * 4097 ..., contiguous and strided), runs the op on the CPU and on a copy of the
 * inputs moved with ax_to(x, AX_CUDA(0)), and calls pr_check on each pair of
 * outputs and each pair of input gradients. The runner poisons every new CUDA
 * tensor with NaN (ax__set_poison_new_tensors), so an element a kernel forgets
 * to write fails. Each family runs inside its own scope. */
#ifndef AXON_PARITY_H
#define AXON_PARITY_H

#include "axon.h"

/* Error bounds (NMSE = sum (ref-got)^2 / sum ref^2), per dtype and kind of op. */
typedef enum pr_kind { PR_EXACT, PR_ELEMENTWISE, PR_REDUCTION, PR_GEMM } pr_kind;
double pr_bound(ax_dtype dt, pr_kind kind);

/* NMSE of got (any device) against ref (CPU); INFINITY if a shape differs or got has a NaN/Inf
 * where ref has none. */
double pr_nmse(ax_tensor *ref, ax_tensor *got);

/* Records one comparison under op (e.g. "conv2d") with a short description of the case
 * (e.g. "f32 [7,3,13,13] s2 p1 fwd"). Returns true if it passed. */
bool pr_check(const char *op, const char *desc, ax_tensor *ref, ax_tensor *got, pr_kind kind);

/* pr_check with an explicit bound, for cases held tighter than their dtype's default. */
bool pr_check_bound(const char *op, const char *desc, ax_tensor *ref, ax_tensor *got, double bound);

/* Records an error case: passes when the call failed (returned_failure) and reported an
 * error whose message contains needle. Clears the reported errors either way. */
bool pr_expect_error(const char *op, const char *desc, bool returned_failure, const char *needle);

/* One forward-and-backward case: fn(x, ctx) builds the op's output from leaves x[0..n-1]
 * (applying any views itself, so both devices see the same layouts). pr_run makes leaves
 * from the CPU tensors `bases` (requiring grad where grad[i]), runs fn on them and on
 * their copies on cuda:0, checks the outputs with fwd_kind and, when the output is a
 * float tensor and some input requires grad, backpropagates the same random output
 * gradient on both devices and checks each such input's gradient with bwd_kind. desc is
 * suffixed with "fwd" / "grad 0" .... */
typedef ax_tensor *(*pr_op_fn)(ax_tensor *const *x, const void *ctx);
void pr_run(const char *op, const char *desc, pr_op_fn fn, const void *ctx, int n, ax_tensor *const *bases,
            const bool *grad, pr_kind fwd_kind, pr_kind bwd_kind);

/* Helpers: a CPU tensor of normal / uniform values (seeded from a case counter, so every
 * run of the runner draws the same inputs), and the same tensor on cuda:0. */
ax_tensor *pr_randn(ax_dtype dt, int ndim, const int64_t *shape);
ax_tensor *pr_uniform(ax_dtype dt, int ndim, const int64_t *shape, double lo, double hi);
ax_tensor *pr_cuda(ax_tensor *cpu); /* ax_to(cpu, AX_CUDA(0)), detached, requires_grad copied */

/* The families; a family not linked in is skipped (weak symbols). */
#define PR_FAMILIES(X) \
  X(copy) X(elementwise) X(index) X(reduce) X(softmax) X(loss) X(gemm) \
  X(conv) X(pool) X(norm) X(dropout) X(optim) X(layernorm) X(attention) X(autocast) \
  X(attention_cudnn) X(errors)
#define PR_DECLARE(f) void pr_family_##f(void) __attribute__((weak));
PR_FAMILIES(PR_DECLARE)
#undef PR_DECLARE

#endif
