/* SPDX-License-Identifier: BSD-3-Clause */
/* Generative models of the zoo (docs/generative.md): a convolutional autoencoder, a
 * variational autoencoder and a DCGAN, all for [N, 1, 28, 28] images, with PyTorch's
 * parameter names (a safetensors file written by Axon loads into the same torch.nn model).
 *
 *   autoencoder  encoder (conv 1->32->64, stride 2, linear to a 16-d code) and decoder
 *                (linear, conv_transpose2d 64->32->1, sigmoid); forward(x): the reconstruction
 *                in [0, 1]; trained on the mean squared error against x
 *   vae          the same encoder to fc_mu and fc_logvar (16-d), the reparameterization
 *                z = mu + exp(logvar / 2) eps, the decoder to Bernoulli logits; forward(x):
 *                the reconstruction probabilities (sampled code in training mode, the mean in
 *                eval mode); trained on the negative ELBO (ax_vae_loss)
 *   gan          generator (conv_transpose2d from a [N, 64, 1, 1] code: 64->64->32->1, batch
 *                norm, ReLU, tanh: images in [-1, 1]) and discriminator (conv 1->32->64->1,
 *                batch norm, LeakyReLU 0.2: one logit per image); forward(z): the generator
 *
 * Images fed to the autoencoder and the VAE are pixel / 255 in [0, 1]; the GAN's
 * discriminator reads 2 * pixel / 255 - 1. */
#ifndef AXON_GENERATIVE_H
#define AXON_GENERATIVE_H

#include <stdint.h>

#include "axon/nn.h"
#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AX_GEN_CODE_DIM 16 /* the autoencoder's and the VAE's code */
#define AX_GAN_NOISE_DIM 64

ax_module *ax_model_autoencoder(void);
ax_module *ax_model_vae(void);
ax_module *ax_model_gan(void);

/* The autoencoder's or the VAE's halves: the code of x (the VAE: its mean), and the
 * images of codes z [N, 16] (the VAE: probabilities, the autoencoder: its outputs). */
ax_tensor *ax_gen_encode(ax_module *m, ax_tensor *x);
ax_tensor *ax_gen_decode(ax_module *m, ax_tensor *z);

/* The VAE's encoder: *mu and *logvar [N, 16] of x. 0, or -1 (the op's error stands). */
int ax_vae_encode(ax_module *vae, ax_tensor *x, ax_tensor **mu, ax_tensor **logvar);
/* The decoder's Bernoulli logits [N, 1, 28, 28] of codes z [N, 16]. */
ax_tensor *ax_vae_decode_logits(ax_module *vae, ax_tensor *z);

/* The parts of the negative ELBO, each a 0-dim tensor, the mean over the batch of the
 * per-image value in nats (summed over the 784 pixels and the 16 code dimensions). */
typedef struct ax_vae_terms {
  ax_tensor *recon; /* BCE of the decoded sample against x (x in [0, 1]) */
  ax_tensor *kl;    /* KL(q(z|x) || N(0, I)) = -1/2 sum(1 + logvar - mu^2 - exp(logvar)) */
} ax_vae_terms;
/* recon + kl for one sample of z per image (the ELBO is its negative); terms may be NULL. */
ax_tensor *ax_vae_loss(ax_module *vae, ax_tensor *x, ax_vae_terms *terms);
/* The same from given mu, logvar and decoder logits (a test checks it by hand). */
ax_tensor *ax_vae_loss_terms(ax_tensor *x, ax_tensor *logits, ax_tensor *mu, ax_tensor *logvar, ax_vae_terms *terms);

/* The GAN's halves (borrowed). */
ax_module *ax_gan_generator(ax_module *gan);
ax_module *ax_gan_discriminator(ax_module *gan);

/* ---- a classifier's judgement of generated images ----
 * A trained classifier (the zoo's cnn) reads the samples, normalized with its training
 * set's mean and std; from its class probabilities p(y|x):
 *   score     exp(E_x[KL(p(y|x) || p(y))]), p(y) the mean of p(y|x) over the samples
 *             (Inception-Score-like: 1 .. classes; high when each sample is confidently one
 *             class and the classes are all used)
 *   entropy   of the predicted-class histogram over log(classes): 1 when the samples spread
 *             evenly over the classes
 *   min_share, max_share  the rarest and the commonest predicted class's fraction */
typedef struct ax_judge_score {
  double score, entropy, min_share, max_share;
  int64_t n, counts[16];
  int classes;
} ax_judge_score;
/* Samples come from sample(ud, n): n images [n, 1, H, W] in [0, 1] on any device, a tensor of
 * the current scope (NULL: failed). batch images at a time (0: 500), n in all. judge runs in
 * eval mode on dev without grad. 0, or -1 with a reason. */
int ax_judge_images(ax_module *judge, float mean, float std, ax_tensor *(*sample)(void *ud, int64_t n), void *ud,
                    int64_t n, int64_t batch, ax_device dev, ax_judge_score *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
