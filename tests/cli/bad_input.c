/* SPDX-License-Identifier: BSD-3-Clause */
/* The `axon` command line against bad input (issue 14): well over 100 invocations
 * across every subcommand, each with a bad flag, a bad data folder or a bad weights
 * file crafted here. Each must end within its time limit (no hang), by exiting (no
 * signal, no core dump) with the right code (2: bad command line, 1: the run failed),
 * print exactly one line on stderr that names the problem, and leave no output file
 * behind (the working folder stays empty, named outputs do not appear). A few good
 * invocations around them check that the checks do not refuse sound runs.
 *
 *   cli_bad_input AXON_BINARY
 *
 * A plain C program (fork, exec, waitpid): no Python, no Criterion. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LIMIT_S 30 /* per invocation */

static char root[256], work[300], axon[1024];
static int failures, cases;

/* ---- fixtures ---- */

static void die(const char *what) {
  fprintf(stderr, "cli_bad_input: setup: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", root, name); }

static void write_file(const char *name, const void *data, size_t n) {
  char p[512];
  path_of(p, sizeof p, name);
  FILE *f = fopen(p, "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) die(p);
}

static void make_dir(const char *name) {
  char p[512];
  path_of(p, sizeof p, name);
  if (mkdir(p, 0755) && errno != EEXIST) die(p);
}

static void write_idx(const char *dir, const char *name, int ndim, const int *dims, const unsigned char *data, size_t n) {
  char rel[256];
  snprintf(rel, sizeof rel, "%s/%s", dir, name);
  size_t hn = 4 + 4 * (size_t)ndim;
  unsigned char *buf = malloc(hn + n);
  buf[0] = buf[1] = 0, buf[2] = 0x08, buf[3] = (unsigned char)ndim;
  for (int d = 0; d < ndim; d++)
    for (int b = 0; b < 4; b++) buf[4 + 4 * d + b] = (unsigned char)(dims[d] >> (24 - 8 * b));
  memcpy(buf + hn, data, n);
  write_file(rel, buf, hn + n);
  free(buf);
}

/* an MNIST-like folder: n_train / n_test images of side x side, labels i % 10 (label_bad replaces label 3) */
static void make_data(const char *dir, int side, int label_bad) {
  make_dir(dir);
  int n[2] = {64, 32};
  const char *split[2] = {"train", "t10k"};
  unsigned seed = 7;
  for (int s = 0; s < 2; s++) {
    size_t px = (size_t)n[s] * side * side;
    unsigned char *img = malloc(px), *lab = malloc((size_t)n[s]);
    for (size_t i = 0; i < px; i++) seed = seed * 1103515245u + 12345u, img[i] = (unsigned char)(seed >> 24);
    for (int i = 0; i < n[s]; i++) lab[i] = (unsigned char)(label_bad && i == 3 ? label_bad : i % 10);
    char name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", split[s]);
    write_idx(dir, name, 3, (int[]){n[s], side, side}, img, px);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split[s]);
    write_idx(dir, name, 1, (int[]){n[s]}, lab, (size_t)n[s]);
    free(img);
    free(lab);
  }
}

/* A safetensors file: metadata (key, value pairs) and f32 tensors filled with 0.01. */
typedef struct tensor_spec {
  const char *name;
  int ndim;
  int64_t shape[2];
} tensor_spec;

static void write_safetensors(const char *name, const char *const *meta, const tensor_spec *t, int nt) {
  char hdr[8192];
  size_t h = 0, off = 0;
  h += (size_t)snprintf(hdr + h, sizeof hdr - h, "{\"__metadata__\":{");
  for (int i = 0; meta && meta[i]; i += 2)
    h += (size_t)snprintf(hdr + h, sizeof hdr - h, "%s\"%s\":\"%s\"", i ? "," : "", meta[i], meta[i + 1]);
  h += (size_t)snprintf(hdr + h, sizeof hdr - h, "}");
  for (int i = 0; i < nt; i++) {
    int64_t n = 1;
    for (int d = 0; d < t[i].ndim; d++) n *= t[i].shape[d];
    h += (size_t)snprintf(hdr + h, sizeof hdr - h, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", t[i].name);
    for (int d = 0; d < t[i].ndim; d++) h += (size_t)snprintf(hdr + h, sizeof hdr - h, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
    h += (size_t)snprintf(hdr + h, sizeof hdr - h, "],\"data_offsets\":[%zu,%zu]}", off, off + 4 * (size_t)n);
    off += 4 * (size_t)n;
  }
  h += (size_t)snprintf(hdr + h, sizeof hdr - h, "}");
  while (h % 8) hdr[h++] = ' ';
  unsigned char *buf = calloc(1, 8 + h + off);
  for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)h >> (8 * b));
  memcpy(buf + 8, hdr, h);
  float v = 0.01f;
  for (size_t i = 0; i < off / 4; i++) memcpy(buf + 8 + h + 4 * i, &v, 4);
  write_file(name, buf, 8 + h + off);
  free(buf);
}

/* GPT metadata with the tensors of a 1-block model of width 8 (h.0.ln_1.weight stands for the block) */
static void write_gpt(const char *name, const char *n_layer, const char *n_head, const char *n_embd, const char *block,
                      int blocks_in_file) {
  const char *meta[] = {"gpt.n_layer", n_layer, "gpt.n_head", n_head, "gpt.n_embd", n_embd, "gpt.block_size", block,
                        "gpt.vocab_size", "256", "axon_model", "gpt", NULL};
  tensor_spec t[4] = {{"transformer.wte.weight", 2, {256, 8}}, {"transformer.wpe.weight", 2, {16, 8}},
                      {"transformer.h.0.ln_1.weight", 1, {8, 0}}, {"transformer.h.1.ln_1.weight", 1, {8, 0}}};
  write_safetensors(name, meta, t, 2 + blocks_in_file);
}

static void setup(void) {
  snprintf(root, sizeof root, "/tmp/axon_cli_bad_input_XXXXXX");
  if (!mkdtemp(root)) die("mkdtemp");
  snprintf(work, sizeof work, "%s/w", root);
  make_dir("w");
  make_dir("adir");
  make_dir("data_empty");
  make_data("data_ok", 28, 0);
  make_data("data_label", 28, 12);
  make_data("data_32", 32, 0);
  write_file("plainfile", "x", 1);
  write_file("empty.bin", "", 0);
  write_file("garbage.bin", "\xff\xff\xff\xff\xff\xff\xff\x7fnot a safetensors file", 29);
  make_dir("ckpt_exists");
  write_file("ckpt_exists/checkpoint.safetensors", "an earlier run", 14);
  make_dir("ckpt_isdir");
  make_dir("ckpt_isdir/checkpoint.safetensors");
  char text[6000];
  for (size_t i = 0; i < sizeof text; i++) text[i] = "the quick brown fox jumps over the lazy dog.\n"[i % 45];
  write_file("t.txt", text, sizeof text);
  write_file("empty.txt", "", 0);
  write_gpt("gpt_bad_head.safetensors", "1", "3", "8", "16", 1);
  write_gpt("gpt_huge_block.safetensors", "1", "2", "8", "100000000000", 1);
  write_gpt("gpt_huge_layers.safetensors", "100000000", "2", "8", "16", 1);
  write_gpt("gpt_mismatch.safetensors", "2", "2", "8", "16", 1);
  write_gpt("gpt_nan_meta.safetensors", "1", "two", "8", "16", 1);
  write_gpt("gpt_wrong_block.safetensors", "1", "2", "8", "4096", 1);
  const char *meta[] = {"axon_model", "mlp", NULL};
  tensor_spec t[1] = {{"foo", 2, {3, 3}}};
  write_safetensors("not_gpt.safetensors", meta, t, 1);
}

/* ---- running one invocation ---- */

typedef struct result {
  int exited, code, signal, timed_out;
  double seconds;
  char err[4096];
} result;

static void expand(const char *in, char *out, size_t n) {
  size_t o = 0;
  for (const char *p = in; *p && o + 1 < n; p++) {
    if (*p == '@') o += (size_t)snprintf(out + o, n - o, "%s", root);
    else out[o++] = *p;
    if (o >= n) o = n - 1;
  }
  out[o] = 0;
}

static result run(const char *args, const char *env) {
  result r = {0};
  char line[4096];
  expand(args, line, sizeof line);
  char *argv[128];
  int argc = 0;
  argv[argc++] = axon;
  for (char *tok = strtok(line, " "); tok && argc < 127; tok = strtok(NULL, " ")) argv[argc++] = tok;
  argv[argc] = NULL;
  char errpath[512];
  snprintf(errpath, sizeof errpath, "%s/stderr.txt", root);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    setpgid(0, 0);
    if (chdir(work)) _exit(127);
    int out = open("/dev/null", O_WRONLY), err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) _exit(127);
    dup2(out, 1), dup2(err, 2);
    setenv("OMP_NUM_THREADS", "1", 1);
    if (env) {
      char e[256];
      snprintf(e, sizeof e, "%s", env);
      char *eq = strchr(e, '=');
      if (eq) *eq = 0, setenv(e, eq + 1, 1);
    }
    execv(axon, argv);
    _exit(127);
  }
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if ((double)(t1.tv_sec - t0.tv_sec) > LIMIT_S) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.timed_out = 1;
      break;
    }
    struct timespec nap = {0, 5000000};
    nanosleep(&nap, NULL);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  r.seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  r.exited = WIFEXITED(status);
  r.code = r.exited ? WEXITSTATUS(status) : -1;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  FILE *f = fopen(errpath, "r");
  size_t n = f ? fread(r.err, 1, sizeof r.err - 1, f) : 0;
  r.err[n] = 0;
  if (f) fclose(f);
  unlink(errpath);
  return r;
}

static int lines_of(const char *s) {
  int n = 0;
  for (const char *p = s; *p; p++) n += *p == '\n';
  if (*s && s[strlen(s) - 1] != '\n') n++;
  return n;
}

/* names left in the working folder (which every invocation must leave empty) */
static int leftovers(char *names, size_t n) {
  DIR *d = opendir(work);
  int count = 0;
  names[0] = 0;
  for (struct dirent *e; d && (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    size_t l = strlen(names);
    snprintf(names + l, n - l, " %s", e->d_name);
    char p[600];
    snprintf(p, sizeof p, "%s/%s", work, e->d_name);
    if (unlink(p)) rmdir(p);
    count++;
  }
  if (d) closedir(d);
  return count;
}

/* code: the expected exit status; expect: a substring of the one stderr line (NULL for code 0:
 * stderr must stay empty); env: NAME=VALUE or NULL. */
static void check(int code, const char *expect, const char *args, const char *env) {
  cases++;
  result r = run(args, env);
  char why[512] = "", left[512];
  if (r.timed_out) snprintf(why, sizeof why, "no answer within %d s (a hang)", LIMIT_S);
  else if (r.signal) snprintf(why, sizeof why, "killed by signal %d (%s)", r.signal, strsignal(r.signal));
  else if (r.code != code) snprintf(why, sizeof why, "exit code %d, expected %d", r.code, code);
  else if (code != 0 && lines_of(r.err) != 1) snprintf(why, sizeof why, "%d lines on stderr, expected exactly one", lines_of(r.err));
  else if (code == 0 && r.err[0]) snprintf(why, sizeof why, "stderr is not empty");
  else if (expect && !strstr(r.err, expect)) snprintf(why, sizeof why, "stderr does not mention '%s'", expect);
  else if (code != 0 && strncmp(r.err, "axon", 4)) snprintf(why, sizeof why, "the message does not start with 'axon'");
  if (leftovers(left, sizeof left) && !why[0]) snprintf(why, sizeof why, "left files behind:%s", left);
  if (why[0]) {
    failures++;
    printf("FAIL  axon %s%s%s\n      %s\n      stderr: %s\n", env ? env : "", env ? " " : "", args, why,
           r.err[0] ? r.err : "(empty)\n");
  } else {
    char *nl = strchr(r.err, '\n');
    if (nl) *nl = 0;
    printf("ok    [%d, %.2fs] axon %s%s%s\n      %s\n", r.code, r.seconds, env ? env : "", env ? " " : "", args,
           r.err[0] ? r.err : "(no message)");
  }
  fflush(stdout);
}

/* a file that must not exist after the invocations that were told to write it */
static void absent(const char *rel) {
  char p[512];
  expand(rel, p, sizeof p);
  cases++;
  if (access(p, F_OK) == 0) {
    failures++;
    printf("FAIL  %s exists: a failed run left it behind\n", p);
  }
}

#define U(expect, args) check(2, expect, args, NULL)
#define R(expect, args) check(1, expect, args, NULL)
#define OK(args) check(0, NULL, args, NULL)

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: cli_bad_input AXON_BINARY\n");
    return 2;
  }
  if (!realpath(argv[1], axon)) die(argv[1]);
  setup();

  /* good runs first: they also make the weights the later cases need (written outside w/) */
  OK("train --model mlp --data-dir @/data_ok --epochs 1 --batch-size 128 --no-save --plain"); /* one step: onecycle */
  OK("train --model mlp --data-dir @/data_ok --epochs 1 --batch-size 32 --plain --save @/mlp_ok.safetensors");
  OK("train --model gpt --dataset text:@/t.txt --n-layer 1 --n-head 2 --n-embd 8 --block-size 16 --batch-size 4 "
     "--steps 2 --eval-every 0 --eval-batches 1 --save @/gpt_ok.safetensors");
  OK("generate --weights @/gpt_ok.safetensors --tokens 5");
  OK("eval --weights @/mlp_ok.safetensors --data-dir @/data_ok");
  OK("info");

  /* top level and info */
  U("unknown command 'frobnicate'", "frobnicate");
  U("unknown option '--wat'", "--wat");
  U("unknown option '--x'", "info --x");
  U("unknown option 'extra'", "info extra");

  /* train (image classifiers): numbers out of range, not numbers, not finite */
  U("'--lr'", "train --lr inf");
  U("'--lr'", "train --lr nan");
  U("(0, 1e+06]", "train --lr -1");
  U("(0, 1e+06]", "train --lr 0");
  U("'--lr'", "train --lr 1e300");
  U("'--lr'", "train --lr abc");
  U("'--epochs'", "train --epochs 0");
  U("'--epochs'", "train --epochs -3");
  U("'--epochs'", "train --epochs 1.5");
  U("'--epochs'", "train --epochs 99999999999");
  U("'--batch-size'", "train --batch-size 0");
  U("'--batch-size'", "train --model cnn --batch-size 100000");
  U("'--limit-train'", "train --limit-train -5");
  U("'--limit-train'", "train --limit-train 0");
  U("'--limit-test'", "train --model resnet --limit-test -1");
  U("'--val-size'", "train --val-size -1");
  U("'--weight-decay'", "train --weight-decay -0.1");
  U("'--weight-decay'", "train --weight-decay inf");
  U("'--momentum'", "train --optimizer sgd --momentum 1");
  U("--momentum applies to --optimizer sgd", "train --optimizer adamw --momentum 0.5");
  U("'--warmup-steps'", "train --warmup-steps -1");
  U("'--clip-norm'", "train --clip-norm -1");
  U("'--clip-norm'", "train --clip-norm nan");
  U("'--threads'", "train --threads 0");
  U("'--threads'", "train --threads 100000");
  U("'--seed'", "train --seed -1");
  U("'--seed'", "train --seed abc");
  U("'--early-stop'", "train --early-stop -1");
  U("'--checkpoint-every'", "train --checkpoint-every -1");
  U("--checkpoint-every needs --checkpoint", "train --checkpoint-every 5");
  U("'--bucket-mb'", "train --bucket-mb 0");
  U("'--dist-timeout'", "train --dist-timeout 0");
  U("'--dist-timeout'", "train --dist-timeout inf");
  U("'--dist-timeout'", "train --model resnet --dist-timeout -5");
  U("'--stop-after-steps'", "train --stop-after-steps 0");
  check(2, "AXON_DIST_TIMEOUT", "train --model mlp --data-dir @/data_ok --no-save", "AXON_DIST_TIMEOUT=soon");
  /* choices, paths, contradictions, syntax */
  U("'--model'", "train --model foo");
  U("'--dataset'", "train --dataset cifar");
  U("'--optimizer'", "train --optimizer lion");
  U("'--schedule'", "train --schedule linear");
  U("'--device'", "train --device tpu");
  U("'--device'", "train --device cuda:x");
  U("--data-dir", "train --data-dir @/nonexistent");
  U("is not a folder", "train --model cnn --data-dir @/plainfile");
  U("does not exist", "train --save @/nodir/x.safetensors");
  U("is a folder", "train --save @/adir");
  U("is not a folder", "train --model resnet --save @/plainfile/x.safetensors");
  U("does not exist", "train --metrics @/nodir/m.json");
  U("is a folder", "train --metrics @/adir");
  U("the path is empty", "train --metrics=");
  U("is a file, expected a folder", "train --checkpoint @/plainfile");
  U("cannot be created", "train --checkpoint @/nodir/sub");
  U("--overwrite", "train --model mlp --checkpoint @/ckpt_exists");
  U("is a folder", "train --checkpoint @/ckpt_isdir --overwrite");
  U("--resume needs --checkpoint", "train --resume");
  U("--overwrite needs --checkpoint", "train --overwrite");
  U("contradict", "train --checkpoint @/ckpt_exists --resume --overwrite");
  U("contradict", "train --augment --no-augment");
  U("contradict", "train --save @/w/x.safetensors --no-save");
  U("--stop-after-steps needs --checkpoint", "train --stop-after-steps 3");
  U("unknown option '--bogus'", "train --bogus");
  U("needs a value", "train --epochs");
  U("unexpected argument 'foo'", "train foo");
  U("'--resume'", "train --resume=maybe");

  /* train: the data against the model, divergence (exit 1, nothing written) */
  R("label 12", "train --model mlp --data-dir @/data_label --save @/w/m.safetensors");
  R("label 12", "train --model cnn --data-dir @/data_label --no-save");
  R("label 12", "train --model resnet --data-dir @/data_label --no-save");
  R("32x32", "train --model mlp --data-dir @/data_32 --save @/w/m.safetensors");
  R("32x32", "train --model cnn --data-dir @/data_32 --no-save");
  R("32x32", "train --model resnet --data-dir @/data_32 --no-save");
  R("data_empty", "train --model mlp --data-dir @/data_empty --no-save");
  R("--val-size", "train --model mlp --data-dir @/data_ok --val-size 64 --no-save");
  R("diverged", "train --model mlp --data-dir @/data_ok --optimizer sgd --lr 1e6 --epochs 10 --batch-size 16 "
               "--save @/w/m.safetensors --metrics @/w/m.json");
  R("diverged", "train --model cnn --data-dir @/data_ok --optimizer sgd --lr 1e6 --epochs 10 --batch-size 16 "
               "--save @/w/c.safetensors");

  /* train --model gpt | char-lstm */
  U("'--n-layer'", "train --model gpt --n-layer 1000000000");
  U("'--n-layer'", "train --model gpt --n-layer 0");
  U("'--n-head'", "train --model gpt --n-head 0");
  U("not a multiple of --n-head", "train --model gpt --n-embd 100 --n-head 3");
  U("'--block-size'", "train --model gpt --block-size 0");
  U("'--block-size'", "train --model gpt --block-size 100000000000");
  U("'--dropout'", "train --model gpt --dropout 2");
  U("'--dropout'", "train --model gpt --dropout -0.1");
  U("[0, 1)", "train --model gpt --dropout 1");
  U("'--vocab-size'", "train --model gpt --vocab-size 0");
  U("'--steps'", "train --model gpt --steps 0");
  U("'--steps'", "train --model gpt --steps -1");
  U("'--batch-size'", "train --model gpt --batch-size 0");
  U("'--grad-accum'", "train --model gpt --grad-accum 0");
  U("'--precision'", "train --model gpt --precision fp8");
  U("'--eval-every'", "train --model gpt --eval-every -1");
  U("'--log-every'", "train --model gpt --log-every 0");
  U("'--lr'", "train --model gpt --lr inf");
  U("'--min-lr'", "train --model gpt --min-lr -1");
  U("'--beta2'", "train --model gpt --beta2 1");
  U("'--weight-decay'", "train --model gpt --weight-decay nan");
  U("'--time-limit'", "train --model gpt --time-limit 0");
  U("'--schedule'", "train --model gpt --schedule onecycle");
  U("'--sample'", "train --model gpt --sample -1");
  U("nonexistent.txt", "train --model gpt --dataset text:@/nonexistent.txt");
  U("'--dataset'", "train --model gpt --dataset images");
  U("--lstm-layers does not apply", "train --model gpt --lstm-layers 2");
  U("'--lstm-layers'", "train --model char-lstm --lstm-layers 0");
  U("'--lstm-hidden'", "train --model char-lstm --lstm-hidden 0");
  U("'--lstm-embed'", "train --model char-lstm --lstm-embed 99999999");
  U("--n-layer does not apply", "train --model char-lstm --n-layer 2");
  U("GiB", "train --model gpt --n-embd 65536 --n-head 1024 --n-layer 1024");
  U("GiB", "train --model char-lstm --lstm-hidden 65536 --lstm-layers 64");
  U("--zero does not support --precision fp16", "train --model gpt --zero --precision fp16");
  U("does not exist", "train --model gpt --save @/nodir/g.safetensors");
  U("--overwrite", "train --model char-lstm --checkpoint @/ckpt_exists");
  U("is a folder", "train --model gpt --metrics @/adir");
  U("'--dist-timeout'", "train --model gpt --dist-timeout 0");
  U("'--threads'", "train --model char-lstm --threads -2");
  R("diverged", "train --model gpt --dataset text:@/t.txt --n-layer 1 --n-head 2 --n-embd 16 --block-size 16 "
               "--batch-size 4 --steps 30 --lr 1e6 --warmup-steps 0 --clip-norm 0 --save @/w/g.safetensors "
               "--checkpoint @/w/ck");
  R("diverged", "train --model char-lstm --dataset text:@/t.txt --lstm-hidden 16 --lstm-embed 8 --lstm-layers 1 "
               "--block-size 16 --batch-size 4 --steps 30 --lr 1e6 --warmup-steps 0 --clip-norm 0 "
               "--save @/w/l.safetensors");
  R("empty.txt", "train --model gpt --dataset text:@/empty.txt --no-save");
  R("--vocab-size 10 is smaller", "train --model gpt --dataset text:@/t.txt --vocab-size 10 --no-save");

  /* generate */
  U("--weights FILE is required", "generate");
  U("No such file", "generate --weights @/nofile.safetensors");
  U("is a folder", "generate --weights @/adir");
  U("'--tokens'", "generate --weights @/gpt_ok.safetensors --tokens 1000000000000");
  U("'--tokens'", "generate --weights @/gpt_ok.safetensors --tokens -1");
  U("'--temperature'", "generate --weights @/gpt_ok.safetensors --temperature -1");
  U("'--temperature'", "generate --weights @/gpt_ok.safetensors --temperature nan");
  U("'--top-k'", "generate --weights @/gpt_ok.safetensors --top-k -1");
  U("'--seed'", "generate --weights @/gpt_ok.safetensors --seed -5");
  U("'--device'", "generate --weights @/gpt_ok.safetensors --device tpu");
  U("unknown option", "generate --weights @/gpt_ok.safetensors --n-layer 2");
  R("not a multiple of n_head", "generate --weights @/gpt_bad_head.safetensors");
  R("block_size=100000000000", "generate --weights @/gpt_huge_block.safetensors");
  R("n_layer=100000000", "generate --weights @/gpt_huge_layers.safetensors");
  R("does not match", "generate --weights @/gpt_mismatch.safetensors");
  R("does not match", "generate --weights @/gpt_wrong_block.safetensors");
  R("not a whole number", "generate --weights @/gpt_nan_meta.safetensors");
  R("garbage.bin", "generate --weights @/garbage.bin");
  R("empty.bin", "generate --weights @/empty.bin");
  R("not a GPT weights file", "generate --weights @/not_gpt.safetensors");
  R("not a GPT weights file", "generate --weights @/mlp_ok.safetensors");
  R("block size", "generate --weights @/gpt_ok.safetensors --prompt "
                  "a-prompt-much-longer-than-the-sixteen-byte-block-of-this-model");

  /* eval */
  U("--weights FILE is required", "eval");
  U("No such file", "eval --weights @/nofile.safetensors");
  U("is a folder", "eval --weights @/adir");
  U("'--batch-size'", "eval --weights @/mlp_ok.safetensors --batch-size 0");
  U("'--limit-test'", "eval --weights @/mlp_ok.safetensors --limit-test -1");
  U("'--model'", "eval --weights @/mlp_ok.safetensors --model foo");
  U("'--dataset'", "eval --weights @/mlp_ok.safetensors --dataset cifar");
  U("--data-dir", "eval --weights @/mlp_ok.safetensors --data-dir @/nonexistent");
  U("'--device'", "eval --weights @/mlp_ok.safetensors --device gpu");
  R("holds a 'gpt' model", "eval --weights @/gpt_ok.safetensors --data-dir @/data_ok");
  R("mlp_ok", "eval --weights @/mlp_ok.safetensors --model cnn --data-dir @/data_ok");
  R("garbage.bin", "eval --weights @/garbage.bin --data-dir @/data_ok");
  R("label 12", "eval --weights @/mlp_ok.safetensors --data-dir @/data_label");
  R("32x32", "eval --weights @/mlp_ok.safetensors --data-dir @/data_32");
  R("data_empty", "eval --weights @/mlp_ok.safetensors --data-dir @/data_empty");

  /* bench */
  U("'--device'", "bench --device tpu");
  U("unknown op or group 'nosuchop'", "bench nosuchop");
  U("does not exist", "bench --json @/nodir/b.json");
  U("is a folder", "bench --json @/adir");
  U("unknown option '--bogus'", "bench --bogus");

  /* the checkpoint an earlier run left is untouched by the refusals above */
  cases++;
  char p[512];
  path_of(p, sizeof p, "ckpt_exists/checkpoint.safetensors");
  FILE *f = fopen(p, "rb");
  char buf[32] = "";
  if (!f || !fgets(buf, sizeof buf, f) || strcmp(buf, "an earlier run")) {
    failures++;
    printf("FAIL  %s was changed\n", p);
  }
  if (f) fclose(f);
  absent("@/nodir");

  printf("\n%d checks, %d failed\n", cases, failures);
  if (!failures) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
  } else {
    printf("fixtures kept in %s\n", root);
  }
  return failures ? 1 : 0;
}
