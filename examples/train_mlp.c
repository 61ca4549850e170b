/* SPDX-License-Identifier: BSD-3-Clause */
/* Trains a 784-256-10 MLP on Fashion-MNIST with nothing but the core: ops,
 * autograd and a hand-written SGD-with-momentum loop. The full trainer
 * (`axon train`: modules, optimizers, checkpoints) builds on the same pieces.
 *
 *   ./build/train_mlp [--data-dir DIR] [--epochs N] [--batch-size B] [--lr X] [--seed S]
 *
 * Data: Debian's dataset-fashion-mnist package (gzipped IDX files). */
#define _DEFAULT_SOURCE /* clock_gettime and CLOCK_MONOTONIC under -std=c11 (clang stops without it) */
#include <axon.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define EXIT_USAGE 2

/* ---- gzipped IDX files: magic 0x0000 <type> <ndim>, big-endian dims, bytes ---- */

typedef struct {
  uint8_t *data;
  int ndim;
  int64_t dims[4];
  int64_t count; /* elements */
} idx_file;

static int read_u32(gzFile f, uint32_t *v) {
  unsigned char b[4];
  if (gzread(f, b, 4) != 4) return -1;
  *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  return 0;
}

/* Returns 0, or -1 with a message in err. Never reads past what the header promises. */
static int idx_load(const char *path, idx_file *out, char *err, size_t errn) {
  memset(out, 0, sizeof *out);
  gzFile f = gzopen(path, "rb");
  if (!f) {
    snprintf(err, errn, "%s: %s", path, strerror(errno ? errno : ENOENT));
    return -1;
  }
  uint32_t magic;
  if (read_u32(f, &magic) != 0 || (magic >> 16) != 0 || ((magic >> 8) & 0xff) != 0x08) {
    snprintf(err, errn, "%s: not an unsigned-byte IDX file (bad magic)", path);
    gzclose(f);
    return -1;
  }
  out->ndim = magic & 0xff;
  if (out->ndim < 1 || out->ndim > 4) {
    snprintf(err, errn, "%s: IDX file with %d dims (expected 1 to 4)", path, out->ndim);
    gzclose(f);
    return -1;
  }
  out->count = 1;
  for (int i = 0; i < out->ndim; i++) {
    uint32_t d;
    if (read_u32(f, &d) != 0 || d == 0 || d > (1u << 28)) {
      snprintf(err, errn, "%s: truncated or invalid header", path);
      gzclose(f);
      return -1;
    }
    out->dims[i] = d;
    out->count *= d;
  }
  if (out->count > ((int64_t)1 << 32)) {
    snprintf(err, errn, "%s: implausibly large (%lld elements)", path, (long long)out->count);
    gzclose(f);
    return -1;
  }
  out->data = malloc((size_t)out->count);
  int64_t got = 0;
  while (got < out->count) {
    int chunk = out->count - got > (1 << 30) ? (1 << 30) : (int)(out->count - got);
    int r = gzread(f, out->data + got, (unsigned)chunk);
    if (r <= 0) break;
    got += r;
  }
  gzclose(f);
  if (got != out->count) {
    snprintf(err, errn, "%s: truncated (%lld of %lld bytes of data)", path, (long long)got, (long long)out->count);
    free(out->data);
    out->data = NULL;
    return -1;
  }
  return 0;
}

/* ---- the model ---- */

typedef struct {
  ax_tensor *w1, *b1, *w2, *b2;
} mlp;

/* PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias. */
static ax_tensor *uniform_param(int ndim, const int64_t *shape, double bound) {
  ax_scope_begin();
  ax_tensor *u = ax_rand(ndim, shape, NULL);
  ax_tensor *p = ax_persist(ax_add_scalar(ax_mul_scalar(u, 2 * bound), -bound));
  ax_scope_end();
  ax_set_requires_grad(p, true);
  return p;
}

static ax_tensor *forward(mlp *m, ax_tensor *x) {
  return ax_linear(ax_relu(ax_linear(x, m->w1, m->b1)), m->w2, m->b2);
}

/* images [n, 784] normalized f32, labels [n] i64 for rows [start, start + n) */
static void make_batch(const idx_file *img, const idx_file *lab, const int64_t *order, int64_t start, int64_t n,
                       ax_tensor **x, ax_tensor **y) {
  float *xs = malloc(sizeof(float) * (size_t)(n * 784));
  int64_t *ys = malloc(sizeof(int64_t) * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    int64_t r = order ? order[start + i] : start + i;
    for (int p = 0; p < 784; p++) xs[i * 784 + p] = ((float)img->data[r * 784 + p] / 255.0f - 0.2860f) / 0.3530f;
    ys[i] = lab->data[r];
  }
  *x = ax_from_data(xs, AX_SHAPE(n, 784), NULL);
  *y = ax_from_data(ys, AX_SHAPE(n), &(ax_tensor_opts){.dtype = AX_I64});
  free(xs);
  free(ys);
}

static double evaluate(mlp *m, const idx_file *img, const idx_file *lab, double *loss_out) {
  int64_t n = img->dims[0], correct = 0;
  double loss = 0;
  ax_no_grad_begin();
  for (int64_t s = 0; s < n; s += 1000) {
    int64_t b = n - s < 1000 ? n - s : 1000;
    ax_scope_begin();
    ax_tensor *x, *y;
    make_batch(img, lab, NULL, s, b, &x, &y);
    ax_tensor *logits = forward(m, x);
    loss += ax_item(ax_cross_entropy(logits, y, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_SUM}));
    correct += (int64_t)ax_item(ax_sum(ax_cast(ax_eq(ax_argmax(logits, 1, false), y), AX_I64), AX_ALL, false));
    ax_scope_end();
  }
  ax_no_grad_end();
  *loss_out = loss / (double)n;
  return (double)correct / (double)n;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *usage =
    "usage: train_mlp [--data-dir DIR] [--epochs N] [--batch-size B] [--lr X] [--seed S]\n"
    "Trains a 784-256-10 MLP on Fashion-MNIST with SGD (momentum 0.9) on the CPU.\n"
    "  --data-dir DIR   folder with the four gzipped IDX files (default /usr/share/datasets/fashion-mnist)\n"
    "  --epochs N       passes over the 60000 training images (default 5)\n"
    "  --batch-size B   images per step (default 128)\n"
    "  --lr X           learning rate (default 0.05)\n"
    "  --seed S         random seed for the initialization and the shuffling (default 1)\n";

int main(int argc, char **argv) {
  const char *dir = "/usr/share/datasets/fashion-mnist";
  int epochs = 5;
  int64_t batch = 128;
  double lr = 0.05;
  unsigned long long seed = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(a, "--data-dir") && v) {
      dir = v;
    } else if (!strcmp(a, "--epochs") && v) {
      epochs = (int)strtol(v, &end, 10);
    } else if (!strcmp(a, "--batch-size") && v) {
      batch = strtoll(v, &end, 10);
    } else if (!strcmp(a, "--lr") && v) {
      lr = strtod(v, &end);
    } else if (!strcmp(a, "--seed") && v) {
      seed = strtoull(v, &end, 10);
    } else {
      fprintf(stderr, "train_mlp: unknown option or missing value '%s' (try --help)\n", a);
      return EXIT_USAGE;
    }
    if (end && (*end || end == v)) {
      fprintf(stderr, "train_mlp: bad value '%s' for %s\n", v, a);
      return EXIT_USAGE;
    }
    if (epochs < 1 || batch < 1 || !(lr > 0)) {
      fprintf(stderr, "train_mlp: %s must be positive\n", a);
      return EXIT_USAGE;
    }
    i++;
  }

  const char *names[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                          "t10k-labels-idx1-ubyte.gz"};
  idx_file files[4];
  for (int i = 0; i < 4; i++) {
    char path[4096], err[4400];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (idx_load(path, &files[i], err, sizeof err) != 0) {
      fprintf(stderr, "train_mlp: %s\n", err);
      return EXIT_USAGE;
    }
  }
  idx_file *tr_x = &files[0], *tr_y = &files[1], *te_x = &files[2], *te_y = &files[3];
  if (tr_x->ndim != 3 || tr_x->dims[1] * tr_x->dims[2] != 784 || tr_y->dims[0] != tr_x->dims[0] ||
      te_x->dims[0] != te_y->dims[0]) {
    fprintf(stderr, "train_mlp: %s does not hold 28x28 images with one label each\n", dir);
    return EXIT_USAGE;
  }

  ax_manual_seed(seed);
  mlp m = {uniform_param(AX_SHAPE(256, 784), 1 / sqrt(784.0)), uniform_param(AX_SHAPE(256), 1 / sqrt(784.0)),
           uniform_param(AX_SHAPE(10, 256), 1 / sqrt(256.0)), uniform_param(AX_SHAPE(10), 1 / sqrt(256.0))};
  ax_tensor *params[4] = {m.w1, m.b1, m.w2, m.b2}, *velocity[4];
  for (int i = 0; i < 4; i++) velocity[i] = ax_zeros_like(params[i]);

  int64_t n = tr_x->dims[0], steps = (n + batch - 1) / batch;
  int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
  uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
  printf("train_mlp: %lld training and %lld test images, batch %lld, %d epochs, %d threads\n", (long long)n,
         (long long)te_x->dims[0], (long long)batch, epochs, ax_num_threads());
  for (int epoch = 1; epoch <= epochs; epoch++) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates with xorshift64 */
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      int64_t j = (int64_t)(rng % (uint64_t)(i + 1)), t = order[i];
      order[i] = order[j], order[j] = t;
    }
    double t0 = now(), loss_sum = 0;
    for (int64_t s = 0; s < steps; s++) {
      int64_t b = n - s * batch < batch ? n - s * batch : batch;
      ax_scope_begin();
      ax_tensor *x, *y;
      make_batch(tr_x, tr_y, order, s * batch, b, &x, &y);
      ax_tensor *loss = ax_cross_entropy(forward(&m, x), y, NULL);
      ax_backward(loss, NULL);
      loss_sum += ax_item(loss);
      ax_no_grad_begin(); /* v = 0.9 v + g; p -= lr v */
      for (int i = 0; i < 4; i++) {
        ax_copy_(velocity[i], ax_add(ax_mul_scalar(velocity[i], 0.9), params[i]->grad));
        ax_copy_(params[i], ax_sub(params[i], ax_mul_scalar(velocity[i], lr)));
        ax_zero_grad(params[i]);
      }
      ax_no_grad_end();
      ax_scope_end();
      if ((s + 1) % 100 == 0 || s + 1 == steps)
        printf("  epoch %d step %4lld/%lld  loss %.4f  %.0f images/s\n", epoch, (long long)(s + 1), (long long)steps,
               loss_sum / (double)(s + 1), (double)((s + 1) * batch) / (now() - t0));
    }
    double test_loss, acc = evaluate(&m, te_x, te_y, &test_loss);
    printf("epoch %d: train loss %.4f, test loss %.4f, test accuracy %.2f%% (%.1f s)\n", epoch,
           loss_sum / (double)steps, test_loss, 100 * acc, now() - t0);
  }
  for (int i = 0; i < 4; i++) {
    ax_free(params[i]);
    ax_free(velocity[i]);
    free(files[i].data);
  }
  free(order);
  return 0;
}
