/* SPDX-License-Identifier: BSD-3-Clause */
/* End to end on the CUDA device: a few training steps of small models on cuda:0
 * against the same steps on the CPU (the reference backend), within per-dtype
 * bounds. Each case builds its model on the CPU from a seed and moves it to the
 * device with ax_module_to, feeds both runs the same CPU-made batch (ax_to), and
 * compares the loss of every step, every parameter's gradient after the first
 * backward pass (before any update) and every parameter and buffer after the
 * last step. Dropout masks come from the global Philox stream, which both
 * backends draw identically, so dropout stays on where the models have it.
 *
 * Without a CUDA device every case skips. Build with -DAXON_CUDA=EMULATE to run
 * them on the emulated device (every CUDA thread a coroutine on the host, so
 * the models and batches here are tiny: the file takes about half a minute
 * there), or run it on a GPU machine. AXON_E2E_VERBOSE=1 prints the measured
 * errors next to their bounds.
 *
 * How the bounds are measured (struct bounds):
 *  - loss: |dev - cpu| / |cpu| at every step;
 *  - gradients: max |dev - cpu| over a tensor, divided by the larger of the
 *    tensor's max |cpu| and 1% of the largest gradient of the model. The floor
 *    is for gradients that vanish in exact arithmetic: a conv bias followed by
 *    a train-mode BatchNorm (the cnn's features.0.bias and features.4.bias) gets
 *    +-2e-8 of rounding noise on either backend, which no bound relative to
 *    that tensor alone can hold;
 *  - after the steps: max |dev - cpu| over a tensor divided by its max |cpu|
 *    (state), and for AdamW also max |dev - cpu| in units of the learning rate
 *    (state_lr: AdamW moves an element by at most about lr a step, so this is
 *    the fraction of a step by which the two runs disagree).
 * AdamW runs with eps = 1e-4 instead of PyTorch's 1e-8: Adam divides a gradient
 * by its own running magnitude, so where the gradient is rounding noise (the
 * biases above, an attention key bias, the odd weight whose gradient is ~0) a
 * tiny eps turns noise of opposite signs into full steps of opposite signs on the
 * two backends. Measured on the emulated device, the cnn's parameters after 3
 * steps: 3% of a tensor's scale apart with eps 1e-8 (features.4.bias), 1.3e-4
 * with 1e-5 (classifier.1.weight), 1.7e-5 with 1e-4. With eps above the noise an
 * element's update responds to it with slope <= 1/eps. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon.h"
#include "axon/transformer.h"
#include "testutil.h"

#define DEV AX_CUDA(0)
#define MAX_STEPS 4
#define MAX_TENSORS 96
#define ADAM_EPS 1e-4

static void setup(void) {
  tu_capture_errors();
  if (ax_cuda_device_count() < 1)
    cr_skip_test("no CUDA device (build with -DAXON_CUDA=EMULATE to run on the emulated device)");
}

TestSuite(emulated_train, .init = setup);

static bool verbose(void) { return getenv("AXON_E2E_VERBOSE") != NULL; }

/* ---------------- host copies of named tensors ---------------- */

typedef struct snap {
  int n;
  char name[MAX_TENSORS][128];
  int64_t numel[MAX_TENSORS];
  double *v[MAX_TENSORS];
} snap;

static void snap_add(snap *s, const char *name, ax_tensor *t) {
  cr_assert_lt(s->n, MAX_TENSORS, "too many tensors");
  cr_assert_not_null(t, "%s: no tensor", name);
  int i = s->n++;
  snprintf(s->name[i], sizeof s->name[i], "%s", name);
  s->numel[i] = ax_numel(t);
  s->v[i] = malloc((size_t)(s->numel[i] ? s->numel[i] : 1) * sizeof(double));
  ax_no_grad_begin();
  ax_scope_begin();
  ax_tensor *c = ax_contiguous(ax_cast(ax_to(t, AX_CPU), AX_F64));
  cr_assert_not_null(c, "%s: %s", name, ax_last_error());
  memcpy(s->v[i], ax_data_ptr(c), (size_t)s->numel[i] * sizeof(double));
  ax_scope_end();
  ax_no_grad_end();
}

static void snap_free(snap *s) {
  for (int i = 0; i < s->n; i++) free(s->v[i]);
  s->n = 0;
}

/* Every parameter and buffer, under its state_dict name. */
static void snap_state(snap *s, ax_module *m) {
  ax_state_dict *sd = ax_state_dict_new();
  cr_assert_eq(ax_module_state_dict(m, sd), 0);
  for (int i = 0; i < ax_state_dict_size(sd); i++) snap_add(s, ax_state_dict_name(sd, i), ax_state_dict_tensor(sd, i));
  ax_state_dict_free(sd);
}

/* Every parameter's gradient. */
static void snap_grads(snap *s, ax_module *m) {
  const char *names[MAX_TENSORS];
  ax_tensor *ps[MAX_TENSORS];
  int n = ax_module_named_parameters(m, names, ps, MAX_TENSORS);
  for (int i = 0; i < n; i++) {
    cr_assert_not_null(ps[i]->grad, "%s has no gradient", names[i]);
    snap_add(s, names[i], ps[i]->grad);
  }
}

/* ---------------- one training run ---------------- */

typedef struct train_case {
  const char *name;
  uint64_t seed;
  int steps;
  double lr;
  ax_module *(*build)(void);                   /* on the CPU, from the global generator */
  void (*batch)(ax_tensor **x, ax_tensor **y); /* CPU tensors of the current scope */
  ax_tensor *(*loss)(ax_module *m, ax_tensor *x, ax_tensor *y);
  ax_optimizer *(*optim)(ax_tensor **params, int n, double lr);
  int autocast; /* AX_BF16, or -1 for none */
  bool ddp;     /* on the device, wrap the model in DDP over the single-process communicator */
} train_case;

typedef struct run_out {
  double loss[MAX_STEPS];
  snap grads; /* after the first backward pass, before any update */
  snap state; /* after the last step */
} run_out;

static void run(const train_case *c, ax_device dev, bool ddp_on, run_out *out) {
  char ds[16];
  ax_device_str(dev, ds, sizeof ds);
  memset(out, 0, sizeof *out);
  ax_manual_seed(c->seed);
  ax_module *m = c->build();
  cr_assert_not_null(m, "%s: %s", c->name, ax_last_error());
  cr_assert_eq(ax_module_to(m, dev), 0, "%s: %s", c->name, ax_last_error());
  ax_ddp *ddp = NULL;
  if (ddp_on) { /* 0.5 MB buckets: the cnn's 1.6 MB weight alone, then the rest in several */
    ddp = ax_ddp_new(m, ax_comm_world(), &(ax_ddp_opts){.bucket_mb = 0.5});
    cr_assert_not_null(ddp, "%s: %s", c->name, ax_last_error());
    cr_assert_gt(ax_ddp_num_buckets(ddp), 1);
  }
  ax_tensor *params[MAX_TENSORS];
  int np = ax_module_parameters(m, params, MAX_TENSORS);
  ax_optimizer *opt = c->optim(params, np, c->lr);
  cr_assert_not_null(opt, "%s: %s", c->name, ax_last_error());

  ax_scope_begin();
  ax_tensor *x, *y;
  c->batch(&x, &y); /* on the CPU, from the generator: the same on both runs */
  x = ax_to(x, dev);
  y = ax_to(y, dev);
  cr_assert(x && y, "%s: %s", c->name, ax_last_error());
  for (int s = 0; s < c->steps; s++) {
    ax_scope_begin();
    ax_optimizer_zero_grad(opt);
    if (ddp) ax_ddp_begin_step(ddp);
    if (c->autocast >= 0) ax_autocast_begin((ax_dtype)c->autocast);
    ax_tensor *loss = c->loss(m, x, y);
    if (c->autocast >= 0) ax_autocast_end();
    cr_assert_not_null(loss, "%s on %s, step %d: %s", c->name, ds, s, ax_last_error());
    cr_assert(loss->dtype == AX_F32 && ax_device_eq(loss->device, dev), "%s: a %s loss on the wrong device", c->name,
              ax_dtype_name(loss->dtype));
    out->loss[s] = ax_item(loss);
    cr_assert_eq(ax_backward(loss, NULL), 0, "%s on %s, step %d: %s", c->name, ds, s, ax_last_error());
    if (ddp) cr_assert_eq(ax_ddp_finish(ddp), 0, "%s: %s", c->name, ax_last_error());
    if (s == 0) snap_grads(&out->grads, m);
    cr_assert_eq(ax_optimizer_step(opt), 0, "%s on %s, step %d: %s", c->name, ds, s, ax_last_error());
    ax_scope_end();
  }
  ax_scope_end();
  for (int i = 0; i < np; i++) cr_assert(ax_device_eq(params[i]->device, dev), "%s: parameter %d moved", c->name, i);
  snap_state(&out->state, m);
  ax_optimizer_free(opt);
  if (ddp) ax_ddp_free(ddp);
  ax_module_free(m);
}

/* ---------------- comparisons ---------------- */

typedef struct bounds {
  double loss;     /* relative, every step */
  double grad;     /* relative to max(the tensor's scale, 1% of the model's largest gradient) */
  double state;    /* after the steps, relative to the tensor's scale */
  double state_lr; /* after the steps, in units of lr (0: not checked; for SGD the lr is no step size) */
} bounds;

static double max_abs(const double *v, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
  return m;
}

static double max_diff(const double *a, const double *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(a[i] - b[i]);
    if (isnan(d)) return INFINITY;
    m = fmax(m, d);
  }
  return m;
}

/* err_i = max|got_i - ref_i| / max(scale_i, floor), scale_i = max|ref_i|; each must stay <= bound.
 * With `unit` > 0 also max|got_i - ref_i| / unit <= bound_unit. */
static void compare(const char *cname, const char *what, const snap *got, const snap *ref, double floor,
                    double bound, double unit, double bound_unit) {
  cr_assert_eq(got->n, ref->n, "%s: %s: %d tensors vs %d", cname, what, got->n, ref->n);
  double worst = 0, worst_unit = 0;
  int wi = 0, wu = 0;
  for (int i = 0; i < ref->n; i++) {
    cr_assert_str_eq(got->name[i], ref->name[i]);
    cr_assert_eq(got->numel[i], ref->numel[i], "%s: %s", cname, ref->name[i]);
    double d = max_diff(got->v[i], ref->v[i], ref->numel[i]);
    double den = fmax(max_abs(ref->v[i], ref->numel[i]), floor);
    double e = d == 0 ? 0 : d / fmax(den, 1e-300);
    if (e > worst) worst = e, wi = i;
    cr_expect_leq(e, bound, "%s: %s %s: max |cuda - cpu| %.3g is %.3g of its scale %.3g (bound %.3g)", cname, what,
                  ref->name[i], d, e, den, bound);
    if (unit > 0) {
      if (d / unit > worst_unit) worst_unit = d / unit, wu = i;
      cr_expect_leq(d / unit, bound_unit, "%s: %s %s: max |cuda - cpu| %.3g = %.3g lr (bound %.3g lr)", cname, what,
                    ref->name[i], d, d / unit, bound_unit);
    }
  }
  if (verbose()) {
    fprintf(stderr, "%-10s %-5s worst %.3g of scale (%s), bound %.3g", cname, what, worst, ref->name[wi], bound);
    if (unit > 0) fprintf(stderr, "; worst %.3g lr (%s), bound %.3g lr", worst_unit, ref->name[wu], bound_unit);
    fprintf(stderr, "\n");
  }
}

static void check_case(const train_case *c, bounds b) {
  static run_out ref, got;
  run(c, AX_CPU, false, &ref); /* the reference: plain training on the CPU */
  run(c, DEV, c->ddp, &got);
  double worst = 0;
  for (int s = 0; s < c->steps; s++) {
    cr_assert(isfinite(ref.loss[s]), "%s: cpu loss %g at step %d", c->name, ref.loss[s], s);
    double e = fabs(got.loss[s] - ref.loss[s]) / fabs(ref.loss[s]);
    if (!(e <= worst)) worst = e;
    cr_expect_leq(e, b.loss, "%s step %d: loss %.9g on cuda:0 vs %.9g on the cpu (relative %.3g > %.3g)", c->name, s,
                  got.loss[s], ref.loss[s], e, b.loss);
  }
  if (verbose()) fprintf(stderr, "%-10s loss  worst %.3g, bound %.3g\n", c->name, worst, b.loss);
  /* the steps trained: the loss moved (so a run that never updates anything cannot pass) */
  cr_expect_lt(ref.loss[c->steps - 1], ref.loss[0] * 0.999, "%s: loss %g -> %g", c->name, ref.loss[0],
               ref.loss[c->steps - 1]);
  double gmax = 0;
  for (int i = 0; i < ref.grads.n; i++) gmax = fmax(gmax, max_abs(ref.grads.v[i], ref.grads.numel[i]));
  compare(c->name, "grad", &got.grads, &ref.grads, 1e-2 * gmax, b.grad, 0, 0);
  compare(c->name, "after", &got.state, &ref.state, 0, b.state, b.state_lr > 0 ? c->lr : 0, b.state_lr);
  snap_free(&ref.grads);
  snap_free(&ref.state);
  snap_free(&got.grads);
  snap_free(&got.state);
}

/* ---------------- data ---------------- */

/* Labels and tokens from a fixed integer stream (the float inputs come from Philox). */
static ax_tensor *int_tensor(int64_t n0, int64_t n1, int64_t hi, uint64_t seed) {
  int64_t n = n0 * n1, *v = malloc((size_t)n * sizeof *v);
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    v[i] = (int64_t)((seed >> 33) % (uint64_t)hi);
  }
  ax_tensor *t = ax_from_data(v, AX_SHAPE(n0, n1), &(ax_tensor_opts){.dtype = AX_I64});
  free(v);
  return t;
}

/* Inputs seq[:, :-1] and next-token targets seq[:, 1:] of a random [B, T + 1] sequence. */
static void next_tokens(int64_t B, int64_t T, uint64_t seed, ax_tensor **x, ax_tensor **y) {
  ax_tensor *seq = int_tensor(B, T + 1, 256, seed);
  *x = ax_contiguous(ax_narrow(seq, 1, 0, T));
  *y = ax_contiguous(ax_narrow(seq, 1, 1, T));
}

static ax_tensor *ce_loss(ax_module *m, ax_tensor *x, ax_tensor *y) {
  return ax_cross_entropy(ax_module_forward(m, x), y, NULL);
}

static ax_optimizer *adamw(ax_tensor **p, int n, double lr) {
  return ax_adamw(p, n, &(ax_adam_opts){.lr = lr, .eps = ADAM_EPS});
}

/* ---------------- 1. the zoo's default CNN (with BatchNorm and dropout), AdamW ---------------- */

static ax_module *build_cnn(void) { return ax_model_create(AX_MODEL_DEFAULT, NULL, 0); }

static void mnist_batch(ax_tensor **x, ax_tensor **y) {
  *x = ax_randn(AX_SHAPE(8, 1, 28, 28), NULL);
  *y = ax_reshape(int_tensor(1, 8, 10, 1), AX_SHAPE(8));
}

static const train_case cnn_case = {.name = "cnn", .seed = 1, .steps = 3, .lr = 1e-3, .build = build_cnn,
                                    .batch = mnist_batch, .loss = ce_loss, .optim = adamw, .autocast = -1};

/* f32: the backends sum in different orders, so results differ by rounding: the
 * emulated device agrees to ~1e-7 in losses and gradients and ~2e-5 in the
 * parameters after 3 steps (the worst an element of classifier.1.weight whose
 * gradient is ~0), 3.5e-4 lr in absolute terms. */
static const bounds f32_adamw = {.loss = 1e-4, .grad = 1e-4, .state = 1e-4, .state_lr = 1e-2};

Test(emulated_train, cnn_adamw) { check_case(&cnn_case, f32_adamw); }

/* ---------------- 2. pre-activation residual blocks with BatchNorm, SGD with momentum ---------------- */

/* The zoo's resnet in small: a stem conv, a block that halves the resolution (with its
 * 1x1 shortcut conv) and one that keeps it, BN, ReLU, global average pool, Linear. */
static ax_module *build_resnet(void) {
  const char *names[] = {"conv1", "layer1", "bn", "relu", "pool", "flatten", "fc"};
  ax_module *parts[] = {ax_nn_conv2d(3, 8, 3, &(ax_nn_conv2d_opts){.padding = 1, .no_bias = true}),
                        ax_nn_sequential(2, ax_nn_preact_block(8, 16, 2), ax_nn_preact_block(16, 16, 1)),
                        ax_nn_batch_norm2d(16, NULL),
                        ax_nn_relu(),
                        ax_nn_adaptive_avg_pool2d(1, 1),
                        ax_nn_flatten(1, -1),
                        ax_nn_linear(16, 10, true)};
  return ax_nn_sequential_named(7, names, parts);
}

static void image_batch(ax_tensor **x, ax_tensor **y) {
  *x = ax_randn(AX_SHAPE(4, 3, 12, 12), NULL);
  *y = ax_reshape(int_tensor(1, 4, 10, 2), AX_SHAPE(4));
}

static ax_optimizer *sgd_momentum(ax_tensor **p, int n, double lr) {
  return ax_sgd(p, n, &(ax_sgd_opts){.lr = lr, .momentum = 0.9, .weight_decay = 5e-4});
}

/* SGD is linear in the gradient: no amplification, the f32 bounds hold as they are
 * (measured on the emulated device: 1e-7 losses, 6e-7 gradients and parameters,
 * running statistics and num_batches_tracked included). */
Test(emulated_train, resnet_blocks_batchnorm_sgd_momentum) {
  const train_case c = {.name = "resnet", .seed = 2, .steps = 3, .lr = 0.1, .build = build_resnet,
                        .batch = image_batch, .loss = ce_loss, .optim = sgd_momentum, .autocast = -1};
  check_case(&c, (bounds){.loss = 1e-4, .grad = 1e-4, .state = 1e-4});
}

/* ---------------- 3. GPT, AdamW, f32 and bf16 autocast ---------------- */

static const ax_gpt_config tiny_gpt = {.n_layer = 2, .n_head = 2, .n_embd = 32, .block_size = 16, .vocab_size = 256};

static ax_module *build_gpt(void) { return ax_model_gpt(&tiny_gpt); }

static void token_batch(ax_tensor **x, ax_tensor **y) { next_tokens(2, 16, 3, x, y); }

static ax_tensor *gpt_loss(ax_module *m, ax_tensor *x, ax_tensor *y) { return ax_gpt_loss(m, x, y); }

static ax_optimizer *adamw_gpt(ax_tensor **p, int n, double lr) {
  return ax_adamw(p, n, &(ax_adam_opts){.lr = lr, .beta1 = 0.9, .beta2 = 0.95, .eps = ADAM_EPS, .weight_decay = 0.1});
}

static const train_case gpt_case = {.name = "gpt_f32", .seed = 3, .steps = 3, .lr = 1e-3, .build = build_gpt,
                                    .batch = token_batch, .loss = gpt_loss, .optim = adamw_gpt, .autocast = -1};

Test(emulated_train, gpt_adamw_f32) { check_case(&gpt_case, f32_adamw); }

/* bf16 autocast: the GEMMs and attention take bf16 operands (f32 accumulation, one
 * rounding) on both backends, so an output differs only where the two f32 sums round
 * to neighbouring bf16 values (2^-8 relative), and such flips spread. Measured on the
 * emulated device: losses 2.6e-5 apart, gradients 4e-3 of a tensor's scale, and after 3
 * steps parameters 9e-3 of a tensor's scale (zero-initialized biases, whose scale is
 * just their 3 updates) and 0.13 lr at most: where a gradient is within bf16 noise of 0,
 * Adam's update (slope up to 1/eps there) differs by a fraction of a step. Bounds:
 * loss 1e-3 (40x), gradients 3e-2 (7x), parameters 5e-2 of scale (5x) and 0.5 lr
 * (4x). AdamW moves an element by about lr a step at most (|m^/(sqrt(v^) + eps)| <= 1.001
 * for these betas over 3 steps), so runs with a skipped, doubled or reversed update
 * differ by >= lr and fail. */
Test(emulated_train, gpt_adamw_bf16_autocast) {
  train_case c = gpt_case;
  c.name = "gpt_bf16";
  c.autocast = AX_BF16;
  check_case(&c, (bounds){.loss = 1e-3, .grad = 3e-2, .state = 5e-2, .state_lr = 0.5});
}

/* ---------------- 4. the character LSTM (two layers, dropout between them) ---------------- */

static ax_module *build_lstm(void) { return ax_model_char_lstm(8, 16, 2, 0.1); }

static void char_batch(ax_tensor **x, ax_tensor **y) { next_tokens(2, 8, 4, x, y); }

static ax_tensor *lm_loss(ax_module *m, ax_tensor *x, ax_tensor *y) {
  ax_tensor *logits = ax_module_forward(m, x);
  return ax_cross_entropy(ax_reshape(logits, AX_SHAPE(-1, 256)), ax_reshape(y, AX_SHAPE(-1)), NULL);
}

Test(emulated_train, char_lstm_adamw) {
  const train_case c = {.name = "char_lstm", .seed = 4, .steps = 3, .lr = 1e-2, .build = build_lstm,
                        .batch = char_batch, .loss = lm_loss, .optim = adamw, .autocast = -1};
  check_case(&c, f32_adamw);
}

/* ---------------- 5. DDP of one rank on cuda:0 against plain training on the CPU ---------------- */

/* The single-process communicator: gradients go through DDP's buckets (copied in,
 * all-reduced as a world of one, copied back) and must come out as they went in. */
Test(emulated_train, ddp_one_rank_cnn) {
  train_case c = cnn_case;
  c.name = "ddp_cnn";
  c.ddp = true;
  check_case(&c, f32_adamw);
}
