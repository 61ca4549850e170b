/* SPDX-License-Identifier: BSD-3-Clause */
/* The zoo's generative models (include/axon/generative.h): autoencoder, VAE, DCGAN. */
#include <stdio.h>
#include <string.h>

#include "axon.h"
#include "axon/generative.h"

#define CH1 32
#define CH2 64
#define GAN_G 32 /* the generator's and the discriminator's base channels */

/* ---------------- Unflatten (torch.nn.Unflatten(1, (c, h, w))) ---------------- */

typedef struct unflatten {
  int64_t c, h, w;
} unflatten;

static ax_tensor *unflatten_forward(ax_module *m, ax_tensor *x) {
  const unflatten *u = ax_module_impl(m);
  return ax_reshape(x, AX_SHAPE(x->shape[0], u->c, u->h, u->w));
}

static void unflatten_repr(const ax_module *m, char *buf, size_t n) {
  const unflatten *u = ax_module_impl(m);
  snprintf(buf, n, "dim=1, unflattened_size=(%lld, %lld, %lld)", (long long)u->c, (long long)u->h, (long long)u->w);
}

static const ax_module_type unflatten_type = {"Unflatten", unflatten_forward, NULL, unflatten_repr};

static ax_module *nn_unflatten(int64_t c, int64_t h, int64_t w) {
  ax_module *m = ax_module_new(&unflatten_type, sizeof(unflatten));
  if (m) *(unflatten *)ax_module_impl(m) = (unflatten){c, h, w};
  return m;
}

/* ---------------- the shared encoder and decoder ---------------- */

/* [N, 1, 28, 28] -> [N, 64 * 7 * 7]: two stride-2 convolutions */
static ax_module *conv_encoder(void) {
  const ax_nn_conv2d_opts s2 = {.stride = 2, .padding = 1};
  return AX_SEQUENTIAL(ax_nn_conv2d(1, CH1, 3, &s2), ax_nn_relu(), ax_nn_conv2d(CH1, CH2, 3, &s2), ax_nn_relu(),
                       ax_nn_flatten(1, -1));
}

/* [N, code] -> [N, 1, 28, 28] (no final activation): two stride-2 transposed convolutions */
static ax_module *conv_decoder(int64_t code) {
  const ax_nn_conv2d_opts s2 = {.stride = 2, .padding = 1};
  return AX_SEQUENTIAL(ax_nn_linear(code, CH2 * 7 * 7, true), ax_nn_relu(), nn_unflatten(CH2, 7, 7),
                       ax_nn_conv_transpose2d(CH2, CH1, 4, &s2), ax_nn_relu(), ax_nn_conv_transpose2d(CH1, 1, 4, &s2));
}

/* ---------------- autoencoder ---------------- */

static ax_tensor *ae_forward(ax_module *m, ax_tensor *x) {
  return ax_gen_decode(m, ax_gen_encode(m, x));
}

static const ax_module_type ae_type = {"ConvAutoencoder", ae_forward, NULL, NULL};

ax_module *ax_model_autoencoder(void) {
  ax_module *m = ax_module_new(&ae_type, 0);
  ax_module *enc = conv_encoder(), *dec = conv_decoder(AX_GEN_CODE_DIM);
  if (!m || !enc || !dec || !ax_nn_sequential_add(enc, ax_nn_linear(CH2 * 7 * 7, AX_GEN_CODE_DIM, true)) ||
      !ax_nn_sequential_add(dec, ax_nn_sigmoid()) || !ax_module_add_child(m, "encoder", enc) || !ax_module_add_child(m, "decoder", dec)) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

/* ---------------- VAE ---------------- */

static ax_tensor *vae_forward(ax_module *m, ax_tensor *x) {
  ax_tensor *mu, *logvar;
  if (ax_vae_encode(m, x, &mu, &logvar) != 0) return NULL;
  ax_tensor *z = mu;
  if (ax_module_is_training(m)) {
    ax_tensor *eps = ax_randn(mu->ndim, mu->shape, &(ax_tensor_opts){.dtype = mu->dtype, .device = mu->device});
    z = ax_add(mu, ax_mul(ax_exp(ax_mul_scalar(logvar, 0.5)), eps));
  }
  return ax_sigmoid(ax_vae_decode_logits(m, z));
}

static const ax_module_type vae_type = {"VAE", vae_forward, NULL, NULL};

ax_module *ax_model_vae(void) {
  ax_module *m = ax_module_new(&vae_type, 0);
  ax_module *enc = conv_encoder(), *mu = ax_nn_linear(CH2 * 7 * 7, AX_GEN_CODE_DIM, true);
  ax_module *lv = ax_nn_linear(CH2 * 7 * 7, AX_GEN_CODE_DIM, true), *dec = conv_decoder(AX_GEN_CODE_DIM);
  if (!m || !enc || !mu || !lv || !dec || !ax_module_add_child(m, "encoder", enc) ||
      !ax_module_add_child(m, "fc_mu", mu) || !ax_module_add_child(m, "fc_logvar", lv) ||
      !ax_module_add_child(m, "decoder", dec)) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

static bool is_vae(const ax_module *m) { return ax_module_type_of(m) == &vae_type; }
static bool is_ae(const ax_module *m) { return ax_module_type_of(m) == &ae_type; }

int ax_vae_encode(ax_module *vae, ax_tensor *x, ax_tensor **mu, ax_tensor **logvar) {
  if (!is_vae(vae)) {
    ax_error("ax_vae_encode: the module is a %s, not a VAE", vae ? ax_module_type_name(vae) : "(null)");
    return -1;
  }
  ax_tensor *h = ax_module_forward(ax_module_child(vae, "encoder"), x);
  *mu = ax_module_forward(ax_module_child(vae, "fc_mu"), h);
  *logvar = ax_module_forward(ax_module_child(vae, "fc_logvar"), h);
  return *mu && *logvar ? 0 : -1;
}

ax_tensor *ax_vae_decode_logits(ax_module *vae, ax_tensor *z) {
  if (!is_vae(vae)) {
    ax_error("ax_vae_decode_logits: the module is a %s, not a VAE", vae ? ax_module_type_name(vae) : "(null)");
    return NULL;
  }
  return ax_module_forward(ax_module_child(vae, "decoder"), z);
}

ax_tensor *ax_gen_encode(ax_module *m, ax_tensor *x) {
  ax_tensor *mu = NULL, *lv = NULL;
  if (is_vae(m)) return ax_vae_encode(m, x, &mu, &lv) == 0 ? mu : NULL;
  if (is_ae(m)) return ax_module_forward(ax_module_child(m, "encoder"), x);
  ax_error("ax_gen_encode: the module is a %s, not an autoencoder or a VAE", m ? ax_module_type_name(m) : "(null)");
  return NULL;
}

ax_tensor *ax_gen_decode(ax_module *m, ax_tensor *z) {
  if (is_vae(m)) return ax_sigmoid(ax_vae_decode_logits(m, z));
  if (is_ae(m)) return ax_module_forward(ax_module_child(m, "decoder"), z);
  ax_error("ax_gen_decode: the module is a %s, not an autoencoder or a VAE", m ? ax_module_type_name(m) : "(null)");
  return NULL;
}

ax_tensor *ax_vae_loss_terms(ax_tensor *x, ax_tensor *logits, ax_tensor *mu, ax_tensor *logvar, ax_vae_terms *terms) {
  if (!x || !logits || !mu || !logvar) return NULL;
  double n = (double)x->shape[0];
  ax_tensor *recon = ax_mul_scalar(ax_bce_with_logits(logits, x, AX_REDUCTION_SUM), 1.0 / n);
  /* KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar)) */
  ax_tensor *inner = ax_sub(ax_add_scalar(logvar, 1.0), ax_add(ax_square(mu), ax_exp(logvar)));
  ax_tensor *kl = ax_mul_scalar(ax_sum(inner, AX_ALL, false), -0.5 / n);
  if (terms) *terms = (ax_vae_terms){recon, kl};
  return ax_add(recon, kl);
}

ax_tensor *ax_vae_loss(ax_module *vae, ax_tensor *x, ax_vae_terms *terms) {
  ax_tensor *mu, *logvar;
  if (ax_vae_encode(vae, x, &mu, &logvar) != 0) return NULL;
  /* one sample of q(z|x) in both modes: the ELBO is an expectation over it */
  ax_tensor *eps = ax_randn(mu->ndim, mu->shape, &(ax_tensor_opts){.dtype = mu->dtype, .device = mu->device});
  ax_tensor *z = ax_add(mu, ax_mul(ax_exp(ax_mul_scalar(logvar, 0.5)), eps));
  return ax_vae_loss_terms(x, ax_vae_decode_logits(vae, z), mu, logvar, terms);
}

/* ---------------- DCGAN ---------------- */

static ax_tensor *gan_forward(ax_module *m, ax_tensor *z) {
  if (z && z->ndim == 2) z = ax_reshape(z, AX_SHAPE(z->shape[0], z->shape[1], 1, 1));
  return ax_module_forward(ax_module_child(m, "generator"), z);
}

static const ax_module_type gan_type = {"DCGAN", gan_forward, NULL, NULL};

/* [N, 64, 1, 1] -> [N, 1, 28, 28] in [-1, 1] */
static ax_module *gan_generator(void) {
  const ax_nn_conv2d_opts s2 = {.stride = 2, .padding = 1, .no_bias = true}, s1 = {.no_bias = true};
  return AX_SEQUENTIAL(ax_nn_conv_transpose2d(AX_GAN_NOISE_DIM, 2 * GAN_G, 7, &s1), ax_nn_batch_norm2d(2 * GAN_G, NULL),
                       ax_nn_relu(), ax_nn_conv_transpose2d(2 * GAN_G, GAN_G, 4, &s2), ax_nn_batch_norm2d(GAN_G, NULL),
                       ax_nn_relu(), ax_nn_conv_transpose2d(GAN_G, 1, 4, &(ax_nn_conv2d_opts){.stride = 2, .padding = 1}),
                       ax_nn_tanh());
}

/* [N, 1, 28, 28] -> [N, 1] logits */
static ax_module *gan_discriminator(void) {
  const ax_nn_conv2d_opts s2 = {.stride = 2, .padding = 1};
  return AX_SEQUENTIAL(ax_nn_conv2d(1, GAN_G, 4, &s2), ax_nn_leaky_relu(0.2),
                       ax_nn_conv2d(GAN_G, 2 * GAN_G, 4, &(ax_nn_conv2d_opts){.stride = 2, .padding = 1, .no_bias = true}),
                       ax_nn_batch_norm2d(2 * GAN_G, NULL), ax_nn_leaky_relu(0.2), ax_nn_conv2d(2 * GAN_G, 1, 7, NULL),
                       ax_nn_flatten(1, -1));
}

/* DCGAN's initialization: convolution weights N(0, 0.02), batch-norm weights N(1, 0.02) */
static int gan_init(ax_module *m) {
  enum { MAXP = 64 };
  const char *names[MAXP];
  ax_tensor *ps[MAXP];
  int n = ax_module_named_parameters(m, names, ps, MAXP), rc = 0;
  for (int i = 0; i < n && i < MAXP; i++) {
    size_t k = strlen(names[i]);
    bool weight = k > 7 && !strcmp(names[i] + k - 7, ".weight");
    if (weight && ps[i]->ndim == 4) rc |= ax_init_normal_(ps[i], 0.0, 0.02);
    else if (weight && ps[i]->ndim == 1) rc |= ax_init_normal_(ps[i], 1.0, 0.02);
  }
  return rc;
}

ax_module *ax_model_gan(void) {
  ax_module *m = ax_module_new(&gan_type, 0);
  ax_module *g = gan_generator(), *d = gan_discriminator();
  if (!m || !g || !d || !ax_module_add_child(m, "generator", g) || !ax_module_add_child(m, "discriminator", d) ||
      gan_init(m) != 0) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

ax_module *ax_gan_generator(ax_module *gan) {
  return ax_module_type_of(gan) == &gan_type ? ax_module_child(gan, "generator") : NULL;
}
ax_module *ax_gan_discriminator(ax_module *gan) {
  return ax_module_type_of(gan) == &gan_type ? ax_module_child(gan, "discriminator") : NULL;
}
