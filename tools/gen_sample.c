/* SPDX-License-Identifier: BSD-3-Clause */
/* The generative models' pictures: `axon sample` and the grids of --samples-every
 * (tools/gen.h). The PNG itself is axon_plot's ax_png_grid (include/axon/plot.h). */
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/gen.h"
#include "tools/util.h"
#ifdef AXON_HAVE_PLOT /* tools/CMakeLists.txt: axon_tools links libaxon_plot when Cairo is there */
#include "axon/plot.h"
#endif

#define fail ax_tool_fail
#define GRID 64 /* 8 x 8 */
#define PIX (28 * 28)

ax_tensor *ax_gen_sample_images(ax_module *model, int64_t n, ax_device dev) {
  ax_module *g = ax_gan_generator(model);
  if (g) {
    ax_tensor *z = ax_randn(AX_SHAPE(n, AX_GAN_NOISE_DIM, 1, 1), &(ax_tensor_opts){.device = dev});
    return ax_clamp(ax_mul_scalar(ax_add_scalar(ax_module_forward(g, z), 1.0), 0.5), 0.0, 1.0);
  }
  if (strcmp(ax_module_type_name(model), "VAE") == 0) {
    ax_tensor *z = ax_randn(AX_SHAPE(n, AX_GEN_CODE_DIM), &(ax_tensor_opts){.device = dev});
    return ax_gen_decode(model, z);
  }
  ax_error("ax_gen_sample_images: a %s has no prior to sample from (the vae and the gan have)",
           ax_module_type_name(model));
  return NULL;
}

/* The first n test images, [n, 1, 28, 28] in [0, 1] on dev (a tensor of the current scope). */
static ax_tensor *test_images(const ax_dataset *test, int64_t n, ax_device dev, char *err, size_t errlen) {
  ax_loader *ld = ax_loader_new(test, &(ax_loader_opts){.batch_size = n, .n_indices = n}, err, errlen);
  ax_tensor *x = NULL, *y = NULL;
  if (ld && ax_loader_next(ld, &x, &y) != 1) {
    fail(err, errlen, "the test set has fewer than %lld images", (long long)n);
    x = NULL;
  }
  ax_loader_free(ld);
  return x ? ax_to(x, dev) : NULL;
}

/* 32 originals beside their reconstructions: each row holds 4 (original, reconstruction) pairs */
static ax_tensor *recon_grid(ax_module *m, const ax_dataset *test, ax_device dev, char *err, size_t errlen) {
  ax_tensor *x = test ? test_images(test, GRID / 2, dev, err, errlen) : NULL;
  if (!x) return test ? NULL : (fail(err, errlen, "reconstructions need the test set"), NULL);
  ax_tensor *r = ax_gen_decode(m, ax_gen_encode(m, x));
  ax_tensor *pairs = r ? ax_cat((ax_tensor *[]){ax_unsqueeze(x, 1), ax_unsqueeze(r, 1)}, 2, 1) : NULL; /* [32, 2, ...] */
  return pairs ? ax_reshape(pairs, AX_SHAPE(GRID, 1, 28, 28)) : NULL;
}

/* 8 rows: the decoded codes from one test image's (row 2k) to another's (2k + 1) in 8 steps */
static ax_tensor *interp_grid(ax_module *m, const ax_dataset *test, ax_device dev, char *err, size_t errlen) {
  ax_tensor *x = test ? test_images(test, 16, dev, err, errlen) : NULL;
  ax_tensor *z = x ? ax_reshape(ax_gen_encode(m, x), AX_SHAPE(8, 2, AX_GEN_CODE_DIM)) : NULL;
  if (!z) return NULL;
  ax_tensor *za = ax_narrow(z, 1, 0, 1), *zb = ax_narrow(z, 1, 1, 1), *rows[8]; /* [8, 1, D] */
  for (int j = 0; j < 8; j++) {
    double t = j / 7.0;
    rows[j] = ax_add(ax_mul_scalar(za, 1 - t), ax_mul_scalar(zb, t));
  }
  ax_tensor *codes = ax_reshape(ax_cat(rows, 8, 1), AX_SHAPE(GRID, AX_GEN_CODE_DIM)); /* [8, 8, D]: row-major */
  return ax_gen_decode(m, codes);
}

static int png_out(const char *path, ax_tensor *img, char *err, size_t errlen) {
  float *buf = malloc(sizeof(float) * GRID * PIX);
  int rc = buf ? 0 : fail(err, errlen, "out of host memory");
  ax_tensor *h = rc == 0 ? ax_contiguous(ax_cast(ax_to(img, AX_CPU), AX_F32)) : NULL;
  if (rc == 0 && (!h || ax_numel(h) != GRID * PIX || ax_to_data(h, buf, sizeof(float) * GRID * PIX) != 0))
    rc = fail(err, errlen, "cannot read the images back: %s", ax_last_error());
#ifdef AXON_HAVE_PLOT
  if (rc == 0 && ax_png_grid(path, buf, GRID, 1, 28, 28, 8, err, errlen) != 0) rc = -1;
#else
  if (rc == 0) rc = fail(err, errlen, "this build has no PNG writer (the axon_plot library, Cairo)");
#endif
  free(buf);
  return rc;
}

int ax_gen_write_grid(ax_module *model, const char *name, ax_grid_kind kind, const ax_dataset *test, ax_device dev,
                      const char *path, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  bool gan = ax_gan_generator(model) != NULL, vae = !strcmp(ax_module_type_name(model), "VAE");
  if (kind == AX_GRID_AUTO) kind = gan ? AX_GRID_SAMPLES : AX_GRID_RECON;
  if (gan && kind != AX_GRID_SAMPLES)
    return fail(err, errlen, "the gan has no encoder: it makes samples only (no reconstructions or interpolations)");
  if (kind == AX_GRID_INTERPOLATE && !vae) return fail(err, errlen, "--interpolate is for the vae (not the %s)", name);
  if (kind == AX_GRID_SAMPLES && !gan && !vae)
    return fail(err, errlen, "the %s has no prior to sample from: it shows reconstructions", name);
  ax_no_grad_begin();
  ax_scope_begin();
  ax_tensor *img = kind == AX_GRID_SAMPLES ? ax_gen_sample_images(model, GRID, dev)
                   : kind == AX_GRID_RECON ? recon_grid(model, test, dev, err, errlen)
                                           : interp_grid(model, test, dev, err, errlen);
  int rc = img ? png_out(path, img, err, errlen) : -1;
  if (!img && (!err || !err[0])) fail(err, errlen, "cannot make the images: %s", ax_last_error());
  ax_scope_end();
  ax_no_grad_end();
  return rc;
}

/* ---- axon sample ---- */

/* The weights of a generative model: the model named in the file (or --model), checked. */
static ax_module *load_model(const ax_sample_config *c, const char **name, char *err, size_t errlen) {
  char e[512];
  ax_state_dict *sd = ax_load_safetensors(c->weights, e, sizeof e);
  if (!sd) return fail(err, errlen, "%s", e), NULL;
  const char *in_file = ax_state_dict_meta(sd, "axon_model");
  *name = c->model ? c->model : in_file;
  ax_module *m = NULL;
  if (!*name)
    fail(err, errlen, "%s does not name its model (no axon_model entry): give --model autoencoder|vae|gan", c->weights);
  else if (!ax_gen_is_model(*name))
    fail(err, errlen, "%s holds a '%s' model; axon sample draws from the generative models (autoencoder, vae, gan)",
         c->weights, *name);
  else if (c->model && in_file && strcmp(c->model, in_file))
    fail(err, errlen, "%s holds a '%s' model, not the --model %s asked for", c->weights, in_file, c->model);
  else if ((m = ax_model_create(*name, err, errlen)) && ax_module_load_state_dict(m, sd, true, e, sizeof e) != 0) {
    fail(err, errlen, "%s is not %s %s: %s", c->weights, !strcmp(*name, "autoencoder") ? "an" : "a", *name, e);
    ax_module_free(m);
    m = NULL;
  }
  if (*name) *name = !strcmp(*name, "gan") ? "gan" : !strcmp(*name, "vae") ? "vae" : "autoencoder"; /* outlives sd */
  ax_state_dict_free(sd);
  return m;
}

int ax_sample(const ax_sample_config *c, FILE *log, char *err, size_t errlen) {
  const char *name = NULL;
  ax_module *m = load_model(c, &name, err, errlen);
  if (!m) return -1;
  ax_dataset *test = NULL;
  int rc = 0;
  ax_grid_kind kind = c->interpolate ? AX_GRID_INTERPOLATE : c->prior ? AX_GRID_SAMPLES : AX_GRID_AUTO;
  if (c->interpolate && c->prior) rc = fail(err, errlen, "--interpolate and --prior draw different grids: choose one");
  else if (ax_module_to(m, c->device) != 0) rc = fail(err, errlen, "cannot move the model: %s", ax_last_error());
  else if (strcmp(name, "gan") && kind != AX_GRID_SAMPLES &&
           !(test = ax_dataset_by_name(c->dataset, c->data_dir, false, err, errlen)))
    rc = -1;
  if (rc == 0) {
    ax_manual_seed(c->seed);
    ax_module_train(m, false);
    rc = ax_gen_write_grid(m, name, kind, test, c->device, c->out, err, errlen);
  }
  if (rc == 0 && log) fprintf(log, "wrote %s (8x8, %s)\n", c->out, kind == AX_GRID_INTERPOLATE ? "interpolations"
                                                                : kind == AX_GRID_SAMPLES || !strcmp(name, "gan")
                                                                    ? "samples"
                                                                    : "originals beside reconstructions");
  ax_dataset_free(test);
  ax_module_free(m);
  return rc;
}

static const char *const gen_models[] = {"autoencoder", "vae", "gan", NULL};
static const char *const gen_datasets[] = {"fashion-mnist", "mnist", NULL};

int ax_cmd_sample(int argc, char **argv) {
  ax_sample_config c = {.dataset = "fashion-mnist", .device = ax_default_device()};
  const char *device = NULL;
  ax_flag flags[] = {
      {"weights", AX_FLAG_STRING, &c.weights, "FILE", "weights written by axon train --model autoencoder|vae|gan "
                                                      "(required)", .rules = AX_RULE_IN_FILE},
      {"out", AX_FLAG_STRING, &c.out, "FILE", "the PNG to write (required)", .rules = AX_RULE_OUT_FILE},
      {"model", AX_FLAG_STRING, &c.model, "NAME", "autoencoder, vae or gan (default: the one named in the file)",
       .choices = gen_models},
      {"interpolate", AX_FLAG_BOOL, &c.interpolate, NULL, "the vae: 8 rows from one test image's code to another's"},
      {"prior", AX_FLAG_BOOL, &c.prior, NULL, "the vae: samples from the prior instead of reconstructions"},
      {"dataset", AX_FLAG_STRING, &c.dataset, "NAME", "the test images to reconstruct: fashion-mnist (default) or mnist",
       .choices = gen_datasets},
      {"data-dir", AX_FLAG_STRING, &c.data_dir, "DIR", "folder with the IDX files", .rules = AX_RULE_IN_DIR},
      {"seed", AX_FLAG_U64, &c.seed, "S", "seed of the samples (default 0)", .rules = AX_RULE_ANY},
      {"device", AX_FLAG_STRING, &device, "DEV", "cpu, cuda or cuda:N"},
  };
  int r = ax_cli_parse("sample", "usage: axon sample --weights FILE --out grid.png [--interpolate|--prior] [--seed S] ...",
                       "Writes an 8x8 grid of a generative model's pictures: the gan's samples, or test images beside "
                       "their reconstructions (autoencoder, vae).", flags, (int)(sizeof flags / sizeof *flags), argc, argv);
  if (r != 0) return r > 0 ? 0 : AX_EXIT_USAGE;
  if (!c.weights || !c.out) return ax_cli_fail("sample", AX_EXIT_USAGE, "--weights FILE and --out FILE are required");
  if (ax_cli_device("sample", device, &c.device)) return AX_EXIT_USAGE;
  char err[1024];
  if (ax_sample(&c, stdout, err, sizeof err) != 0) return ax_cli_fail("sample", AX_EXIT_RUNTIME, "%s", err);
  return 0;
}
