/* `axon train` and `axon eval`: flags -> tools/trainer.c. */
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/trainer.h"

static int parse_device(const char *cmd, const char *s, ax_device *d) {
  if (!s) return 0;
  if (!strcmp(s, "cpu")) {
    *d = AX_CPU;
    return 0;
  }
  int idx = 0;
  if (!strcmp(s, "cuda") || sscanf(s, "cuda:%d", &idx) == 1) {
    int n = ax_cuda_device_count();
    if (!ax_has_cuda()) {
      fprintf(stderr, "axon %s: --device %s: this build has no CUDA backend (rebuild with -DAXON_CUDA=ON)\n", cmd, s);
      return -1;
    }
    if (idx < 0 || idx >= n) {
      fprintf(stderr, "axon %s: --device %s: %d CUDA device%s found\n", cmd, s, n, n == 1 ? "" : "s");
      return -1;
    }
    *d = AX_CUDA(idx);
    return 0;
  }
  fprintf(stderr, "axon %s: bad --device '%s' (cpu, cuda or cuda:N)\n", cmd, s);
  return -1;
}

/* A flag whose value must be one of a list: like any bad flag, exit 2 with the usage line. */
static int check_choice(const char *cmd, const char *usage, const char *flag, const char *value, const char *const *choices) {
  for (int i = 0; choices[i]; i++)
    if (!strcmp(value, choices[i])) return 0;
  fprintf(stderr, "axon %s: bad value '%s' for option '--%s' (choose from:", cmd, value, flag);
  for (int i = 0; choices[i]; i++) fprintf(stderr, "%s %s", i ? "," : "", choices[i]);
  fprintf(stderr, ")\n%s\n", usage);
  return -1;
}

static const char *const models[] = {"mlp", "cnn", "resnet", NULL};
static const char *const datasets[] = {"fashion-mnist", "mnist", NULL};

static const char *train_usage =
    "usage: axon train [--model mlp|cnn|resnet] (gpt, char-lstm: see axon train --model gpt --help)\n"
    "                  [--dataset fashion-mnist|mnist] [--data-dir DIR] [--epochs N]\n"
    "                  [--batch-size B] [--optimizer sgd|adam|adamw|rmsprop] [--lr X] [--weight-decay W]\n"
    "                  [--schedule none|step|exponential|cosine|onecycle] [--device cpu|cuda] [--seed S]\n"
    "                  [--metrics FILE] [--checkpoint DIR] [--resume] [--early-stop PATIENCE] [--save FILE]\n"
    "                  [--bucket-mb MB] [--sync-bn] [--zero] ...";

int ax_cmd_train(int argc, char **argv) {
  if (ax_train_is_lm(argc, argv)) return ax_cmd_train_lm(argc, argv); /* language models: tools/train_lm_cmd.c */
  ax_train_config c;
  ax_train_config_defaults(&c);
  const char *device = NULL;
  char save_default[256];
  const char *save = NULL;
  bool no_save = false, no_prefetch = false, plain = false;
  int augment = -1;
  bool aug_on = false, aug_off = false;
  ax_flag flags[] = {
      {"model", AX_FLAG_STRING, &c.model, "NAME", "model from the zoo: mlp, cnn (default), resnet"},
      {"dataset", AX_FLAG_STRING, &c.dataset, "NAME", "fashion-mnist (default) or mnist"},
      {"data-dir", AX_FLAG_STRING, &c.data_dir, "DIR", "folder with the IDX files (default: Debian's package folder)"},
      {"epochs", AX_FLAG_INT, &c.epochs, "N", "passes over the training set (default 10)"},
      {"batch-size", AX_FLAG_INT, &c.batch_size, "B", "images per step (default 128)"},
      {"optimizer", AX_FLAG_STRING, &c.optimizer, "NAME", "sgd, adam, adamw (default), rmsprop"},
      {"lr", AX_FLAG_DOUBLE, &c.lr, "X", "peak learning rate (default: 3e-3 for adam/adamw with onecycle, 0.1 sgd)"},
      {"weight-decay", AX_FLAG_DOUBLE, &c.weight_decay, "W", "weight decay (default 1e-4 adamw, 5e-4 sgd, 0 others)"},
      {"momentum", AX_FLAG_DOUBLE, &c.momentum, "M", "SGD momentum (Nesterov when > 0; default 0.9)"},
      {"schedule", AX_FLAG_STRING, &c.schedule, "NAME", "none, step, exponential, cosine, onecycle (default)"},
      {"warmup-steps", AX_FLAG_INT, &c.warmup_steps, "N", "linear warm-up before the schedule (default 0)"},
      {"clip-norm", AX_FLAG_DOUBLE, &c.clip_norm, "X", "clip the global gradient norm to X (default off)"},
      {"device", AX_FLAG_STRING, &device, "DEV", "cpu, cuda or cuda:N (default: cuda when there is a GPU)"},
      {"seed", AX_FLAG_U64, &c.seed, "S", "seed of initialization, shuffling, augmentation, dropout (default 0)"},
      {"threads", AX_FLAG_INT, &c.threads, "N", "CPU threads (default: OMP_NUM_THREADS or all cores)"},
      {"val-size", AX_FLAG_INT, &c.val_size, "N", "hold N training images out for validation (default 0)"},
      {"augment", AX_FLAG_BOOL, &aug_on, NULL, "random crop (pad 2) and horizontal flip (default: resnet only)"},
      {"no-augment", AX_FLAG_BOOL, &aug_off, NULL, "turn augmentation off"},
      {"limit-train", AX_FLAG_I64, &c.limit_train, "N", "use only the first N training images"},
      {"limit-test", AX_FLAG_I64, &c.limit_test, "N", "use only the first N test images"},
      {"early-stop", AX_FLAG_INT, &c.early_stop, "P", "stop when the validation (or test) loss has not improved for P epochs"},
      {"metrics", AX_FLAG_STRING, &c.metrics_path, "FILE", "append one JSON object per epoch to FILE"},
      {"checkpoint", AX_FLAG_STRING, &c.checkpoint_dir, "DIR", "write DIR/checkpoint.safetensors after every epoch"},
      {"checkpoint-every", AX_FLAG_INT, &c.checkpoint_every, "N", "also checkpoint every N steps"},
      {"resume", AX_FLAG_BOOL, &c.resume, NULL, "continue from DIR/checkpoint.safetensors when it exists"},
      {"save", AX_FLAG_STRING, &save, "FILE", "final weights (default: MODEL.safetensors)"},
      {"no-save", AX_FLAG_BOOL, &no_save, NULL, "do not write the final weights"},
      {"no-prefetch", AX_FLAG_BOOL, &no_prefetch, NULL, "prepare batches on the training thread"},
      {"plain", AX_FLAG_BOOL, &plain, NULL, "plain progress lines even on a terminal"},
      {"bucket-mb", AX_FLAG_DOUBLE, &c.bucket_mb, "MB", "gradient bucket size of data-parallel runs (mpirun/srun; default 25)"},
      {"sync-bn", AX_FLAG_BOOL, &c.sync_bn, NULL, "data-parallel runs: batch-norm statistics over the global batch (SyncBatchNorm)"},
      {"zero", AX_FLAG_BOOL, &c.zero, NULL, "data-parallel runs: shard the optimizer state across ranks (ZeRO-1)"},
      {"ddp", AX_FLAG_BOOL, &c.force_ddp, NULL, "run through DDP even with one process (on a GPU: NCCL at world size 1)"},
      {"stop-after-steps", AX_FLAG_I64, &c.stop_after_steps, "N", "checkpoint and stop after N steps (testing resume)"},
  };
  int r = ax_cli_parse("train", train_usage,
                       "Trains an image classifier from the model zoo and reports the test accuracy after each epoch.",
                       flags, (int)(sizeof flags / sizeof *flags), argc, argv);
  if (r != 0) return r > 0 ? 0 : AX_EXIT_USAGE;
  static const char *const optimizers[] = {"sgd", "adam", "adamw", "rmsprop", NULL};
  static const char *const schedules[] = {"none", "step", "exponential", "cosine", "onecycle", NULL};
  if (check_choice("train", train_usage, "model", c.model, models) ||
      check_choice("train", train_usage, "dataset", c.dataset, datasets) ||
      check_choice("train", train_usage, "optimizer", c.optimizer, optimizers) ||
      check_choice("train", train_usage, "schedule", c.schedule, schedules) ||
      parse_device("train", device, &c.device))
    return AX_EXIT_USAGE;
  if (c.epochs < 1 || c.batch_size < 1) {
    fprintf(stderr, "axon train: --epochs and --batch-size must be at least 1\n%s\n", train_usage);
    return AX_EXIT_USAGE;
  }
  if (aug_on) augment = 1;
  if (aug_off) augment = 0;
  c.augment = augment;
  c.prefetch = !no_prefetch;
  if (plain) c.progress = 0;
  if (!no_save) {
    snprintf(save_default, sizeof save_default, "%s.safetensors", c.model);
    c.save_path = save ? save : save_default;
  }
  char err[1024];
  if (ax_train(&c, NULL, err, sizeof err) != 0) {
    fprintf(stderr, "axon train: %s\n", err);
    return 1;
  }
  return 0;
}

static const char *eval_usage =
    "usage: axon eval --weights FILE [--model mlp|cnn|resnet] [--dataset fashion-mnist|mnist] [--data-dir DIR]\n"
    "                 [--device cpu|cuda] [--batch-size B]";

int ax_cmd_eval(int argc, char **argv) {
  ax_eval_config c = {.dataset = "fashion-mnist", .batch_size = 500};
  c.device = ax_default_device();
  const char *device = NULL;
  ax_flag flags[] = {
      {"weights", AX_FLAG_STRING, &c.weights, "FILE", "safetensors weights written by axon train (required)"},
      {"model", AX_FLAG_STRING, &c.model, "NAME", "the model the weights belong to (default: the one named in the file)"},
      {"dataset", AX_FLAG_STRING, &c.dataset, "NAME", "fashion-mnist (default) or mnist"},
      {"data-dir", AX_FLAG_STRING, &c.data_dir, "DIR", "folder with the IDX files"},
      {"device", AX_FLAG_STRING, &device, "DEV", "cpu, cuda or cuda:N"},
      {"batch-size", AX_FLAG_INT, &c.batch_size, "B", "images per forward pass (default 500)"},
      {"limit-test", AX_FLAG_I64, &c.limit_test, "N", "use only the first N test images"},
  };
  int r = ax_cli_parse("eval", eval_usage,
                       "Evaluates trained weights on the test set: accuracy, per-class precision/recall/F1 and the "
                       "confusion matrix.",
                       flags, (int)(sizeof flags / sizeof *flags), argc, argv);
  if (r != 0) return r > 0 ? 0 : AX_EXIT_USAGE;
  if (!c.weights) {
    fprintf(stderr, "axon eval: --weights FILE is required\n%s\n", eval_usage);
    return AX_EXIT_USAGE;
  }
  if ((c.model && check_choice("eval", eval_usage, "model", c.model, models)) ||
      check_choice("eval", eval_usage, "dataset", c.dataset, datasets) || parse_device("eval", device, &c.device))
    return AX_EXIT_USAGE;
  char err[1024];
  if (ax_eval(&c, NULL, err, sizeof err) != 0) {
    fprintf(stderr, "axon eval: %s\n", err);
    return 1;
  }
  return 0;
}
