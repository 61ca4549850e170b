/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon quantize`: f32 weights of a zoo classifier -> int8 weights (docs/quantization.md).
 * Calibrates the activation scales on the first --calibrate batches of the training
 * set (normalized as axon train and axon eval do), then writes the int8 safetensors
 * file that `axon eval` runs. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "axon.h"
#include "core/fail.h"
#include "tools/cli.h"
#include "tools/commands.h"

typedef struct quant_config {
  const char *weights, *out, *model, *method, *dataset, *data_dir;
  int calibrate, batch_size;
  double percentile;
} quant_config;

static const char *const q_models[] = {"mlp", "cnn", "resnet", NULL};
static const char *const q_datasets[] = {"fashion-mnist", "mnist", NULL};
static const char *const q_methods[] = {"minmax", "percentile", NULL};

/* the f32 model named by --model or by the file, with its weights */
static ax_module *load_f32(const quant_config *c, const char **name, char *err, size_t errlen) {
  char e2[512];
  ax_state_dict *sd = ax_load_safetensors(c->weights, e2, sizeof e2);
  if (!sd) return AX__FAIL_NULL(err, errlen, "%s", e2);
  ax_module *m = NULL;
  *name = c->model ? c->model : ax_state_dict_meta(sd, "axon_model");
  if (!*name) *name = "cnn";
  if (ax_state_dict_is_int8(sd)) {
    ax__fail(err, errlen, "%s already holds int8 weights (axon quantize reads the f32 weights of axon train)", c->weights);
  } else if (strcmp(*name, "mlp") && strcmp(*name, "cnn") && strcmp(*name, "resnet")) {
    ax__fail(err, errlen, "%s holds a '%s' model; axon quantize takes the image classifiers (%s)", c->weights, *name,
             ax_model_names());
  } else if ((m = ax_model_create(*name, err, errlen)) && ax_module_load_state_dict(m, sd, true, e2, sizeof e2)) {
    ax__fail(err, errlen, "%s: %s", c->weights, e2);
    ax_module_free(m);
    m = NULL;
  }
  *name = !*name ? NULL : !strcmp(*name, "mlp") ? "mlp" : !strcmp(*name, "cnn") ? "cnn" : "resnet";
  ax_state_dict_free(sd);
  return m;
}

/* runs the first c->calibrate batches of the training set through qm; the number of batches, or -1 */
static int calibrate(ax_module *qm, const quant_config *c, char *err, size_t errlen) {
  ax_dataset *ds = ax_dataset_by_name(c->dataset, c->data_dir, true, err, errlen);
  if (!ds) return -1;
  int64_t n = ax_dataset_size(ds), want = (int64_t)c->calibrate * c->batch_size;
  int got = -1;
  ax_loader *ld = NULL;
  float mean = 0, std = 1;
  if (n < 1) {
    ax__fail(err, errlen, "no calibration data: the %s training set is empty", c->dataset);
    goto out;
  }
  ax_dataset_channel_stats(ds, NULL, n, &mean, &std);
  ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = c->batch_size, .n_indices = want < n ? want : n,
                                           .mean = &mean, .std = &std, .n_channels = 1},
                     err, errlen);
  if (!ld) goto out;
  got = 0;
  for (;;) {
    ax_scope_begin();
    ax_tensor *x = NULL, *y = NULL;
    int r = ax_loader_next(ld, &x, &y);
    bool ok = r == 1 && ax_module_forward(qm, x) != NULL;
    ax_scope_end();
    if (r == 0) break;
    if (!ok) {
      got = ax__fail(err, errlen, "calibration batch %d failed: %s", got + 1, ax_last_error());
      break;
    }
    got++;
  }
out:
  ax_loader_free(ld);
  ax_dataset_free(ds);
  return got;
}

static int quantize_run(const quant_config *c, char *err, size_t errlen) {
  const char *name = NULL;
  ax_module *model = load_f32(c, &name, err, errlen);
  ax_module *qm = model ? ax_quant_prepare(model, name, err, errlen) : NULL;
  if (!qm) return -1;
  int nb = calibrate(qm, c, err, errlen), rc = -1;
  ax_quant_opts o = {.method = !strcmp(c->method, "percentile") ? AX_CALIB_PERCENTILE : AX_CALIB_MINMAX,
                     .percentile = c->percentile};
  if (nb >= 0 && ax_quant_convert(qm, &o, err, errlen) == 0 && ax_quant_save(qm, c->out, err, errlen) == 0) {
    printf("%s: %d layers of %s quantized to int8 (%s calibration on %d batches of %d training images)\n", c->out,
           ax_quant_num_layers(qm), name, c->method, nb, c->batch_size);
    rc = 0;
  }
  ax_module_free(qm);
  return rc;
}

static const char *quantize_usage =
    "usage: axon quantize --weights FILE --out FILE [--model mlp|cnn|resnet] [--calibrate N]\n"
    "                     [--method minmax|percentile] [--percentile P] [--dataset fashion-mnist|mnist] [--data-dir DIR]";

int ax_cmd_quantize(int argc, char **argv) {
  quant_config c = {.dataset = "fashion-mnist", .method = "minmax", .calibrate = 20, .batch_size = 128,
                    .percentile = 99.99};
  ax_flag flags[] = {
      {"weights", AX_FLAG_STRING, &c.weights, "FILE", "f32 safetensors weights written by axon train (required)",
       .rules = AX_RULE_IN_FILE},
      {"out", AX_FLAG_STRING, &c.out, "FILE", "the int8 weights to write (required)", .rules = AX_RULE_OUT_FILE},
      {"model", AX_FLAG_STRING, &c.model, "NAME", "the model the weights belong to (default: the one named in the file)",
       .choices = q_models},
      {"calibrate", AX_FLAG_INT, &c.calibrate, "N", "training batches that calibrate the activation scales (default 20)",
       1, 1 << 20},
      {"method", AX_FLAG_STRING, &c.method, "NAME", "activation range: minmax (default) or percentile of |x|",
       .choices = q_methods},
      {"percentile", AX_FLAG_DOUBLE, &c.percentile, "P", "--method percentile: the percentile of |x| (default 99.99)", 0,
       100, AX_RULE_MIN_OPEN},
      {"batch-size", AX_FLAG_INT, &c.batch_size, "B", "images per calibration batch (default 128)", 1, 65536},
      {"dataset", AX_FLAG_STRING, &c.dataset, "NAME", "fashion-mnist (default) or mnist", .choices = q_datasets},
      {"data-dir", AX_FLAG_STRING, &c.data_dir, "DIR", "folder with the IDX files", .rules = AX_RULE_IN_DIR},
  };
  int r = ax_cli_parse("quantize", quantize_usage,
                       "Quantizes the Linear and Conv2d layers of trained weights to int8 (weights per output channel, "
                       "activations per tensor, calibrated on training batches; BatchNorm folded into the conv before "
                       "it) and writes them for axon eval.",
                       flags, (int)(sizeof flags / sizeof *flags), argc, argv);
  if (r != 0) return r > 0 ? 0 : AX_EXIT_USAGE;
  if (!c.weights || !c.out)
    return ax_cli_fail("quantize", AX_EXIT_USAGE, "--weights FILE and --out FILE are required (try 'axon quantize --help')");
  if (ax_cli_given("percentile") && strcmp(c.method, "percentile"))
    return ax_cli_fail("quantize", AX_EXIT_USAGE, "--percentile needs --method percentile");
  char err[1024];
  if (quantize_run(&c, err, sizeof err) != 0) return ax_cli_fail("quantize", AX_EXIT_RUNTIME, "%s", err);
  return 0;
}
