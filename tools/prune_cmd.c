/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon prune`: magnitude pruning of trained weights (include/axon/prune.h), the sparsity
 * report, and the pruned weights for fine-tuning with `axon train --init W --keep-sparsity`. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/compress.h"

static const char *const prune_models[] = {"mlp", "cnn", "resnet", NULL};

typedef struct prune_cli {
  const char *model, *weights, *out, *metrics;
  ax_prune_spec spec;
} prune_cli;

/* One JSON line: the totals and each layer's sparsity. */
static int prune_metrics(ax_module *m, const prune_cli *o, char *err, size_t errlen) {
  int n = ax_prune_report(m, NULL, 0, NULL, NULL);
  ax_prune_layer *l = calloc((size_t)(n > 0 ? n : 1), sizeof *l);
  int64_t tn = 0, tz = 0;
  FILE *f = l && n >= 0 && ax_prune_report(m, l, n, &tn, &tz) >= 0 ? fopen(o->metrics, "a") : NULL;
  if (!f) return free(l), ax__fail(err, errlen, "cannot append the report to --metrics %s", o->metrics);
  fprintf(f, "{\"prune\": \"%s\", \"model\": \"%s\", \"target_sparsity\": %g, \"structured\": %s, \"per_layer\": %s, "
             "\"weights\": %" PRId64 ", \"zeros\": %" PRId64 ", \"sparsity\": %.6f, \"layers\": {",
          o->out, o->model, o->spec.sparsity, o->spec.structured ? "true" : "false",
          o->spec.per_layer ? "true" : "false", tn, tz, tn ? (double)tz / (double)tn : 0.0);
  for (int i = 0; i < n; i++)
    fprintf(f, "%s\"%s\": %.6f", i ? ", " : "", l[i].name, l[i].numel ? (double)l[i].zeros / (double)l[i].numel : 0.0);
  fprintf(f, "}}\n");
  free(l);
  return fclose(f) ? ax__fail(err, errlen, "cannot write to --metrics %s", o->metrics) : 0;
}

static int prune_run(prune_cli *o, char *err, size_t errlen) {
  char e2[768];
  ax_state_dict *sd = ax_load_safetensors(o->weights, e2, sizeof e2);
  if (!sd) return ax__fail(err, errlen, "%s", e2);
  if (!o->model) o->model = ax_state_dict_meta(sd, "axon_model") ? ax_state_dict_meta(sd, "axon_model") : "cnn";
  ax_module *m = ax_model_create(o->model, err, errlen);
  ax_pruner *p = NULL;
  int rc = -1;
  if (m && ax_tool_load_weights(m, o->model, o->weights, "--weights", err, errlen) == 0 &&
      (p = ax_prune_magnitude(m, &o->spec, err, errlen)) != NULL) {
    printf("%s (%s): pruned to %.2f%% sparsity (%s, %s)\n", o->weights, o->model, 100 * ax_pruner_sparsity(p),
           o->spec.structured ? (o->spec.norm == 2 ? "structured, L2" : "structured, L1") : "unstructured",
           o->spec.per_layer ? "per layer" : "global");
    ax_prune_report_print(m, stdout);
    ax_state_dict *out = ax_state_dict_new();
    char sp[32];
    snprintf(sp, sizeof sp, "%.6f", ax_pruner_sparsity(p));
    ax_module_state_dict(m, out);
    ax_state_dict_set_meta(out, "format", "pt");
    ax_state_dict_set_meta(out, "axon_model", o->model);
    ax_state_dict_set_meta(out, "axon_sparsity", sp);
    rc = ax_save_safetensors(o->out, out, err, errlen) ? -1 : 0;
    ax_state_dict_free(out);
    if (!rc) printf("pruned weights written to %s\n", o->out);
    if (!rc && o->metrics) rc = prune_metrics(m, o, err, errlen);
  }
  ax_pruner_free(p);
  ax_module_free(m);
  ax_state_dict_free(sd);
  return rc;
}

int ax_cmd_prune(int argc, char **argv) {
  prune_cli o = {0};
  ax_flag flags[] = {
      {"weights", AX_FLAG_STRING, &o.weights, "FILE", "trained weights (required)", .rules = AX_RULE_IN_FILE},
      {"out", AX_FLAG_STRING, &o.out, "FILE", "where the pruned weights go (required)", .rules = AX_RULE_OUT_FILE},
      {"model", AX_FLAG_STRING, &o.model, "NAME", "the weights' model (default: the one named in the file)",
       .choices = prune_models},
      {"sparsity", AX_FLAG_DOUBLE, &o.spec.sparsity, "S", "fraction of weights (structured: of units) to zero, in [0, 1)",
       0, 1, AX_RULE_MAX_OPEN},
      {"per-layer", AX_FLAG_BOOL, &o.spec.per_layer, NULL, "every layer to the sparsity (default: one global ranking)"},
      {"structured", AX_FLAG_BOOL, &o.spec.structured, NULL, "zero whole conv output channels / linear rows"},
      {"norm", AX_FLAG_INT, &o.spec.norm, "P", "structured: rank units by their L1 (1, default) or L2 (2) norm", 1, 2},
      {"metrics", AX_FLAG_STRING, &o.metrics, "FILE", "append the sparsity report as one JSON line",
       .rules = AX_RULE_OUT_FILE},
  };
  int r = ax_cli_parse("prune",
                       "usage: axon prune --weights FILE --out FILE --sparsity S [--model mlp|cnn|resnet] [--per-layer]\n"
                       "                  [--structured [--norm 1|2]] [--metrics FILE]",
                       "Magnitude pruning of trained weights; fine-tune with axon train --init OUT --keep-sparsity.",
                       flags, (int)(sizeof flags / sizeof *flags), argc, argv);
  if (r != 0) return r > 0 ? 0 : AX_EXIT_USAGE;
  if (!o.weights || !o.out || !ax_cli_given("sparsity"))
    return ax_cli_fail("prune", AX_EXIT_USAGE, "--weights FILE, --out FILE and --sparsity S are required (try 'axon "
                                               "prune --help')");
  if (ax_cli_given("norm") && !o.spec.structured)
    return ax_cli_fail("prune", AX_EXIT_USAGE, "--norm ranks whole units: it needs --structured");
  char err[1024];
  if (prune_run(&o, err, sizeof err)) return ax_cli_fail("prune", AX_EXIT_RUNTIME, "%s", err);
  return 0;
}
