/* SPDX-License-Identifier: BSD-3-Clause */
/* The zoo's generative models (include/axon/generative.h): the VAE's loss against a hand
 * computation, gradient checks through each model, PyTorch's parameter names, CPU against
 * the (emulated) cuda:0 device, and the judge's score on known probabilities. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "axon.h"
#include "testutil.h"

TestSuite(generative, .init = tu_capture_errors);

/* ---- the VAE's loss, by hand ---- */

/* one image of one pixel, a 1-d code: x = 1, logit 0 -> BCE log 2; mu 1, logvar 0 -> KL
 * -1/2 (1 + 0 - 1 - 1) = 1/2; a second image x = 0, logit 2 -> softplus(2); mu 0, logvar
 * log 4 -> KL -1/2 (1 + log 4 - 0 - 4) = (3 - log 4) / 2. Means over the two images. */
Test(generative, vae_loss_by_hand) {
  ax_scope_begin();
  ax_tensor *x = ax_from_data((double[]){1, 0}, AX_SHAPE(2, 1), &(ax_tensor_opts){.dtype = AX_F64});
  ax_tensor *lg = ax_from_data((double[]){0, 2}, AX_SHAPE(2, 1), &(ax_tensor_opts){.dtype = AX_F64});
  ax_tensor *mu = ax_from_data((double[]){1, 0}, AX_SHAPE(2, 1), &(ax_tensor_opts){.dtype = AX_F64});
  ax_tensor *lv = ax_from_data((double[]){0, log(4.0)}, AX_SHAPE(2, 1), &(ax_tensor_opts){.dtype = AX_F64});
  ax_vae_terms t;
  ax_tensor *l = ax_vae_loss_terms(x, lg, mu, lv, &t);
  double recon = (log(2.0) + log1p(exp(2.0))) / 2, kl = (0.5 + (3 - log(4.0)) / 2) / 2;
  cr_assert_not_null(l);
  cr_expect_float_eq(ax_item(t.recon), recon, 1e-12);
  cr_expect_float_eq(ax_item(t.kl), kl, 1e-12);
  cr_expect_float_eq(ax_item(l), recon + kl, 1e-12);
  ax_scope_end();
}

/* the same formula on random values of several pixels and code dimensions */
Test(generative, vae_loss_formula) {
  ax_scope_begin();
  ax_tensor *x = tu_uniform(AX_F64, AX_SHAPE(3, 1, 2, 2), 0, 1), *lg = tu_randn(AX_F64, AX_SHAPE(3, 1, 2, 2));
  ax_tensor *mu = tu_randn(AX_F64, AX_SHAPE(3, 5)), *lv = tu_randn(AX_F64, AX_SHAPE(3, 5));
  ax_vae_terms t;
  ax_tensor *l = ax_vae_loss_terms(x, lg, mu, lv, &t);
  double recon = 0, kl = 0;
  for (int i = 0; i < 12; i++) {
    double xi = tu_get(x, i), li = tu_get(lg, i);
    recon += log1p(exp(li)) - xi * li; /* -x log sigmoid(l) - (1 - x) log(1 - sigmoid(l)) */
  }
  for (int i = 0; i < 15; i++) {
    double m = tu_get(mu, i), v = tu_get(lv, i);
    kl += -0.5 * (1 + v - m * m - exp(v));
  }
  cr_expect_float_eq(ax_item(t.recon), recon / 3, 1e-10);
  cr_expect_float_eq(ax_item(t.kl), kl / 3, 1e-10);
  cr_expect_float_eq(ax_item(l), (recon + kl) / 3, 1e-10);
  ax_scope_end();
}

static ax_tensor *vae_terms_fn(ax_tensor **in, void *ctx) {
  return ax_vae_loss_terms(in[0], in[1], in[2], in[3], NULL);
}

Test(generative, vae_loss_gradcheck) {
  ax_scope_begin();
  ax_tensor *in[4] = {tu_leaf(tu_uniform(AX_F64, AX_SHAPE(2, 1, 2, 2), 0.05, 0.95)),
                      tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 1, 2, 2))), tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 3))),
                      tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 3)))};
  cr_expect(TU_GRADCHECK(vae_terms_fn, in, 4, NULL));
  ax_scope_end();
}

/* ---- the models: names, shapes, gradients ---- */

static bool has_param(ax_module *m, const char *name) { return ax_module_tensor(m, name) != NULL; }

Test(generative, pytorch_names_and_shapes) {
  ax_module *ae = ax_model_autoencoder(), *vae = ax_model_vae(), *gan = ax_model_gan();
  cr_assert(ae && vae && gan);
  cr_expect(has_param(ae, "encoder.0.weight") && has_param(ae, "encoder.2.weight") && has_param(ae, "encoder.5.weight"));
  cr_expect(has_param(ae, "decoder.0.weight") && has_param(ae, "decoder.3.weight") && has_param(ae, "decoder.5.bias"));
  cr_expect(has_param(vae, "fc_mu.weight") && has_param(vae, "fc_logvar.bias") && has_param(vae, "decoder.5.weight"));
  cr_expect(has_param(gan, "generator.0.weight") && has_param(gan, "generator.1.running_mean"));
  cr_expect(has_param(gan, "discriminator.3.weight") && has_param(gan, "discriminator.5.bias"));
  ax_scope_begin();
  ax_tensor *x = tu_uniform(AX_F32, AX_SHAPE(2, 1, 28, 28), 0, 1);
  ax_tensor *r = ax_module_forward(ae, x), *z = ax_gen_encode(vae, x);
  ax_tensor *g = ax_module_forward(gan, ax_randn(AX_SHAPE(2, AX_GAN_NOISE_DIM), NULL));
  ax_tensor *d = ax_module_forward(ax_gan_discriminator(gan), g);
  cr_assert(r && z && g && d);
  cr_expect(r->ndim == 4 && r->shape[0] == 2 && r->shape[2] == 28 && r->shape[3] == 28);
  cr_expect(z->ndim == 2 && z->shape[1] == AX_GEN_CODE_DIM);
  cr_expect(g->ndim == 4 && g->shape[1] == 1 && g->shape[2] == 28 && g->shape[3] == 28);
  cr_expect(d->ndim == 2 && d->shape[0] == 2 && d->shape[1] == 1);
  cr_expect_null(ax_gen_encode(gan, x), "the gan has no encoder");
  cr_expect(tu_error_contains("not an autoencoder or a VAE", NULL));
  ax_scope_end();
  ax_module_free(ae), ax_module_free(vae), ax_module_free(gan);
}

static ax_tensor *decode_fn(ax_tensor **in, void *ctx) { return ax_gen_decode(ctx, in[0]); }
static ax_tensor *gan_fn(ax_tensor **in, void *ctx) {
  return ax_module_forward(ax_gan_discriminator(ctx), ax_module_forward(ctx, in[0]));
}

/* the gradient with respect to the code through the decoders (linear, Unflatten,
 * conv_transpose2d, sigmoid) and through the generator and the discriminator, in f64
 * (the encoders' layers are the classifiers' conv2d and linear) */
Test(generative, models_gradcheck) {
  ax_manual_seed(3);
  ax_module *ae = ax_model_autoencoder(), *vae = ax_model_vae(), *gan = ax_model_gan();
  cr_assert(ax_module_to_dtype(ae, AX_F64) == 0 && ax_module_to_dtype(vae, AX_F64) == 0 &&
            ax_module_to_dtype(gan, AX_F64) == 0);
  ax_module_train(vae, false); /* the mean code: deterministic */
  ax_scope_begin();
  ax_tensor *c[1] = {tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, AX_GEN_CODE_DIM)))};
  cr_expect(tu_gradcheck(decode_fn, c, 1, ae, 1e-6, 1e-6, 1e-4), "autoencoder");
  cr_expect(tu_gradcheck(decode_fn, c, 1, vae, 1e-6, 1e-6, 1e-4), "vae");
  ax_tensor *z[1] = {tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, AX_GAN_NOISE_DIM)))};
  cr_expect(tu_gradcheck(gan_fn, z, 1, gan, 1e-6, 1e-6, 1e-4), "gan (batch norm in training mode)");
  ax_scope_end();
  ax_module_free(ae), ax_module_free(vae), ax_module_free(gan);
}

/* ---- the judge's score ---- */

/* a "classifier" that returns its input as logits, fed logits that make known probabilities */
static ax_tensor *ident_forward(ax_module *m, ax_tensor *x) { return ax_reshape(x, AX_SHAPE(x->shape[0], -1)); }
static const ax_module_type ident_type = {"Identity10", ident_forward, NULL, NULL};

typedef struct fixed_samples {
  int64_t next;
  int confident; /* 1: one-hot-like logits cycling over the classes; 0: all equal */
} fixed_samples;

static ax_tensor *fixed_sampler(void *ud, int64_t n) {
  fixed_samples *s = ud;
  double v[64 * 10];
  cr_assert_leq(n, 64);
  for (int64_t i = 0; i < n; i++, s->next++)
    for (int y = 0; y < 10; y++) v[i * 10 + y] = s->confident && y == s->next % 10 ? 50.0 : 0.0;
  return ax_cast(ax_from_data(v, AX_SHAPE(n, 1, 1, 10), &(ax_tensor_opts){.dtype = AX_F64}), AX_F32);
}

Test(generative, judge_score) {
  ax_module *judge = ax_module_new(&ident_type, 0);
  fixed_samples s = {0, 1};
  ax_judge_score r;
  char err[256];
  /* confident and even over 10 classes: score 10, coverage 1, each class 10% */
  cr_assert_eq(ax_judge_images(judge, 0, 1, fixed_sampler, &s, 100, 30, AX_CPU, &r, err, sizeof err), 0, "%s", err);
  cr_expect_float_eq(r.score, 10.0, 1e-6);
  cr_expect_float_eq(r.entropy, 1.0, 1e-9);
  cr_expect_float_eq(r.min_share, 0.1, 1e-12);
  cr_expect_float_eq(r.max_share, 0.1, 1e-12);
  /* uniform probabilities: score 1 (p(y|x) = p(y)); argmax picks class 0 every time */
  s = (fixed_samples){0, 0};
  cr_assert_eq(ax_judge_images(judge, 0, 1, fixed_sampler, &s, 50, 64, AX_CPU, &r, err, sizeof err), 0, "%s", err);
  cr_expect_float_eq(r.score, 1.0, 1e-6);
  cr_expect_float_eq(r.entropy, 0.0, 1e-12);
  cr_expect_float_eq(r.max_share, 1.0, 1e-12);
  cr_expect_float_eq(r.min_share, 0.0, 1e-12);
  cr_expect_neq(ax_judge_images(judge, 0, 0, fixed_sampler, &s, 50, 64, AX_CPU, &r, err, sizeof err), 0);
  cr_expect(strstr(err, "std > 0"), "%s", err);
  ax_module_free(judge);
}

/* ---- CPU against cuda:0 (the emulated device in CI; skipped without one) ---- */

/* loss of a model on batch x (CPU-made, moved to the model's device) */
typedef ax_tensor *(*model_loss)(ax_module *m, ax_tensor *x);

static ax_tensor *ae_loss(ax_module *m, ax_tensor *x) { return ax_mse_loss(ax_module_forward(m, x), x, AX_REDUCTION_MEAN); }
static ax_tensor *vae_loss(ax_module *m, ax_tensor *x) { return ax_vae_loss(m, x, NULL); }
/* the discriminator's loss on real x and on the generator's (detached) images, plus the
 * generator's non-saturating loss: both halves get gradients */
static ax_tensor *gan_loss(ax_module *m, ax_tensor *x) {
  ax_module *g = ax_gan_generator(m), *d = ax_gan_discriminator(m);
  ax_tensor *z = ax_to(ax_randn(AX_SHAPE(x->shape[0], AX_GAN_NOISE_DIM, 1, 1), NULL), x->device);
  ax_tensor *fake = ax_module_forward(g, z), *dr = ax_module_forward(d, x);
  ax_tensor *df = ax_module_forward(d, ax_detach(fake)), *dg = ax_module_forward(d, fake);
  ax_tensor *ld = ax_add(ax_bce_with_logits(dr, ax_full_like(dr, 0.9), AX_REDUCTION_MEAN),
                         ax_bce_with_logits(df, ax_zeros_like(df), AX_REDUCTION_MEAN));
  return ax_add(ld, ax_bce_with_logits(dg, ax_ones_like(dg), AX_REDUCTION_MEAN));
}

/* one forward and backward on dev: the loss and every gradient, on the host, into out */
static double run_on(ax_module *(*build)(void), model_loss f, ax_device dev, double *grads, int64_t cap, int64_t *n) {
  ax_manual_seed(11);
  ax_module *m = build();
  cr_assert(m && ax_module_to(m, dev) == 0);
  ax_scope_begin();
  ax_tensor *x = ax_to(ax_mul_scalar(ax_add_scalar(ax_clamp(ax_randn(AX_SHAPE(2, 1, 28, 28), NULL), -2, 2), 2), 0.25), dev);
  ax_tensor *l = f(m, x);
  cr_assert(l && ax_backward(l, NULL) == 0, "%s", ax_last_error());
  double v = ax_item(l);
  ax_tensor *ps[64];
  int np = ax_module_parameters(m, ps, 64);
  *n = 0;
  for (int i = 0; i < np; i++) {
    ax_tensor *g = ax_contiguous(ax_cast(ax_to(ps[i]->grad, AX_CPU), AX_F64));
    cr_assert(g && *n + ax_numel(g) <= cap);
    cr_assert_eq(ax_to_data(g, grads + *n, (size_t)ax_numel(g) * sizeof(double)), 0);
    *n += ax_numel(g);
  }
  ax_scope_end();
  ax_module_free(m);
  return v;
}

static void parity(const char *what, ax_module *(*build)(void), model_loss f) {
  if (ax_cuda_device_count() < 1) cr_skip_test("no CUDA device (build with -DAXON_CUDA=EMULATE)");
  enum { CAP = 1 << 19 };
  static double gc[CAP], gd[CAP];
  int64_t nc = 0, nd = 0;
  double lc = run_on(build, f, AX_CPU, gc, CAP, &nc), ld = run_on(build, f, AX_CUDA(0), gd, CAP, &nd);
  cr_assert_eq(nc, nd);
  cr_expect_leq(fabs(lc - ld), 1e-4 * fabs(lc) + 1e-6, "%s: loss %.9g on the cpu, %.9g on cuda:0", what, lc, ld);
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < nc; i++) scale = fmax(scale, fabs(gc[i]));
  for (int64_t i = 0; i < nc; i++) worst = fmax(worst, fabs(gc[i] - gd[i]));
  cr_expect_leq(worst, 1e-3 * scale, "%s: gradients differ by %g (largest %g)", what, worst, scale);
  cr_expect_gt(scale, 0, "%s: no gradient", what);
}

Test(generative, cuda_matches_cpu_autoencoder, .timeout = 900) { parity("autoencoder", ax_model_autoencoder, ae_loss); }
Test(generative, cuda_matches_cpu_vae, .timeout = 900) { parity("vae", ax_model_vae, vae_loss); }
Test(generative, cuda_matches_cpu_gan, .timeout = 900) { parity("gan", ax_model_gan, gan_loss); }
