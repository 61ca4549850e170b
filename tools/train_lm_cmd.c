/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon train --model gpt|char-lstm` and `axon generate`: flags -> tools/train_lm.c. */
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/train_lm.h"

static const char *lm_usage =
    "usage: axon train --model gpt|char-lstm [--dataset text[:PATH]] [--n-layer N] [--n-head N] [--n-embd N]\n"
    "                  [--block-size T] [--steps N] [--batch-size B] [--grad-accum K] [--precision fp32|bf16|fp16]\n"
    "                  [--eval-every N] [--lr X] [--device cpu|cuda] [--metrics FILE] [--save FILE] [--zero] ...";

bool ax_train_is_lm(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    const char *v = NULL;
    if (!strcmp(argv[i], "--model") && i + 1 < argc) v = argv[i + 1];
    else if (!strncmp(argv[i], "--model=", 8)) v = argv[i] + 8;
    if (v && (!strcmp(v, "gpt") || !strcmp(v, "char-lstm"))) return true;
  }
  return false;
}

static const char *const lm_models[] = {"gpt", "char-lstm", NULL};
static const char *const precisions[] = {"fp32", "bf16", "fp16", NULL};
static const char *const lm_schedules[] = {"cosine", "none", NULL};

#define BIG 1e9

/* Training memory of the model, roughly: fp32 weights, gradients and two AdamW moments,
 * plus the activations of one micro-batch. Only an order of magnitude: it catches sizes
 * that cannot fit (--n-embd 65536 --n-layer 1000), not tight ones. */
static double lm_train_bytes(const ax_lm_config *c, int64_t vocab) {
  double B = c->batch_size, T = (double)c->gpt.block_size, params, act;
  if (!strcmp(c->model, "gpt")) {
    double E = (double)c->gpt.n_embd, L = (double)c->gpt.n_layer, H = (double)c->gpt.n_head, V = (double)vocab;
    params = V * E + T * E + L * (12 * E * E + 13 * E) + 2 * E;
    act = 4 * B * T * (L * (34 * E + 5 * H * T) + 2 * V);
  } else {
    double E = (double)c->lstm_embed, Hd = (double)c->lstm_hidden, L = c->lstm_layers;
    params = 256 * E + 4 * Hd * (E + Hd + 2) + (L - 1) * 4 * Hd * (2 * Hd + 2) + 256 * Hd + 256;
    act = 4 * B * T * (L * 12 * Hd + E + 512);
  }
  return 16 * params + act;
}

/* The flags that do not map onto a field of ax_lm_config. */
typedef struct lm_cli {
  const char *dataset, *device, *save;
  bool no_save, overwrite;
  double dist_timeout;
  int64_t n_layer, n_head, n_embd, block, steps;
  char save_default[64];
} lm_cli;

/* The dataset, the flags that apply to one model only, and the checks between flags. 0, or an exit code. */
static int lm_check_flags(ax_lm_config *c, lm_cli *o) {
  const char *cmd = "train", *dataset = o->dataset;
  if (strncmp(dataset, "text", 4) || (dataset[4] && dataset[4] != ':'))
    return ax_cli_fail(cmd, AX_EXIT_USAGE, "bad value '%s' for option '--dataset' (text or text:PATH)", dataset);
  c->data_path = dataset[4] == ':' && dataset[5] ? dataset + 5 : NULL;
  if (c->data_path && ax_cli_check_in_path(cmd, "dataset", c->data_path, AX_RULE_IN_PATH)) return AX_EXIT_USAGE;
  bool gpt = !strcmp(c->model, "gpt");
  if (gpt && o->n_embd % o->n_head)
    return ax_cli_fail(cmd, AX_EXIT_USAGE, "--n-embd %lld is not a multiple of --n-head %lld", (long long)o->n_embd,
                       (long long)o->n_head);
  static const char *const gpt_only[] = {"n-layer", "n-head", "n-embd", "vocab-size", "sample", NULL};
  static const char *const lstm_only[] = {"lstm-embed", "lstm-hidden", "lstm-layers", NULL};
  for (const char *const *f = gpt ? lstm_only : gpt_only; *f; f++)
    if (ax_cli_given(*f))
      return ax_cli_fail(cmd, AX_EXIT_USAGE, "--%s does not apply to --model %s", *f, c->model);
  if (o->save && o->no_save) return ax_cli_fail(cmd, AX_EXIT_USAGE, "--save and --no-save contradict each other");
  if (c->checkpoint_every > 0 && !c->checkpoint_dir)
    return ax_cli_fail(cmd, AX_EXIT_USAGE, "--checkpoint-every needs --checkpoint DIR");
  if (c->stop_after_steps > 0 && !c->checkpoint_dir)
    return ax_cli_fail(cmd, AX_EXIT_USAGE, "--stop-after-steps needs --checkpoint DIR (it checkpoints and stops)");
  if (c->zero && !strcmp(c->precision, "fp16"))
    return ax_cli_fail(cmd, AX_EXIT_USAGE, "--zero does not support --precision fp16 (use bf16, which needs no loss "
                                           "scaler)");
  if (ax_cli_device(cmd, o->device, &c->device)) return AX_EXIT_USAGE;
  return 0;
}

/* The sizes into c, checked against the machine's memory, and the output paths. 0, or an exit code. */
static int lm_finish_flags(ax_lm_config *c, lm_cli *o) {
  const char *cmd = "train";
  c->steps = o->steps;
  c->gpt.n_layer = o->n_layer;
  c->gpt.n_head = o->n_head;
  c->gpt.n_embd = o->n_embd;
  c->gpt.block_size = o->block;
  uint64_t mem = ax_cli_physical_memory();
  double need = lm_train_bytes(c, c->gpt.vocab_size > 0 ? c->gpt.vocab_size : 256);
  if (c->device.type == AX_DEVICE_CPU && mem > 0 && need > (double)mem)
    return ax_cli_fail(cmd, AX_EXIT_USAGE, "the model and batch need about %.1f GiB to train, more than this "
                                           "machine's %.1f GiB of memory (lower --n-layer, --n-embd, --block-size, "
                                           "--batch-size or the lstm sizes)", need / 1073741824.0,
                       (double)mem / 1073741824.0);
  snprintf(o->save_default, sizeof o->save_default, "%s.safetensors", c->model);
  c->save_path = o->no_save ? NULL : o->save ? o->save : o->save_default;
  if (ax_cli_check_outputs(cmd, c->save_path, c->metrics_path, c->checkpoint_dir, c->resume, o->overwrite,
                           o->dist_timeout))
    return AX_EXIT_USAGE;
  return 0;
}

int ax_cmd_train_lm(int argc, char **argv) {
  ax_lm_config c;
  ax_lm_config_defaults(&c);
  lm_cli o = {.dataset = "text", .dist_timeout = 60, .n_layer = c.gpt.n_layer, .n_head = c.gpt.n_head,
              .n_embd = c.gpt.n_embd, .block = c.gpt.block_size, .steps = c.steps};
  ax_flag flags[] = {
      {"model", AX_FLAG_STRING, &c.model, "NAME", "gpt (GPT-2 layout) or char-lstm", .choices = lm_models},
      {"dataset", AX_FLAG_STRING, &o.dataset, "text[:PATH]", "a text file or folder, or token shards (default: Debian's fortunes)"},
      {"n-layer", AX_FLAG_I64, &o.n_layer, "N", "transformer blocks (default 4)", 1, 1024},
      {"n-head", AX_FLAG_I64, &o.n_head, "N", "attention heads (default 4)", 1, 1024},
      {"n-embd", AX_FLAG_I64, &o.n_embd, "N", "width, a multiple of --n-head (default 256)", 1, 65536},
      {"block-size", AX_FLAG_I64, &o.block, "T", "context length in tokens (default 128)", 1, 1048576},
      {"dropout", AX_FLAG_DOUBLE, &c.gpt.dropout, "P", "dropout probability in [0, 1) (default 0)", 0, 1, AX_RULE_MAX_OPEN},
      {"vocab-size", AX_FLAG_I64, &c.gpt.vocab_size, "V", "model vocabulary (default: the data's, 256 for bytes); at least the data's", 1, 16777216},
      {"lstm-embed", AX_FLAG_I64, &c.lstm_embed, "N", "char-lstm: embedding width (default 64)", 1, 65536},
      {"lstm-hidden", AX_FLAG_I64, &c.lstm_hidden, "N", "char-lstm: hidden size (default 512)", 1, 65536},
      {"lstm-layers", AX_FLAG_INT, &c.lstm_layers, "N", "char-lstm: layers (default 2)", 1, 64},
      {"steps", AX_FLAG_I64, &o.steps, "N", "optimizer steps (default 2000)", 1, 1e12},
      {"time-limit", AX_FLAG_DOUBLE, &c.time_limit, "SECONDS", "stop after this much training time", 0, 1e9, AX_RULE_MIN_OPEN},
      {"batch-size", AX_FLAG_INT, &c.batch_size, "B", "sequences per micro-batch, over all ranks (default 32)", 1, 65536},
      {"grad-accum", AX_FLAG_INT, &c.grad_accum, "K", "micro-batches per optimizer step (default 1)", 1, 65536},
      {"precision", AX_FLAG_STRING, &c.precision, "P", "fp32 (default), bf16 or fp16 (autocast; fp32 master weights)", .choices = precisions},
      {"eval-every", AX_FLAG_INT, &c.eval_every, "N", "steps between validation passes (default 250; 0: only at the end)", 0, BIG},
      {"eval-batches", AX_FLAG_INT, &c.eval_batches, "N", "validation batches per pass (default 40; 0: all)", 0, BIG},
      {"log-every", AX_FLAG_INT, &c.log_every, "N", "steps between progress lines (default 10)", 1, BIG},
      {"lr", AX_FLAG_DOUBLE, &c.lr, "X", "peak learning rate (default 1e-3)", 0, 1e6, AX_RULE_MIN_OPEN},
      {"min-lr", AX_FLAG_DOUBLE, &c.min_lr, "X", "final learning rate of the cosine schedule (default 1e-4)", 0, 1e6},
      {"weight-decay", AX_FLAG_DOUBLE, &c.weight_decay, "W", "AdamW weight decay (default 0.1)", 0, 100},
      {"beta2", AX_FLAG_DOUBLE, &c.beta2, "B", "AdamW beta2 in [0, 1) (default 0.95)", 0, 1, AX_RULE_MAX_OPEN},
      {"clip-norm", AX_FLAG_DOUBLE, &c.clip_norm, "X", "clip the global gradient norm (default 1; 0: off)", 0, 1e12},
      {"warmup-steps", AX_FLAG_INT, &c.warmup_steps, "N", "linear warm-up steps (default 100)", 0, BIG},
      {"schedule", AX_FLAG_STRING, &c.schedule, "NAME", "cosine (default) or none", .choices = lm_schedules},
      {"device", AX_FLAG_STRING, &o.device, "DEV", "cpu, cuda or cuda:N (default: cuda when there is a GPU)"},
      {"seed", AX_FLAG_U64, &c.seed, "S", "seed of initialization and batches (default 0)", .rules = AX_RULE_ANY},
      {"threads", AX_FLAG_INT, &c.threads, "N", "CPU threads (default: OMP_NUM_THREADS or all cores)", 1, 4096},
      {"metrics", AX_FLAG_STRING, &c.metrics_path, "FILE", "append one JSON object per validation pass", .rules = AX_RULE_OUT_FILE},
      {"save", AX_FLAG_STRING, &o.save, "FILE", "final weights (default: MODEL.safetensors)", .rules = AX_RULE_OUT_FILE},
      {"no-save", AX_FLAG_BOOL, &o.no_save, NULL, "do not write the final weights"},
      {"sample", AX_FLAG_INT, &c.sample_tokens, "N", "print N generated bytes after training (gpt)", 0, 1e8},
      {"bucket-mb", AX_FLAG_DOUBLE, &c.bucket_mb, "MB", "data parallel: gradient bucket size (default 25)", 0, 65536, AX_RULE_MIN_OPEN},
      {"zero", AX_FLAG_BOOL, &c.zero, NULL, "data parallel: shard the AdamW state across ranks (ZeRO-1; not with fp16)"},
      {"ddp", AX_FLAG_BOOL, &c.force_ddp, NULL, "run through DDP even with one process (on a GPU: NCCL at world size 1)"},
      {"checkpoint", AX_FLAG_STRING, &c.checkpoint_dir, "DIR", "write DIR/checkpoint.safetensors at the end (and every --checkpoint-every steps)", .rules = AX_RULE_OUT_DIR},
      {"checkpoint-every", AX_FLAG_INT, &c.checkpoint_every, "N", "also checkpoint every N steps (0: only at the end)", 0, BIG},
      {"resume", AX_FLAG_BOOL, &c.resume, NULL, "continue from DIR/checkpoint.safetensors when it exists (any number of ranks)"},
      {"overwrite", AX_FLAG_BOOL, &o.overwrite, NULL, "start over, replacing a checkpoint an earlier run left in DIR"},
      {"allow-nonfinite", AX_FLAG_BOOL, &c.allow_nonfinite, NULL,
       "debugging: keep training when the loss becomes inf or NaN (default: stop with an error)"},
      {"dist-timeout", AX_FLAG_DOUBLE, &o.dist_timeout, "SECONDS",
       "data parallel: end the job when a peer rank has not answered for this long (default 60; AXON_DIST_TIMEOUT)",
       0, 86400, AX_RULE_MIN_OPEN},
      {"stop-after-steps", AX_FLAG_I64, &c.stop_after_steps, "N", "checkpoint and stop after N steps (testing resume)", 1, 1e12},
  };
  int r = ax_cli_parse("train", lm_usage,
                       "Trains a language model on text (bytes) or token shards and reports the validation loss.",
                       flags, (int)(sizeof flags / sizeof *flags), argc, argv);
  if (r != 0) return r > 0 ? 0 : AX_EXIT_USAGE;
  if ((r = lm_check_flags(&c, &o)) != 0 || (r = lm_finish_flags(&c, &o)) != 0) return r;
  char err[1024];
  if (ax_train_lm(&c, NULL, err, sizeof err)) return ax_cli_fail("train", AX_EXIT_RUNTIME, "%s", err);
  return 0;
}

static const char *gen_usage =
    "usage: axon generate --weights FILE [--prompt TEXT] [--tokens N] [--temperature T] [--top-k K] [--seed S]\n"
    "                     [--device cpu|cuda] [--no-cache]";

int ax_cmd_generate(int argc, char **argv) {
  ax_generate_config g = {.tokens = 500, .temperature = 0.8, .top_k = 40};
  g.device = ax_default_device();
  const char *device = NULL;
  int64_t tokens = g.tokens;
  ax_flag flags[] = {
      {"weights", AX_FLAG_STRING, &g.weights, "FILE", "GPT weights written by axon train (required)", .rules = AX_RULE_IN_FILE},
      {"prompt", AX_FLAG_STRING, &g.prompt, "TEXT", "text to continue (default: a newline)"},
      {"tokens", AX_FLAG_I64, &tokens, "N", "bytes to generate (default 500)", 0, 1e8},
      {"temperature", AX_FLAG_DOUBLE, &g.temperature, "T", "sampling temperature (default 0.8; 0: greedy)", 0, 1000},
      {"top-k", AX_FLAG_INT, &g.top_k, "K", "sample among the K most likely (default 40; 0: all)", 0, 16777216},
      {"seed", AX_FLAG_U64, &g.seed, "S", "sampling seed (default 0)", .rules = AX_RULE_ANY},
      {"device", AX_FLAG_STRING, &device, "DEV", "cpu, cuda or cuda:N"},
      {"no-cache", AX_FLAG_BOOL, &g.no_cache, NULL, "recompute the whole context for every token"},
  };
  int r = ax_cli_parse("generate", gen_usage,
                       "Streams text from a trained GPT, one byte at a time, with a KV cache.", flags,
                       (int)(sizeof flags / sizeof *flags), argc, argv);
  if (r != 0) return r > 0 ? 0 : AX_EXIT_USAGE;
  if (!g.weights) return ax_cli_fail("generate", AX_EXIT_USAGE, "--weights FILE is required (try 'axon generate --help')");
  if (ax_cli_device("generate", device, &g.device)) return AX_EXIT_USAGE;
  g.tokens = tokens;
  char err[1024];
  if (ax_generate(&g, err, sizeof err)) {
    fflush(stdout);
    return ax_cli_fail("generate", AX_EXIT_RUNTIME, "%s", err);
  }
  fputc('\n', stdout);
  return 0;
}
