/* SPDX-License-Identifier: BSD-3-Clause */
/* Text datasets: byte-level corpora and llm.c token shards (include/axon/text.h).
 *
 * Every file is mmap'd and described by a segment (its tokens' address and
 * their position in the concatenation), so a corpus of many GB costs address
 * space, not RAM, and a window that crosses files is gathered segment by
 * segment. Shards are validated completely at open (header, size, every
 * token below vocab_size), so batching never meets a bad file. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "axon/ops.h"
#include "axon/text.h"
#include "core/io/atomic_file.h"
#include "nn/data/internal.h"
#include "nn/data/text_files.h"

/* llm.c's Llama-3 shards (uint32 tokens): recognized only to say they are unsupported. */
#define LLAMA3_SHARD_MAGIC 20240801

typedef struct segment {
  const uint8_t *p; /* n tokens of `width` bytes (little-endian) */
  int64_t start, n; /* position of the first token in the concatenation */
  int file;         /* index into ds->files, or -1 for an added '\n' */
} segment;

typedef struct source {
  segment *segs;
  int n, cap;
  int64_t total;
} source;

struct ax_text_dataset {
  bool tokens;
  int width; /* bytes per token: 1 (text) or 2 (uint16 shards) */
  int64_t vocab;
  source src[2];             /* src[1] only with val_path */
  int split_src[2];          /* which source each split reads */
  int64_t split_begin[2], split_end[2];
  struct { void *addr; size_t len; } *maps;
  int n_maps;
  char **files;
  int n_files;
  int mode_file; /* the first file read: the one whose format the others must match */
  char *name[2]; /* each split's path as given, for messages */
};

static const uint8_t newline = '\n';

static int push_segment(source *s, const uint8_t *p, int64_t n, int file) {
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    segment *v = realloc(s->segs, (size_t)cap * sizeof *v);
    if (!v) return -1;
    s->segs = v;
    s->cap = cap;
  }
  s->segs[s->n++] = (segment){p, s->total, n, file};
  s->total += n;
  return 0;
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static const char *unit(const ax_text_dataset *ds) { return ds->tokens ? "tokens" : "bytes"; }

/* The tokens of an mmap'd shard after checking its header against the file size. */
static int shard_tokens(const char *path, const uint8_t *m, size_t size, int64_t *n, char *err, size_t errlen) {
  uint32_t magic = size >= 4 ? le32(m) : 0;
  if (magic == LLAMA3_SHARD_MAGIC) {
    ax__fail(err, errlen, "%s: an llm.c Llama-3 shard (magic %d, uint32 tokens): only uint16 shards (magic %d) are supported",
         path, LLAMA3_SHARD_MAGIC, AX_TOKEN_SHARD_MAGIC);
    return -1;
  }
  if (size >= 4 && magic != AX_TOKEN_SHARD_MAGIC) {
    ax__fail(err, errlen, "%s: not a token shard: bad magic %u (expected %d, llm.c's uint16 shard format)", path, magic,
         AX_TOKEN_SHARD_MAGIC);
    return -1;
  }
  if (size < AX_TOKEN_SHARD_HEADER_BYTES) {
    ax__fail(err, errlen, "%s: truncated token shard: %zu bytes, shorter than the %d-byte header", path, size,
         AX_TOKEN_SHARD_HEADER_BYTES);
    return -1;
  }
  uint32_t version = le32(m + 4);
  int32_t count = (int32_t)le32(m + 8);
  if (version != AX_TOKEN_SHARD_VERSION) {
    ax__fail(err, errlen, "%s: unsupported token shard version %u (expected %d: uint16 tokens)", path, version,
         AX_TOKEN_SHARD_VERSION);
    return -1;
  }
  uint64_t have = (size - AX_TOKEN_SHARD_HEADER_BYTES) / 2;
  if (count < 0 || (uint64_t)count > have) {
    ax__fail(err, errlen, "%s: truncated token shard: the header says %d tokens, the file holds %llu", path, (int)count,
         (unsigned long long)have);
    return -1;
  }
  if ((size - AX_TOKEN_SHARD_HEADER_BYTES) != (uint64_t)count * 2) {
    ax__fail(err, errlen, "%s: corrupt token shard: %zu bytes after %d tokens", path,
         size - AX_TOKEN_SHARD_HEADER_BYTES - (size_t)count * 2, (int)count);
    return -1;
  }
  *n = count;
  return 0;
}

/* Maps one file and appends its segment (and a '\n' between text files that lack one). */
static int read_file(ax_text_dataset *ds, source *s, const char *path, const ax_text_opts *o, char *err,
                     size_t errlen) {
  int fd = open(path, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    ax__fail(err, errlen, "%s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  size_t size = (size_t)st.st_size;
  if (size == 0) {
    close(fd);
    return 0; /* nothing to map; contributes no tokens */
  }
  void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (m == MAP_FAILED) {
    ax__fail(err, errlen, "%s: cannot map the file: %s", path, strerror(e));
    return -1;
  }
  ds->maps[ds->n_maps].addr = m;
  ds->maps[ds->n_maps].len = size;
  ds->n_maps++;

  bool shard = o->tokens || (size >= 4 && (le32(m) == AX_TOKEN_SHARD_MAGIC || le32(m) == LLAMA3_SHARD_MAGIC));
  if (ds->mode_file < 0) {
    ds->mode_file = ds->n_files;
    ds->tokens = shard;
    ds->width = shard ? 2 : 1;
  } else if (shard != ds->tokens) {
    ax__fail(err, errlen, "%s is %s but %s is %s: a corpus is all text or all token shards", path,
         shard ? "a token shard" : "text", ds->files[ds->mode_file], ds->tokens ? "a token shard" : "text");
    return -1;
  }
  if (!(ds->files[ds->n_files] = strdup(path))) {
    ax__fail(err, errlen, "%s: out of memory", path);
    return -1;
  }
  int file = ds->n_files++;
  int rc;
  if (shard) {
    int64_t n;
    if (shard_tokens(path, m, size, &n, err, errlen) != 0) return -1;
    rc = n > 0 ? push_segment(s, (const uint8_t *)m + AX_TOKEN_SHARD_HEADER_BYTES, n, file) : 0;
  } else {
    const segment *prev = s->n ? &s->segs[s->n - 1] : NULL;
    rc = prev && prev->p[prev->n - 1] != '\n' ? push_segment(s, &newline, 1, -1) : 0;
    rc = rc ? rc : push_segment(s, m, (int64_t)size, file);
  }
  if (rc) ax__fail(err, errlen, "%s: out of memory", path);
  return rc;
}

/* Lists and maps every file of path into s. */
static int read_source(ax_text_dataset *ds, source *s, const char *path, const ax_text_opts *o, char *err,
                       size_t errlen) {
  char **paths;
  int n;
  int rc = ax__text_list(path, &paths, &n, err, errlen);
  if (rc == 0 && n > 0) {
    void *maps = realloc(ds->maps, (size_t)(ds->n_maps + n) * sizeof *ds->maps);
    void *files = maps ? realloc(ds->files, (size_t)(ds->n_files + n) * sizeof *ds->files) : NULL;
    if (maps) ds->maps = maps;
    if (files) ds->files = files;
    if (!maps || !files) rc = ax__fail(err, errlen, "%s: out of memory", path);
  }
  for (int i = 0; i < n && rc == 0; i++) rc = read_file(ds, s, paths[i], o, err, errlen);
  ax__text_list_free(paths, n);
  if (rc == 0 && s->total == 0) {
    if (ds->mode_file >= 0 && ds->tokens)
      rc = ax__fail(err, errlen, "no tokens in %s", path);
    else
      rc = ax__fail(err, errlen, "no text in %s", path);
  }
  return rc;
}

static uint16_t shard_token(const uint8_t *p, int64_t i) { return (uint16_t)(p[2 * i] | p[2 * i + 1] << 8); }

/* The largest token of every shard; with a vocab_size given, the first token at or above it. */
static int scan_vocab(ax_text_dataset *ds, int64_t vocab, char *err, size_t errlen) {
  int64_t max = 0;
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < ds->src[k].n; i++) {
      const segment *g = &ds->src[k].segs[i];
      int m = 0;
#pragma omp parallel for reduction(max : m) schedule(static) if (g->n > (1 << 20))
      for (int64_t j = 0; j < g->n; j++) {
        int t = shard_token(g->p, j);
        m = t > m ? t : m;
      }
      if (vocab > 0 && m >= vocab) {
        int64_t j = 0;
        while (shard_token(g->p, j) < vocab) j++;
        ax__fail(err, errlen, "%s: token %d at index %lld is not below vocab_size %lld", ds->files[g->file],
             (int)shard_token(g->p, j), (long long)j, (long long)vocab);
        return -1;
      }
      max = m > max ? m : max;
    }
  ds->vocab = vocab > 0 ? vocab : max + 1;
  return 0;
}

static const char *split_name(int split) { return split == AX_TEXT_VAL ? "validation" : "training"; }

ax_text_dataset *ax_text_open(const char *path, const ax_text_opts *o, char *err, size_t errlen) {
  static const ax_text_opts defaults = {0};
  if (!o) o = &defaults;
  if (!path) {
    path = AX_TEXT_DEFAULT_PATH;
    struct stat st;
    if (stat(path, &st) != 0)
      return fail(err, errlen,
                  "%s: %s (the default corpus: install Debian's fortunes package, apt-get install fortunes, "
                  "or pass a path)",
                  path, strerror(errno));
  }
  double vf = o->val_fraction == 0 ? 0.1 : o->val_fraction < 0 ? 0 : o->val_fraction;
  if (!(vf < 1)) return fail(err, errlen, "%s: val_fraction %g is not below 1", path, o->val_fraction);
  if (o->vocab_size < 0) return fail(err, errlen, "%s: negative vocab_size %lld", path, (long long)o->vocab_size);

  ax_text_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) return fail(err, errlen, "%s: out of memory", path);
  ds->mode_file = -1;
  ds->name[0] = strdup(path);
  ds->name[1] = strdup(o->val_path ? o->val_path : path);
  if (!ds->name[0] || !ds->name[1]) {
    ax_text_close(ds);
    return fail(err, errlen, "%s: out of memory", path);
  }
  int rc = read_source(ds, &ds->src[0], path, o, err, errlen);
  if (rc == 0 && o->val_path) {
    int n_train_files = ds->n_files;
    rc = read_source(ds, &ds->src[1], o->val_path, o, err, errlen);
    /* validation must never be trained on: no file may be in both */
    for (int i = 0; rc == 0 && i < n_train_files; i++)
      for (int j = n_train_files; rc == 0 && j < ds->n_files; j++) {
        struct stat a, b;
        if (stat(ds->files[i], &a) == 0 && stat(ds->files[j], &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
          rc = ax__fail(err, errlen, "%s is both a training and a validation file (val_path %s)", ds->files[j],
                      o->val_path);
      }
  }
  if (rc == 0) {
    if (o->val_path) {
      ds->split_src[AX_TEXT_VAL] = 1;
      ds->split_end[AX_TEXT_TRAIN] = ds->src[0].total;
      ds->split_end[AX_TEXT_VAL] = ds->src[1].total;
    } else {
      int64_t n = ds->src[0].total, n_val = (int64_t)((double)n * vf);
      ds->split_end[AX_TEXT_TRAIN] = ds->split_begin[AX_TEXT_VAL] = n - n_val;
      ds->split_end[AX_TEXT_VAL] = n;
    }
    ds->vocab = 256;
    /* every uint16 token is below a vocab_size > 65535: nothing to scan */
    if (ds->tokens) {
      ds->vocab = o->vocab_size;
      if (o->vocab_size <= 65535) rc = scan_vocab(ds, o->vocab_size, err, errlen);
    }
  }
  bool has_val = vf > 0 || o->val_path;
  for (int split = 0; rc == 0 && o->block_size > 0 && split < (has_val ? 2 : 1); split++) {
    int64_t have = ax_text_size(ds, split);
    if (have < o->block_size + 1)
      rc = ax__fail(err, errlen, "%s: %s split has %lld %s, needs at least block_size + 1 = %lld", ds->name[split],
                  split_name(split), (long long)have, unit(ds), (long long)(o->block_size + 1));
  }
  if (rc) {
    ax_text_close(ds);
    return NULL;
  }
  return ds;
}

void ax_text_close(ax_text_dataset *ds) {
  if (!ds) return;
  for (int i = 0; i < ds->n_maps; i++) munmap(ds->maps[i].addr, ds->maps[i].len);
  for (int i = 0; i < ds->n_files; i++) free(ds->files[i]);
  free(ds->maps);
  free(ds->files);
  free(ds->src[0].segs);
  free(ds->src[1].segs);
  free(ds->name[0]);
  free(ds->name[1]);
  free(ds);
}

bool ax_text_is_tokens(const ax_text_dataset *ds) { return ds && ds->tokens; }
int64_t ax_text_vocab_size(const ax_text_dataset *ds) { return ds ? ds->vocab : 0; }
int ax_text_num_files(const ax_text_dataset *ds) { return ds ? ds->n_files : 0; }
const char *ax_text_file(const ax_text_dataset *ds, int i) {
  return ds && i >= 0 && i < ds->n_files ? ds->files[i] : NULL;
}
int64_t ax_text_size(const ax_text_dataset *ds, int split) {
  if (!ds || (split != AX_TEXT_TRAIN && split != AX_TEXT_VAL)) return 0;
  return ds->split_end[split] - ds->split_begin[split];
}

/* ---- reading tokens ---- */

/* The segment holding position pos (binary search: the last one starting at or before it). */
static int find_segment(const source *s, int64_t pos) {
  int lo = 0, hi = s->n - 1;
  while (lo < hi) {
    int mid = lo + (hi - lo + 1) / 2;
    if (s->segs[mid].start <= pos)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

/* Tokens [pos, pos + n) of split into out; the range is already checked. */
static void gather(const ax_text_dataset *ds, int split, int64_t pos, int64_t n, int64_t *out) {
  const source *s = &ds->src[ds->split_src[split]];
  pos += ds->split_begin[split];
  for (int k = find_segment(s, pos); n > 0; k++) {
    const segment *g = &s->segs[k];
    int64_t off = pos - g->start, m = g->n - off < n ? g->n - off : n;
    if (ds->width == 1)
      for (int64_t i = 0; i < m; i++) out[i] = g->p[off + i];
    else
      for (int64_t i = 0; i < m; i++) out[i] = shard_token(g->p, off + i);
    out += m;
    pos += m;
    n -= m;
  }
}

static bool check_split(const char *op, const ax_text_dataset *ds, int split) {
  if (!ds) return false;
  if (split != AX_TEXT_TRAIN && split != AX_TEXT_VAL) {
    ax_error("%s: split must be AX_TEXT_TRAIN (0) or AX_TEXT_VAL (1), got %d", op, split);
    return false;
  }
  return true;
}

static bool check_block(const char *op, const ax_text_dataset *ds, int split, int64_t batch, int64_t block) {
  if (batch <= 0 || block <= 0) {
    ax_error("%s: batch and block must be positive, got %lld and %lld", op, (long long)batch, (long long)block);
    return false;
  }
  int64_t have = ax_text_size(ds, split);
  if (have < block + 1) {
    ax_error("%s: %s: %s split has %lld %s, needs at least block_size + 1 = %lld", op, ds->name[split],
             split_name(split), (long long)have, unit(ds), (long long)(block + 1));
    return false;
  }
  return true;
}

int ax_text_read(const ax_text_dataset *ds, int split, int64_t start, int64_t n, int64_t *out) {
  if (!check_split("ax_text_read", ds, split) || !out) return -1;
  int64_t have = ax_text_size(ds, split);
  if (start < 0 || n < 0 || start > have || n > have - start) {
    ax_error("ax_text_read: tokens [%lld, %lld) are outside the %s split [0, %lld)", (long long)start,
             (long long)(start + n), split_name(split), (long long)have);
    return -1;
  }
  gather(ds, split, start, n, out);
  return 0;
}

/* x, y i64 [rows, block] with row r the window starting at starts[r]. */
static int make_batch(const ax_text_dataset *ds, int split, const int64_t *starts, int64_t rows, int64_t block,
                      ax_tensor **x, ax_tensor **y) {
  const ax_tensor_opts i64 = {.dtype = AX_I64};
  ax_tensor *tx = ax_empty(2, (const int64_t[]){rows, block}, &i64);
  ax_tensor *ty = ax_empty(2, (const int64_t[]){rows, block}, &i64);
  if (!tx || !ty) return -1;
  int64_t *px = ax_data_ptr(tx), *py = ax_data_ptr(ty);
#pragma omp parallel for schedule(static) if (rows * block > (1 << 16))
  for (int64_t r = 0; r < rows; r++) {
    int64_t *xr = px + r * block, *yr = py + r * block;
    gather(ds, split, starts[r], block, xr);
    memcpy(yr, xr + 1, (size_t)(block - 1) * sizeof *yr);
    gather(ds, split, starts[r] + block, 1, yr + block - 1);
  }
  *x = tx;
  *y = ty;
  return 0;
}

int ax_text_batch_rows(ax_text_dataset *ds, int split, int64_t row0, int64_t batch, int64_t block, uint64_t seed,
                       int64_t step, ax_tensor **x, ax_tensor **y) {
  if (x) *x = NULL;
  if (y) *y = NULL;
  if (!x || !y || !check_split("ax_text_batch", ds, split) || !check_block("ax_text_batch", ds, split, batch, block))
    return -1;
  if (row0 < 0 || step < 0) {
    ax_error("ax_text_batch: row0 and step must be >= 0, got %lld and %lld", (long long)row0, (long long)step);
    return -1;
  }
  int64_t *starts = malloc((size_t)batch * sizeof *starts);
  if (!starts) {
    ax_error("ax_text_batch: out of memory for %lld rows", (long long)batch);
    return -1;
  }
  uint64_t n_starts = (uint64_t)(ax_text_size(ds, split) - block);
  for (int64_t r = 0; r < batch; r++) {
    /* the split in the counter's top bits: train and val draw independent streams */
    uint64_t row = (uint64_t)(row0 + r) | (uint64_t)split << 62;
    ax_philox4 b = ax_philox4x32_10(row, (uint64_t)step, seed);
    uint64_t bits = (uint64_t)b.v[0] << 32 | b.v[1];
    starts[r] = (int64_t)(bits % n_starts); /* bias below n / 2^64 */
  }
  int rc = make_batch(ds, split, starts, batch, block, x, y);
  free(starts);
  return rc;
}

int ax_text_batch(ax_text_dataset *ds, int split, int64_t batch, int64_t block, uint64_t seed, int64_t step,
                  ax_tensor **x, ax_tensor **y) {
  return ax_text_batch_rows(ds, split, 0, batch, block, seed, step, x, y);
}

int64_t ax_text_eval_batches(const ax_text_dataset *ds, int64_t batch, int64_t block) {
  if (!ds || batch <= 0 || block <= 0) return 0;
  int64_t windows = (ax_text_size(ds, AX_TEXT_VAL) - 1) / block;
  return windows > 0 ? (windows + batch - 1) / batch : 0;
}

int ax_text_eval_batch(ax_text_dataset *ds, int64_t batch, int64_t block, int64_t index, ax_tensor **x,
                       ax_tensor **y) {
  if (x) *x = NULL;
  if (y) *y = NULL;
  if (!x || !y || !ds || !check_block("ax_text_eval_batch", ds, AX_TEXT_VAL, batch, block)) return -1;
  if (index < 0) {
    ax_error("ax_text_eval_batch: negative index %lld", (long long)index);
    return -1;
  }
  int64_t windows = (ax_text_size(ds, AX_TEXT_VAL) - 1) / block;
  if (index >= (windows + batch - 1) / batch) return 0;
  int64_t first = index * batch, rows = windows - first < batch ? windows - first : batch;
  int64_t *starts = malloc((size_t)rows * sizeof *starts);
  if (!starts) {
    ax_error("ax_text_eval_batch: out of memory for %lld rows", (long long)rows);
    return -1;
  }
  for (int64_t r = 0; r < rows; r++) starts[r] = (first + r) * block;
  int rc = make_batch(ds, AX_TEXT_VAL, starts, rows, block, x, y);
  free(starts);
  return rc == 0 ? 1 : -1;
}

/* ---- writing shards ---- */

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i);
}

int ax_token_shard_write(const char *path, const uint16_t *tokens, int64_t n, char *err, size_t errlen) {
  if (!path) return ax__fail(err, errlen, "ax_token_shard_write: no path");
  if (n < 0 || n > INT32_MAX || (n > 0 && !tokens)) {
    ax__fail(err, errlen, "%s: cannot write %lld tokens (a shard holds 0 to 2^31 - 1)", path, (long long)n);
    return -1;
  }
  uint8_t header[AX_TOKEN_SHARD_HEADER_BYTES] = {0};
  put_le32(header, AX_TOKEN_SHARD_MAGIC);
  put_le32(header + 4, AX_TOKEN_SHARD_VERSION);
  put_le32(header + 8, (uint32_t)n);
  ax_atomic_file f;
  if (ax_atomic_open(&f, path, err, errlen) != 0) return -1;
  int bad = ax_atomic_write(&f, header, sizeof header);
  uint8_t buf[1 << 15];
  for (int64_t i = 0; i < n && !bad; i += sizeof buf / 2) {
    int64_t m = n - i < (int64_t)(sizeof buf / 2) ? n - i : (int64_t)(sizeof buf / 2);
    for (int64_t j = 0; j < m; j++) {
      buf[2 * j] = (uint8_t)tokens[i + j];
      buf[2 * j + 1] = (uint8_t)(tokens[i + j] >> 8);
    }
    bad = ax_atomic_write(&f, buf, (size_t)m * 2);
  }
  if (bad) {
    ax__fail(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    ax_atomic_abort(&f);
    return -1;
  }
  return ax_atomic_commit(&f, err, errlen);
}
