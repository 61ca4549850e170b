/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon train` and `axon eval`: flags -> tools/trainer.c. Every flag is checked
 * here (tools/cli.c: range, finiteness, paths) before any work starts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/gen.h"
#include "tools/trainer.h"

int ax_cli_device(const char *cmd, const char *s, ax_device *d) {
  if (!s) return 0;
  if (!strcmp(s, "cpu")) {
    *d = AX_CPU;
    return 0;
  }
  int idx = 0;
  char tail = 0;
  if (!strcmp(s, "cuda") || (sscanf(s, "cuda:%d%c", &idx, &tail) == 1 && idx >= 0)) {
    int n = ax_cuda_device_count();
    if (!ax_has_cuda())
      return ax_cli_fail(cmd, -1, "bad value '%s' for option '--device': this build has no CUDA backend (rebuild with "
                                  "-DAXON_CUDA=ON)", s);
    if (idx >= n)
      return ax_cli_fail(cmd, -1, "bad value '%s' for option '--device': %d CUDA device%s found", s, n,
                         n == 1 ? "" : "s");
    *d = AX_CUDA(idx);
    return 0;
  }
  return ax_cli_fail(cmd, -1, "bad value '%s' for option '--device' (cpu, cuda or cuda:N)", s);
}

static const char *const models[] = {"mlp", "cnn", "resnet", "autoencoder", "vae", "gan", NULL};
static const char *const datasets[] = {"fashion-mnist", "mnist", NULL};
static const char *const optimizers[] = {"sgd", "adam", "adamw", "rmsprop", NULL};
static const char *const norm_stats[] = {"full", "subset", NULL};
static const char *const schedules[] = {"none", "step", "exponential", "cosine", "onecycle", NULL};

#define BIG 1e9 /* counts of steps, images, epochs: beyond this a value is a typo */

static const char *train_usage =
    "usage: axon train [--model mlp|cnn|resnet|autoencoder|vae|gan] (gpt, char-lstm: see axon train --model gpt --help)\n"
    "                  [--dataset fashion-mnist|mnist] [--data-dir DIR] [--epochs N] [--steps N]\n"
    "                  [--batch-size B] [--optimizer sgd|adam|adamw|rmsprop] [--lr X] [--weight-decay W]\n"
    "                  [--schedule none|step|exponential|cosine|onecycle] [--device cpu|cuda] [--seed S]\n"
    "                  [--metrics FILE] [--checkpoint DIR] [--resume|--overwrite] [--early-stop PATIENCE] [--save FILE]\n"
    "                  [--bucket-mb MB] [--sync-bn] [--zero] [--dist-timeout SECONDS] [--allow-nonfinite]\n"
    "                  [--init FILE [--keep-sparsity]] [--teacher FILE [--distill-alpha A] [--temperature T]] [--cv K] ...";

/* The checks every trainer shares once its flags are parsed: output paths, the
 * checkpoint folder against --resume / --overwrite, the distributed timeout. */
int ax_cli_check_outputs(const char *cmd, const char *save, const char *metrics, const char *checkpoint_dir,
                         bool resume, bool overwrite, double dist_timeout) {
  if (resume && overwrite)
    return ax_cli_fail(cmd, -1, "--resume and --overwrite contradict each other (continue the run, or start over)");
  if (resume && !checkpoint_dir) return ax_cli_fail(cmd, -1, "--resume needs --checkpoint DIR");
  if (overwrite && !checkpoint_dir) return ax_cli_fail(cmd, -1, "--overwrite needs --checkpoint DIR");
  if (save && ax_cli_check_out_file(cmd, "save", save)) return -1;
  if (metrics && ax_cli_check_out_file(cmd, "metrics", metrics)) return -1;
  if (checkpoint_dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", checkpoint_dir);
    struct stat st;
    if (ax_cli_check_out_dir(cmd, "checkpoint", checkpoint_dir)) return -1;
    if (stat(checkpoint_dir, &st) == 0 && ax_cli_check_out_file(cmd, "checkpoint", path)) return -1;
    FILE *f = fopen(path, "rb");
    if (f) {
      fclose(f);
      if (!resume && !overwrite)
        return ax_cli_fail(cmd, -1, "--checkpoint %s already holds %s from an earlier run: add --resume to continue "
                                    "it or --overwrite to start over and replace it", checkpoint_dir, path);
    }
  }
  if (save && metrics && !strcmp(save, metrics)) return ax_cli_fail(cmd, -1, "--save and --metrics name the same file %s", save);
  return ax_cli_dist_timeout(cmd, dist_timeout, ax_cli_given("dist-timeout"));
}

/* The flags that do not map onto a field of ax_train_config. */
typedef struct train_cli {
  const char *device, *save, *norm_stats;
  char save_default[256];
  bool no_save, no_prefetch, plain, overwrite, aug_on, aug_off;
  double dist_timeout;
} train_cli;

/* The checks between flags, and the flags into c. 0, or an exit code. */
static int train_finish_flags(ax_train_config *c, train_cli *o) {
  if (ax_cli_device("train", o->device, &c->device)) return AX_EXIT_USAGE;
  if (o->aug_on && o->aug_off) return ax_cli_fail("train", AX_EXIT_USAGE, "--augment and --no-augment contradict each other");
  if (o->save && o->no_save) return ax_cli_fail("train", AX_EXIT_USAGE, "--save and --no-save contradict each other");
  if (ax_cli_given("momentum") && strcmp(c->optimizer, "sgd"))
    return ax_cli_fail("train", AX_EXIT_USAGE, "--momentum applies to --optimizer sgd only (this run uses %s)",
                       c->optimizer);
  if (c->checkpoint_every > 0 && !c->checkpoint_dir)
    return ax_cli_fail("train", AX_EXIT_USAGE, "--checkpoint-every needs --checkpoint DIR");
  if (c->stop_after_steps > 0 && !c->checkpoint_dir)
    return ax_cli_fail("train", AX_EXIT_USAGE, "--stop-after-steps needs --checkpoint DIR (it checkpoints and stops)");
  if (c->early_stop > 0 && c->val_size <= 0)
    return ax_cli_fail("train", AX_EXIT_USAGE, "--early-stop watches the validation loss: it needs --val-size N "
                                               "(it never watches the test set)");
  c->norm_subset = o->norm_stats && !strcmp(o->norm_stats, "subset");
  if ((c->data_csv || c->data_npz) && !ax_cli_given("model")) c->model = "mlp"; /* the feature MLP */
  if (c->data_csv && c->data_npz) return ax_cli_fail("train", AX_EXIT_USAGE, "--data-csv and --data-npz contradict each other (one data source)");
  if ((c->data_csv || c->data_npz) && (ax_cli_given("dataset") || ax_cli_given("data-dir")))
    return ax_cli_fail("train", AX_EXIT_USAGE, "--data-%s replaces --dataset and --data-dir: give one data source",
                       c->data_csv ? "csv" : "npz");
  if ((c->data_csv || c->data_npz) && strcmp(c->model, "mlp"))
    return ax_cli_fail("train", AX_EXIT_USAGE, "--data-%s trains --model mlp (a feature MLP), not --model %s",
                       c->data_csv ? "csv" : "npz", c->model);
  if (c->label_col && !c->data_csv) return ax_cli_fail("train", AX_EXIT_USAGE, "--label-col applies to --data-csv only");
  if (c->test_size > 0 && !c->data_csv && !c->data_npz)
    return ax_cli_fail("train", AX_EXIT_USAGE, "--test-size applies to --data-csv and --data-npz only");
  if (ax_gen_is_model(c->model)) ax_gen_defaults(c, ax_cli_given);
  c->augment = o->aug_on ? 1 : o->aug_off ? 0 : -1;
  c->prefetch = !o->no_prefetch;
  if (o->plain) c->progress = 0;
  if (!o->no_save) {
    snprintf(o->save_default, sizeof o->save_default, "%s.safetensors", c->model);
    c->save_path = o->save ? o->save : o->save_default;
  }
  if (ax_cli_check_outputs("train", c->save_path, c->metrics_path, c->checkpoint_dir, c->resume, o->overwrite,
                           o->dist_timeout))
    return AX_EXIT_USAGE;
  return 0;
}

/* --init / --keep-sparsity / --teacher / --cv against each other; 0 or an exit code. */
static int ax_cli_compress_flags(ax_train_config *c, bool save_given) {
  if (c->keep_sparsity && !c->init_path)
    return ax_cli_fail("train", AX_EXIT_USAGE, "--keep-sparsity keeps the zeros of pruned weights: it needs --init FILE");
  if (!c->teacher_path && (ax_cli_given("teacher-model") || ax_cli_given("distill-alpha") || ax_cli_given("temperature")))
    return ax_cli_fail("train", AX_EXIT_USAGE, "--teacher-model, --distill-alpha and --temperature need --teacher FILE");
  if (!ax_cli_given("distill-alpha")) c->distill_alpha = 0.5;
  if (!ax_cli_given("temperature")) c->temperature = 4;
  if (!ax_cli_given("cv")) return 0;
  if (c->cv < 2) return ax_cli_fail("train", AX_EXIT_USAGE, "--cv %d: cross-validation needs at least 2 folds", c->cv);
  if (c->val_size > 0 || c->checkpoint_dir || save_given || c->early_stop > 0)
    return ax_cli_fail("train", AX_EXIT_USAGE, "--cv validates on each held-out fold and keeps no weights: it takes no "
                                               "--val-size, --early-stop, --checkpoint or --save");
  return 0;
}

int ax_cmd_train(int argc, char **argv) {
  if (ax_train_is_lm(argc, argv)) return ax_cmd_train_lm(argc, argv); /* language models: tools/train_lm_cmd.c */
  ax_train_config c;
  ax_train_config_defaults(&c);
  train_cli o = {.dist_timeout = 60};
  ax_flag flags[] = {
      {"model", AX_FLAG_STRING, &c.model, "NAME", "model from the zoo: mlp, cnn (default), resnet", .choices = models},
      {"dataset", AX_FLAG_STRING, &c.dataset, "NAME", "fashion-mnist (default) or mnist", .choices = datasets},
      {"data-dir", AX_FLAG_STRING, &c.data_dir, "DIR", "folder with the IDX files (default: Debian's package folder)",
       .rules = AX_RULE_IN_DIR},
      {"data-csv", AX_FLAG_STRING, &c.data_csv, "FILE", "train the feature MLP (--model mlp) on a CSV of numbers (docs/data.md)",
       .rules = AX_RULE_IN_FILE},
      {"data-npz", AX_FLAG_STRING, &c.data_npz, "FILE", "train the feature MLP on an .npz with arrays x, y (and x_test, y_test)",
       .rules = AX_RULE_IN_FILE},
      {"label-col", AX_FLAG_STRING, &c.label_col, "NAME", "--data-csv: the label column, by header name or 0-based index (default: the last)"},
      {"test-size", AX_FLAG_I64, &c.test_size, "N", "--data-csv/--data-npz: rows held out as the test set (default: a fifth)", 1, BIG},
      {"epochs", AX_FLAG_INT, &c.epochs, "N", "passes over the training set (default 10)", 1, 1e6},
      {"steps", AX_FLAG_I64, &c.max_steps, "N", "stop after N optimizer steps (default: all the epochs)", 1, 1e12},
      {"batch-size", AX_FLAG_INT, &c.batch_size, "B", "images per step (default 128)", 1, 65536},
      {"optimizer", AX_FLAG_STRING, &c.optimizer, "NAME", "sgd, adam, adamw (default), rmsprop", .choices = optimizers},
      {"lr", AX_FLAG_DOUBLE, &c.lr, "X", "peak learning rate (default: 3e-3 for adam/adamw with onecycle, 0.1 sgd)", 0,
       1e6, AX_RULE_MIN_OPEN},
      {"weight-decay", AX_FLAG_DOUBLE, &c.weight_decay, "W", "weight decay (default 1e-4 adamw, 5e-4 sgd, 0 others)", 0,
       100},
      {"momentum", AX_FLAG_DOUBLE, &c.momentum, "M", "SGD momentum in [0, 1) (Nesterov when > 0; default 0.9)", 0, 1, AX_RULE_MAX_OPEN},
      {"schedule", AX_FLAG_STRING, &c.schedule, "NAME", "none, step, exponential, cosine, onecycle (default)",
       .choices = schedules},
      {"warmup-steps", AX_FLAG_INT, &c.warmup_steps, "N", "linear warm-up before the schedule (default 0)", 0, BIG},
      {"clip-norm", AX_FLAG_DOUBLE, &c.clip_norm, "X", "clip the global gradient norm to X (default 0: off)", 0, 1e12},
      {"device", AX_FLAG_STRING, &o.device, "DEV", "cpu, cuda or cuda:N (default: cuda when there is a GPU)"},
      {"seed", AX_FLAG_U64, &c.seed, "S", "seed of initialization, shuffling, augmentation, dropout (default 0)",
       .rules = AX_RULE_ANY},
      {"threads", AX_FLAG_INT, &c.threads, "N", "CPU threads (default: OMP_NUM_THREADS or all cores)", 1, 4096},
      {"val-size", AX_FLAG_INT, &c.val_size, "N", "hold N training images out for validation (default 0)", 0, BIG},
      {"augment", AX_FLAG_BOOL, &o.aug_on, NULL, "random crop (pad 2) and horizontal flip (default: resnet only)"},
      {"no-augment", AX_FLAG_BOOL, &o.aug_off, NULL, "turn augmentation off"},
      {"limit-train", AX_FLAG_I64, &c.limit_train, "N", "use only the first N training images", 1, BIG},
      {"limit-test", AX_FLAG_I64, &c.limit_test, "N", "use only the first N test images", 1, BIG},
      {"norm-stats", AX_FLAG_STRING, &o.norm_stats, "WHICH",
       "normalize with the mean/std of the full training set (default) or of the subset trained on", .choices = norm_stats},
      {"early-stop", AX_FLAG_INT, &c.early_stop, "P",
       "stop when the validation loss has not improved for P epochs (needs --val-size; 0: off)", 0, 1e6},
      {"metrics", AX_FLAG_STRING, &c.metrics_path, "FILE", "append one JSON object per epoch to FILE",
       .rules = AX_RULE_OUT_FILE},
      {"log-every", AX_FLAG_INT, &c.log_every, "N", "a line every N steps on screen and in --metrics (default: epochs only)", 1,
       BIG},
      {"checkpoint", AX_FLAG_STRING, &c.checkpoint_dir, "DIR", "write DIR/checkpoint.safetensors after every epoch",
       .rules = AX_RULE_OUT_DIR},
      {"checkpoint-every", AX_FLAG_INT, &c.checkpoint_every, "N", "also checkpoint every N steps (0: epoch ends only)", 0,
       BIG},
      {"resume", AX_FLAG_BOOL, &c.resume, NULL, "continue from DIR/checkpoint.safetensors when it exists"},
      {"overwrite", AX_FLAG_BOOL, &o.overwrite, NULL, "start over, replacing a checkpoint an earlier run left in DIR"},
      {"save", AX_FLAG_STRING, &o.save, "FILE", "final weights (default: MODEL.safetensors)", .rules = AX_RULE_OUT_FILE},
      {"no-save", AX_FLAG_BOOL, &o.no_save, NULL, "do not write the final weights"},
      {"no-prefetch", AX_FLAG_BOOL, &o.no_prefetch, NULL, "prepare batches on the training thread"},
      {"plain", AX_FLAG_BOOL, &o.plain, NULL, "plain progress lines even on a terminal"},
      {"allow-nonfinite", AX_FLAG_BOOL, &c.allow_nonfinite, NULL,
       "debugging: keep training when the loss becomes inf or NaN (default: stop with an error)"},
      {"bucket-mb", AX_FLAG_DOUBLE, &c.bucket_mb, "MB", "gradient bucket size of data-parallel runs (mpirun/srun; default 25)",
       0, 65536, AX_RULE_MIN_OPEN},
      {"sync-bn", AX_FLAG_BOOL, &c.sync_bn, NULL, "data-parallel runs: batch-norm statistics over the global batch (SyncBatchNorm)"},
      {"zero", AX_FLAG_BOOL, &c.zero, NULL, "data-parallel runs: shard the optimizer state across ranks (ZeRO-1)"},
      {"ddp", AX_FLAG_BOOL, &c.force_ddp, NULL, "run through DDP even with one process (on a GPU: NCCL at world size 1)"},
      {"dist-timeout", AX_FLAG_DOUBLE, &o.dist_timeout, "SECONDS",
       "data-parallel runs: end the job when a peer rank has not answered for this long (default 60; AXON_DIST_TIMEOUT)",
       0, 86400, AX_RULE_MIN_OPEN},
      {"label-smoothing", AX_FLAG_DOUBLE, &c.label_smoothing, "S",
       "gan: the discriminator's real labels are 1 - S (one-sided label smoothing; default 0)", 0, 0.5},
      {"samples-every", AX_FLAG_INT, &c.samples_every, "N", "autoencoder, vae, gan: write a PNG grid every N epochs", 0, BIG},
      {"samples-dir", AX_FLAG_STRING, &c.samples_dir, "DIR", "where --samples-every writes MODEL-epochN.png (default .)",
       .rules = AX_RULE_OUT_DIR},
      {"judge", AX_FLAG_STRING, &c.judge_path, "FILE",
       "vae, gan: a trained classifier (cnn.safetensors) scores 10,000 samples per epoch", .rules = AX_RULE_IN_FILE},
      {"score-samples", AX_FLAG_I64, &c.score_samples, "N", "samples the --judge reads (default 10000)", 1, BIG},
      {"stop-after-steps", AX_FLAG_I64, &c.stop_after_steps, "N", "checkpoint and stop after N steps (testing resume)", 1,
       1e12},
      {"init", AX_FLAG_STRING, &c.init_path, "FILE", "start from these weights (e.g. axon prune's output)",
       .rules = AX_RULE_IN_FILE},
      {"keep-sparsity", AX_FLAG_BOOL, &c.keep_sparsity, NULL, "the zero weights of --init stay zero (pruned fine-tuning)"},
      {"teacher", AX_FLAG_STRING, &c.teacher_path, "FILE", "distill from this trained model's weights",
       .rules = AX_RULE_IN_FILE},
      {"teacher-model", AX_FLAG_STRING, &c.teacher_model, "NAME", "the teacher's model (default: named in its file)",
       .choices = models},
      {"distill-alpha", AX_FLAG_DOUBLE, &c.distill_alpha, "A", "weight of the distillation term (default 0.5)", 0, 1},
      {"temperature", AX_FLAG_DOUBLE, &c.temperature, "T", "distillation temperature (default 4)", 0, 1000,
       AX_RULE_MIN_OPEN},
      {"cv", AX_FLAG_INT, &c.cv, "K", "stratified K-fold cross-validation on the training set (test set unused)", 0,
       BIG},
  };
  int r = ax_cli_parse("train", train_usage,
                       "Trains an image classifier from the model zoo and reports the test accuracy after each epoch.",
                       flags, (int)(sizeof flags / sizeof *flags), argc, argv);
  if (r != 0) return r > 0 ? 0 : AX_EXIT_USAGE;
  if ((r = train_finish_flags(&c, &o)) != 0 || (r = ax_cli_compress_flags(&c, o.save != NULL)) != 0) return r;
  char err[1024];
  if (ax_train(&c, NULL, err, sizeof err) != 0) return ax_cli_fail("train", AX_EXIT_RUNTIME, "%s", err);
  return 0;
}

static const char *eval_usage =
    "usage: axon eval --weights FILE [--model mlp|cnn|resnet|gpt] [--dataset fashion-mnist|mnist] [--data-dir DIR]\n"
    "                 [--device cpu|cuda] [--batch-size B] [--limit-test N] [--text FILE] [--n-layer N] ...\n"
    "                 [--confusion-png FILE] [--metrics-json FILE]";
static const char *const eval_models[] = {"mlp", "cnn", "resnet", "gpt", NULL};

/* --model gpt: the flags that apply, then the validation loss (tools/eval_lm.c). */
static int eval_gpt(ax_eval_config *c) {
  static const char *const image_only[] = {"dataset", "data-dir", "limit-test", "data-csv", "data-npz", "label-col", NULL};
  for (int i = 0; image_only[i]; i++)
    if (ax_cli_given(image_only[i]))
      return ax_cli_fail("eval", AX_EXIT_USAGE, "--%s applies to the image classifiers, not --model gpt (--text FILE "
                                                "names the corpus)", image_only[i]);
  char err[1024];
  if (ax_eval_lm(c, err, sizeof err) != 0) return ax_cli_fail("eval", AX_EXIT_RUNTIME, "%s", err);
  return 0;
}

int ax_cmd_eval(int argc, char **argv) {
  ax_eval_config c = {.dataset = "fashion-mnist", .batch_size = 500};
  c.device = ax_default_device();
  const char *device = NULL;
  ax_flag flags[] = {
      {"weights", AX_FLAG_STRING, &c.weights, "FILE", "safetensors weights written by axon train (required)",
       .rules = AX_RULE_IN_FILE},
      {"model", AX_FLAG_STRING, &c.model, "NAME", "the model the weights belong to (default: the one named in the file; "
       "gpt: validation loss and perplexity)", .choices = eval_models},
      {"dataset", AX_FLAG_STRING, &c.dataset, "NAME", "fashion-mnist (default) or mnist", .choices = datasets},
      {"data-dir", AX_FLAG_STRING, &c.data_dir, "DIR", "folder with the IDX files", .rules = AX_RULE_IN_DIR},
      {"device", AX_FLAG_STRING, &device, "DEV", "cpu, cuda or cuda:N"},
      {"batch-size", AX_FLAG_INT, &c.batch_size, "B", "images per forward pass (default 500)", 1, 65536},
      {"limit-test", AX_FLAG_I64, &c.limit_test, "N", "use only the first N test images", 1, BIG},
      {"confusion-png", AX_FLAG_STRING, &c.confusion_png, "FILE", "also draw the confusion matrix as a heatmap into FILE",
       .rules = AX_RULE_OUT_FILE},
      {"data-csv", AX_FLAG_STRING, &c.data_csv, "FILE", "weights of axon train --data-csv: the CSV (default: the one they name)",
       .rules = AX_RULE_IN_FILE},
      {"data-npz", AX_FLAG_STRING, &c.data_npz, "FILE", "weights of axon train --data-npz: the archive (default: the one they name)",
       .rules = AX_RULE_IN_FILE},
      {"label-col", AX_FLAG_STRING, &c.label_col, "NAME", "--data-csv: the label column (default: the one training used)"},
      {"text", AX_FLAG_STRING, &c.data_path, "FILE", "--model gpt: the corpus (default: fortunes, as axon train)",
       .rules = AX_RULE_IN_FILE},
      {"n-layer", AX_FLAG_I64, &c.gpt_n_layer, "N", "--model gpt: must be the file's (a check)", 1, 1024},
      {"n-head", AX_FLAG_I64, &c.gpt_n_head, "N", "--model gpt: must be the file's (a check)", 1, 65536},
      {"n-embd", AX_FLAG_I64, &c.gpt_n_embd, "N", "--model gpt: must be the file's (a check)", 1, 65536},
      {"block-size", AX_FLAG_I64, &c.gpt_block_size, "N", "--model gpt: must be the file's (a check)", 1, 1048576},
      {"metrics-json", AX_FLAG_STRING, &c.metrics_json, "FILE", "write every metric as one JSON object (docs/metrics.md)",
       .rules = AX_RULE_OUT_FILE},
  };
  int r = ax_cli_parse("eval", eval_usage,
                       "Evaluates trained weights on the test set: accuracy, per-class precision/recall/F1 and the "
                       "confusion matrix.",
                       flags, (int)(sizeof flags / sizeof *flags), argc, argv);
  if (r != 0) return r > 0 ? 0 : AX_EXIT_USAGE;
  if (!c.weights) return ax_cli_fail("eval", AX_EXIT_USAGE, "--weights FILE is required (try 'axon eval --help')");
  if (ax_cli_device("eval", device, &c.device)) return AX_EXIT_USAGE;
#if !defined(AXON_HAVE_PLOT)
  if (c.confusion_png)
    return ax_cli_fail("eval", AX_EXIT_USAGE, "--confusion-png: this axon was built without Cairo (libaxon_plot)");
#endif
  if (c.model && !strcmp(c.model, "gpt")) return eval_gpt(&c);
  if (c.data_csv && c.data_npz) return ax_cli_fail("eval", AX_EXIT_USAGE, "--data-csv and --data-npz contradict each other");
  if (c.label_col && !c.data_csv) return ax_cli_fail("eval", AX_EXIT_USAGE, "--label-col applies to --data-csv only");
  static const char *const gpt_only[] = {"text", "n-layer", "n-head", "n-embd", "block-size", NULL};
  for (int i = 0; gpt_only[i]; i++)
    if (ax_cli_given(gpt_only[i])) return ax_cli_fail("eval", AX_EXIT_USAGE, "--%s applies to --model gpt only", gpt_only[i]);
  char err[1024];
  if (ax_eval(&c, NULL, err, sizeof err) != 0) return ax_cli_fail("eval", AX_EXIT_RUNTIME, "%s", err);
  return 0;
}
