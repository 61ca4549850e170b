/* SPDX-License-Identifier: BSD-3-Clause */
/* Text for language models: a byte-level corpus (plain files, bytes 0..255 as
 * tokens) or pre-tokenized llm.c token shards, behind one dataset API.
 *
 * A path is a file, a folder or a glob ("data/train_*.bin"; matches sorted by
 * name). A folder is read recursively, depth first, entries in byte order of
 * their names (strcmp), skipping: hidden names (leading '.'), names ending in
 * ".dat" or ".u8", subfolders named "off", symlinks to folders, and any file
 * already included through another name (a symlink or hard link to it).
 * These rules fit Debian's fortunes folder (the default corpus), whose .dat
 * files are binary indices, .u8 files are symlinks to the same text, and off/
 * (package fortunes-off) holds offensive fortunes ROT13-encoded.
 * Files named explicitly (a file path, a glob match) are never skipped.
 * docs/text-data.md has the details and the reasons.
 *
 * Text files are concatenated as bytes (no decoding), with a '\n' added after
 * a file that does not end with one. Token shards (llm.c's format: 256 int32
 * header {20240520, 1, count, 0...}, then count uint16 tokens, little-endian)
 * are concatenated as they are. Every file is mmap'd, never read into memory.
 *
 * Splits: the last val_fraction of the tokens is validation, the rest training
 * (or, with val_path, all of path trains and all of val_path validates).
 * Training batches are random windows: row r of step s starts at a uniform
 * position drawn from Philox keyed by (seed, split, s, r), so a batch is a pure
 * function of its arguments: resuming at a step reproduces it, and ranks that
 * take disjoint rows of the same step (ax_text_batch_rows) never duplicate.
 * Evaluation walks the validation split in fixed, non-overlapping windows.
 *
 * Loaders never abort on a bad file: open returns NULL with a one-line reason
 * naming the file in err (which may be NULL). Misuse of a good dataset (a block
 * longer than a split, a bad split) goes to ax_error like an op's error.
 */
#ifndef AXON_TEXT_H
#define AXON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The default corpus: Debian's `fortunes` package. */
#define AX_TEXT_DEFAULT_PATH "/usr/share/games/fortunes"
/* llm.c's token shard header: 256 int32, magic and version first. */
#define AX_TOKEN_SHARD_MAGIC 20240520
#define AX_TOKEN_SHARD_VERSION 1
#define AX_TOKEN_SHARD_HEADER_BYTES 1024
/* val_fraction for "no validation split" (0 means the default 0.1). */
#define AX_TEXT_NO_VAL (-1.0)

enum { AX_TEXT_TRAIN = 0, AX_TEXT_VAL = 1 };

typedef struct ax_text_opts {
  double val_fraction; /* 0 means 0.1; AX_TEXT_NO_VAL: everything trains */
  bool tokens;         /* require token shards; false: detect by each file's magic */
  int64_t vocab_size;  /* shards: 0 means max token + 1 (a pass over the data); bytes: always 256 */
  int64_t block_size;  /* > 0: open fails unless each non-empty split holds block_size + 1 tokens */
  const char *val_path; /* separate validation files (llm.c's *_val_*.bin); val_fraction is ignored */
} ax_text_opts;

typedef struct ax_text_dataset ax_text_dataset;

/* Opens path (NULL: AX_TEXT_DEFAULT_PATH) with o (NULL: defaults). NULL with a
 * reason in err on a missing path, an empty corpus ("no text in <path>"), a bad
 * or truncated shard, a mix of shards and text, or a split shorter than
 * o->block_size + 1. */
ax_text_dataset *ax_text_open(const char *path, const ax_text_opts *o, char *err, size_t errlen);
void ax_text_close(ax_text_dataset *ds);

bool ax_text_is_tokens(const ax_text_dataset *ds);    /* true for token shards */
int64_t ax_text_vocab_size(const ax_text_dataset *ds); /* 256 for bytes */
int64_t ax_text_size(const ax_text_dataset *ds, int split); /* tokens in a split */
int ax_text_num_files(const ax_text_dataset *ds);      /* files read, both splits */
const char *ax_text_file(const ax_text_dataset *ds, int i); /* their paths, in order */

/* Tokens [start, start + n) of a split into out. 0, or -1 (ax_error) out of range. */
int ax_text_read(const ax_text_dataset *ds, int split, int64_t start, int64_t n, int64_t *out);

/* A training batch: x, y i64 [batch, block] on the CPU in the current scope,
 * y[r, t] = the token after x[r, t]. Row r is a window starting at a uniform
 * position in [0, size(split) - block - 1], drawn from (seed, split, step, r).
 * Returns 0, or -1 (ax_error) when the split is shorter than block + 1, a
 * token is >= vocab_size, or an argument is out of range. */
int ax_text_batch(ax_text_dataset *ds, int split, int64_t batch, int64_t block, uint64_t seed, int64_t step,
                  ax_tensor **x, ax_tensor **y);
/* Rows [row0, row0 + batch) of the same global batch: rank k of n takes row0 = k * batch,
 * and the n batches together equal ax_text_batch with batch * n rows. */
int ax_text_batch_rows(ax_text_dataset *ds, int split, int64_t row0, int64_t batch, int64_t block, uint64_t seed,
                       int64_t step, ax_tensor **x, ax_tensor **y);

/* Evaluation over the validation split in windows k = 0, 1, ... of x = tokens
 * [k * block, (k + 1) * block), y shifted by one; batch `index` holds windows
 * [index * batch, (index + 1) * batch), the last batch may have fewer rows.
 * Returns 1 with a batch, 0 when index is past the end, -1 (ax_error) on
 * bad arguments or a split shorter than block + 1. */
int ax_text_eval_batch(ax_text_dataset *ds, int64_t batch, int64_t block, int64_t index, ax_tensor **x,
                       ax_tensor **y);
/* How many batches ax_text_eval_batch returns (0 if the split is too short). */
int64_t ax_text_eval_batches(const ax_text_dataset *ds, int64_t batch, int64_t block);

/* Writes tokens[0..n) as an llm.c token shard (uint16, version 1), atomically
 * (a temporary file renamed over path when complete). 0, or -1 with a reason. */
int ax_token_shard_write(const char *path, const uint16_t *tokens, int64_t n, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
