/* SPDX-License-Identifier: BSD-3-Clause */
/* Tokenizer files (nn/data/tokenizer_load.c): the input as tokenizer.json and as vocab.txt;
 * whatever loads encodes a few texts (and the input itself), in a truncated and padded
 * batch, and decodes what it made and every id. */
#include "axon/tokenizer.h"
#include "fuzz_common.h"

static const char *texts[] = {"Hello, world! Héllo naïve 中文 😀 don't  \t\n", "", "[CLS] <|endoftext|>",
                              "bad \xff utf-8", "e\xcc\x81\xcc\xa3 \x01\x7f"};

static void exercise(const ax_tokenizer *t, const uint8_t *data, size_t size) {
  char err[512], out[4096];
  int32_t ids[1024];
  for (int i = 0; i < 5; i++) {
    int n = ax_tokenizer_encode(t, texts[i], strlen(texts[i]), ids, 1024, NULL, err, sizeof err);
    if (n >= 0) ax_tokenizer_decode(t, ids, n, i & 1, out, sizeof out, err, sizeof err);
  }
  int n = ax_tokenizer_encode(t, (const char *)data, size, ids, 1024, NULL, err, sizeof err);
  if (n > 1024) abort(); /* encode promised the ids fit */
  if (n >= 0) ax_tokenizer_decode(t, ids, n, false, out, sizeof out, err, sizeof err);
  ax_token_batch b;
  ax_encode_opts o = {.max_length = 7, .truncation = true, .padding = AX_PAD_MAX_LENGTH};
  if (ax_tokenizer_encode_batch(t, texts, NULL, 5, &o, &b, err, sizeof err) == 0) {
    for (int i = 0; i < b.n; i++)
      if (b.lengths[i] > 7 || b.len != 7) abort(); /* truncated and padded to max_length */
    ax_token_batch_free(&b);
  }
  int v = ax_tokenizer_vocab_size(t);
  for (int id = 0; id < v && id < 256; id++) {
    int32_t one = id;
    ax_tokenizer_decode(t, &one, 1, false, out, sizeof out, err, sizeof err);
    const char *s = ax_tokenizer_id_token(t, id);
    if (s && ax_tokenizer_token_id(t, s) < 0) abort(); /* every token finds an id */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *names[] = {"tokenizer.json", "vocab.txt"};
  for (int i = 0; i < 2; i++) {
    const char *p = fuzz_path(names[i]);
    fuzz_write(p, data, size);
    char err[512];
    ax_tokenizer *t = ax_tokenizer_load(p, err, sizeof err);
    if (t) exercise(t, data, size);
    ax_tokenizer_free(t);
  }
  return 0;
}
