/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon train --model autoencoder|vae|gan` (tools/gen_train.c) and `axon sample`
 * (tools/gen_sample.c): the generative models of the zoo (include/axon/generative.h,
 * docs/generative.md) around the library's training engine. */
#ifndef AXON_TOOLS_GEN_H
#define AXON_TOOLS_GEN_H

#include <stdbool.h>
#include <stdio.h>

#include "axon.h"
#include "tools/trainer.h"

/* autoencoder, vae or gan */
bool ax_gen_is_model(const char *name);
/* The generative models' defaults for flags the command line did not give (the GAN:
 * Adam with lr 2e-4, beta1 0.5, no schedule, as DCGAN). given(name): was --name given. */
void ax_gen_defaults(ax_train_config *c, bool (*given)(const char *name));
/* ax_train for the generative models (same flags, progress, checkpoints, metrics). */
int ax_gen_train(const ax_train_config *c, ax_train_report *report, char *err, size_t errlen);

/* The grids (tools/gen_sample.c). kind: */
typedef enum { AX_GRID_AUTO = 0, AX_GRID_SAMPLES, AX_GRID_RECON, AX_GRID_INTERPOLATE } ax_grid_kind;
/* Writes an 8x8 grid of model (named name: autoencoder, vae or gan) to path: samples of the
 * GAN or the VAE's prior, originals of test (the first 32 images) beside their reconstructions,
 * or 8 rows of interpolations between two codes (the VAE). AUTO: samples for the GAN,
 * reconstructions for the others. The model is in eval mode on dev. 0, or -1 with a reason. */
int ax_gen_write_grid(ax_module *model, const char *name, ax_grid_kind kind, const ax_dataset *test, ax_device dev,
                      const char *path, char *err, size_t errlen);
/* The images a model generates for the judge: n of them, [n, 1, 28, 28] in [0, 1]. */
ax_tensor *ax_gen_sample_images(ax_module *model, int64_t n, ax_device dev);

typedef struct ax_sample_config {
  const char *weights, *model, *out, *dataset, *data_dir;
  bool interpolate, prior;
  uint64_t seed;
  ax_device device;
} ax_sample_config;
int ax_sample(const ax_sample_config *c, FILE *log, char *err, size_t errlen);
int ax_cmd_sample(int argc, char **argv);

#endif
