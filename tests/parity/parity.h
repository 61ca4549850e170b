/* SPDX-License-Identifier: BSD-3-Clause */
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
 * to write fails. Each family runs inside its own scope.
 *
 * Tiers (axon_parity --tier full|emulate; pr_emulated_tier() in a family).
 *  - full: the sizes for a real GPU (up to 4096^3 GEMMs, 10M-element tensors). The
 *    default on a GPU.
 *  - emulate: for the emulated device (AXON_CUDA=EMULATE, docs/emulator.md), which
 *    runs every CUDA thread as a coroutine on the host: the default there, and the
 *    ctest `gpu_parity_emulated` (label emulate). Every family still runs, with
 *    every dtype each op takes, strided, broadcast and offset (misaligned) views and
 *    sizes that still cross tile and vector-width boundaries (1, 7, 129, 4097 ...);
 *    only the big sizes shrink (a family keeps its full-tier lists as they were and
 *    has emulate-tier lists beside them). The tier also reaches what the full one
 *    reaches only through size, with cheaper means: batches of 132 small products
 *    for the tiles picked when an H100's 132 SMs each get one, and a second pass of
 *    the strided cases with 64-bit offsets forced (ax_cuda_force_index64, loops.cuh)
 *    for the kernels' past-2^31-elements path. Some cases run only in this tier
 *    (cuda_fill on views through the backend table, bool arange, u8 / bool
 *    reductions, gemm_tc with wgmma turned off): the kernel list below asks for them.
 *    Vendor-library cases (cuBLAS, cuDNN) are skipped on the emulated device with one
 *    printed line each.
 *
 * The kernel list. On the emulated device (ax_cuda_kernel_counts() >= 0) the runner
 * ends with every kernel instantiation compiled into the library and its launches,
 * blocks and threads, then "kernels never launched: N" and their names. When the
 * whole suite ran (no family named), an instantiation never launched makes the exit
 * status 1: every kernel must be reached by some case. An instantiation that no call
 * can reach (a vector width no dtype gets, a dtype pairing no op asks for) is removed
 * from its kernel's dispatch in kernels/cuda/, with a comment saying why, rather than
 * excused here. `axon_parity --kernels` prints the list (all zeros) without running.
 *
 * The summary table gives each op's cases, the worst NMSE against its bound, and the
 * wall time its cases took (-v prints every case with its time). */
#ifndef AXON_PARITY_H
#define AXON_PARITY_H

#include "axon.h"

/* The internals the runner calls, through their exported ax_testing_* wrappers
 * (core/testing.c): libaxon.so exports no ax__ symbol, and the runner may link to it. */
#ifdef AXON_CORE_INTERNAL_H
#define ax__backend ax_testing_backend
#define ax__new ax_testing_new
#define ax__kt ax_testing_kt
#define ax__kt_broadcast ax_testing_kt_broadcast
#define ax__set_poison_new_tensors ax_testing_set_poison_new_tensors
#define ax__shp ax_testing_shp
#endif

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

/* Outputs whose exact value is zero. Where the math makes an output exactly 0 (the
 * gradients of q and k when attention sees a single key: a softmax over one key is the
 * constant 1, whatever the scores), both devices compute it as a difference of terms
 * that cancel and return their rounding noise. The NMSE, normalized by the reference's
 * own norm, then compares two noises (it is about 1 whichever is right). Such outputs
 * are checked against an absolute tolerance instead: every element of both results
 * must be at most tol, the worst-case rounding error of the computation that cancels,
 * n * eps * (the magnitude of its terms) (Higham's gamma_n bound for sums of n
 * products), which the caller derives from its inputs and the output gradient with
 * pr_eps and pr_max_abs. Use it only where the exact value is zero: every other output
 * keeps its NMSE bound. The table shows max|element| / tol against a bound of 1. */
bool pr_check_zero(const char *op, const char *desc, ax_tensor *ref, ax_tensor *got, double tol);
double pr_eps(ax_dtype dt);      /* machine epsilon of dt's arithmetic: f64's, else f32's (bf16/f16 compute in f32) */
double pr_max_abs(ax_tensor *t); /* max |element| of t (any device); 0 for an empty tensor */

/* pr_run whose input gradients may be exact zeros: zero_tol(i, bases, gy, ctx) returns
 * pr_check_zero's tolerance for the gradient of input i (bases as given to pr_run, gy
 * the output gradient both devices backpropagate), or 0 to check it with bwd_kind. */
typedef double (*pr_zero_tol_fn)(int i, ax_tensor *const *bases, ax_tensor *gy, const void *ctx);
void pr_run_zero(const char *op, const char *desc, pr_op_fn fn, const void *ctx, int n, ax_tensor *const *bases,
                 const bool *grad, pr_kind fwd_kind, pr_kind bwd_kind, pr_zero_tol_fn zero_tol);

/* Helpers: a CPU tensor of normal / uniform values (seeded from a case counter, so every
 * run of the runner draws the same inputs), and the same tensor on cuda:0. */
ax_tensor *pr_randn(ax_dtype dt, int ndim, const int64_t *shape);
ax_tensor *pr_uniform(ax_dtype dt, int ndim, const int64_t *shape, double lo, double hi);
ax_tensor *pr_cuda(ax_tensor *cpu); /* ax_to(cpu, AX_CUDA(0)), detached, requires_grad copied */

/* The tier (axon_parity --tier): false for the full tier, sized for a real GPU; true for
 * the emulate tier, sized for the emulated device (see above). */
bool pr_emulated_tier(void);

/* The families: AX_FAMILY in kernels/kernels.def, each defined in parity_<family>.c. A
 * family not linked in is skipped here (weak symbols: attention_cudnn needs cuDNN);
 * `axon_parity --families` lists which are, and tests/test_kernel_list.c fails when a
 * family that a kernel entry names is missing. */
#define AX_FAMILY(f) void pr_family_##f(void) __attribute__((weak));
#include "kernels/kernels.def"

#endif
