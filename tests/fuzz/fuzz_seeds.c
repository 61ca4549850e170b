/* SPDX-License-Identifier: BSD-3-Clause */
/* Writes the seed corpus of the fuzz targets that need no model (tests/fuzz/README.md):
 * files as Axon writes them, into DIR/<target>/. The checkpoint targets write their own
 * (fuzz_ckpt_*.c built with -DFUZZ_SEED_MAIN). */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "axon.h"
#include "axon/transformer.h"

static char root[3000];

static const char *at(const char *target, const char *name) {
  static char p[4096];
  snprintf(p, sizeof p, "%s/%s", root, target);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/%s/%s", root, target, name);
  return p;
}

static void put(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f)) {
    perror(path);
    exit(1);
  }
}

/* an IDX file: type, dims, then payload bytes (already big-endian) */
static size_t idx(uint8_t *buf, int type, int ndim, const uint32_t *dims, const void *payload, size_t n) {
  buf[0] = buf[1] = 0;
  buf[2] = (uint8_t)type;
  buf[3] = (uint8_t)ndim;
  for (int i = 0; i < ndim; i++)
    for (int b = 0; b < 4; b++) buf[4 + 4 * i + b] = (uint8_t)(dims[i] >> (24 - 8 * b));
  memcpy(buf + 4 + 4 * ndim, payload, n);
  return 4 + 4 * (size_t)ndim + n;
}

/* a .npy file of descr d: the header padded to 128 bytes in all, then n bytes of data */
static size_t npy(uint8_t *buf, const char *descr, const char *shape, const void *payload, size_t n) {
  char h[128];
  int len = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
  memset(h + len, ' ', 117 - (size_t)len);
  h[117] = '\n';
  memcpy(buf, "\x93NUMPY\x01\x00\x76\x00", 10);
  memcpy(buf + 10, h, 118);
  memcpy(buf + 128, payload, n);
  return 128 + n;
}

/* one zip member (stored, or deflated when level > 0) at the end of buf, its central entry at cd */
static void zip_add(uint8_t *buf, size_t *n, uint8_t *cd, size_t *ncd, int *count, const char *name, const uint8_t *d,
                    size_t dn, int level) {
  uint8_t z[1024];
  uLongf zn = sizeof z;
  z_stream s = {0};
  if (level > 0 && deflateInit2(&s, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
    s.next_in = (Bytef *)d, s.avail_in = (uInt)dn, s.next_out = z, s.avail_out = sizeof z;
    deflate(&s, Z_FINISH);
    zn = s.total_out;
    deflateEnd(&s);
  } else {
    memcpy(z, d, dn), zn = dn, level = 0;
  }
  uint32_t crc = (uint32_t)crc32(0, d, (uInt)dn), nl = (uint32_t)strlen(name), off = (uint32_t)*n;
  uint8_t lh[30] = {0x50, 0x4b, 3, 4, 20, 0, 0, 0, (uint8_t)(level ? 8 : 0), 0};
  uint8_t ch[46] = {0x50, 0x4b, 1, 2, 20, 0, 20, 0, 0, 0, (uint8_t)(level ? 8 : 0), 0};
  uint32_t f4[3] = {crc, (uint32_t)zn, (uint32_t)dn};
  memcpy(lh + 14, f4, 12), memcpy(ch + 16, f4, 12);
  lh[26] = ch[28] = (uint8_t)nl;
  memcpy(ch + 42, &off, 4);
  memcpy(buf + *n, lh, 30), memcpy(buf + *n + 30, name, nl), memcpy(buf + *n + 30 + nl, z, zn);
  *n += 30 + nl + zn;
  memcpy(cd + *ncd, ch, 46), memcpy(cd + *ncd + 46, name, nl);
  *ncd += 46 + nl;
  (*count)++;
}

/* .npy, .npz (stored and deflated, as np.savez and np.savez_compressed write them) and CSV seeds */
static void array_seeds(void) {
  uint8_t buf[4096], x[256], y[256], cd[512];
  float xf[6] = {0, 0.5f, 1, 1.5f, 2, 2.5f};
  int64_t yl[2] = {0, 1};
  put(at("npy", "f4.npy"), buf, npy(buf, "<f4", "(2, 3)", xf, sizeof xf));
  put(at("npy", "i8.npy"), buf, npy(buf, "<i8", "(2,)", yl, sizeof yl));
  put(at("npy", "u1.npy"), buf, npy(buf, "|u1", "(1, 2, 3)", "abcdef", 6));
  put(at("npy", "f2.npy"), buf, npy(buf, "<f2", "(3,)", "\x00\x3c\x00\xc0\x00\x7c", 6));
  size_t xn = npy(x, "<f4", "(2, 3)", xf, sizeof xf), yn = npy(y, "<i8", "(2,)", yl, sizeof yl);
  for (int level = 0; level <= 6; level += 6) {
    size_t n = 0, ncd = 0;
    int count = 0;
    zip_add(buf, &n, cd, &ncd, &count, "x.npy", x, xn, level);
    zip_add(buf, &n, cd, &ncd, &count, "y.npy", y, yn, level);
    uint32_t cdo = (uint32_t)n, cds = (uint32_t)ncd;
    memcpy(buf + n, cd, ncd), n += ncd;
    uint8_t e[22] = {0x50, 0x4b, 5, 6, 0, 0, 0, 0, (uint8_t)count, 0, (uint8_t)count, 0};
    memcpy(e + 12, &cds, 4), memcpy(e + 16, &cdo, 4);
    memcpy(buf + n, e, 22), n += 22;
    put(at("npz", level ? "deflated.npz" : "stored.npz"), buf, n);
  }
  const char *csv[] = {"\x00a,b,label\n1.5,2,0\n3,\"4e1\",2\r\n", "\x05a,label,c\n1,0,2\n4,1,5\n",
                       "\x09" "0;5;6\n1;7;8\n", "\x01" "1,2,3\n4,5,6\n"};
  const char *names[] = {"header.csv", "by_name.csv", "by_index.csv", "plain.csv"};
  for (int i = 0; i < 4; i++) put(at("csv", names[i]), csv[i], strlen(csv[i] + 1) + 1);
}

int main(int argc, char **argv) {
  if (argc != 2) return fprintf(stderr, "usage: %s DIR\n", argv[0]), 2;
  snprintf(root, sizeof root, "%s", argv[1]);
  mkdir(root, 0755);
  char err[512];
  /* safetensors: every dtype, metadata, an empty tensor, a scalar */
  ax_state_dict *sd = ax_state_dict_new();
  ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16, AX_I32, AX_I64, AX_U8, AX_BOOL};
  const char *names[] = {"f32", "f64", "bf16", "f16", "i32", "i64", "u8", "bool"};
  ax_scope_begin();
  for (int i = 0; i < 8; i++)
    ax_state_dict_set(sd, names[i], ax_zeros(AX_SHAPE(2, 3), &(ax_tensor_opts){.dtype = dts[i]}));
  ax_state_dict_set(sd, "empty", ax_zeros(AX_SHAPE(0, 4), NULL));
  ax_state_dict_set(sd, "scalar", ax_scalar(3.5, NULL));
  ax_scope_end();
  ax_state_dict_set_meta(sd, "format", "pt");
  if (ax_save_safetensors(at("safetensors", "all_dtypes.safetensors"), sd, err, sizeof err)) return puts(err), 1;
  ax_state_dict_free(sd);
  /* GPT weights: with the config in __metadata__ */
  ax_gpt_config gc = {.n_layer = 2, .n_head = 2, .n_embd = 8, .block_size = 8, .vocab_size = 16};
  ax_module *g = ax_model_gpt(&gc);
  if (ax_gpt_save(g, at("gpt_config", "gpt_tiny.safetensors"), err, sizeof err)) return puts(err), 1;
  ax_module_free(g);
  /* IDX: u8 images and labels, i16, f32, f64 */
  uint8_t buf[4096], px[48];
  for (int i = 0; i < 48; i++) px[i] = (uint8_t)(i * 5);
  put(at("idx", "images_u8"), buf, idx(buf, 0x08, 3, (uint32_t[]){3, 4, 4}, px, 48));
  put(at("idx", "labels_u8"), buf, idx(buf, 0x08, 1, (uint32_t[]){3}, px, 3));
  put(at("idx", "i16"), buf, idx(buf, 0x0B, 2, (uint32_t[]){2, 3}, px, 12));
  put(at("idx", "f32"), buf, idx(buf, 0x0D, 1, (uint32_t[]){4}, px, 16));
  put(at("idx", "f64"), buf, idx(buf, 0x0E, 2, (uint32_t[]){1, 2}, px, 16));
  /* idx_gz: a mode byte, then the inflated content (fuzz_idx_gz.c) */
  buf[0] = 0x00;
  put(at("idx_gz", "images_u8"), buf, 1 + idx(buf + 1, 0x08, 3, (uint32_t[]){3, 4, 4}, px, 48));
  buf[0] = 0x80;
  put(at("idx_gz", "images_and_labels"), buf, 1 + idx(buf + 1, 0x08, 3, (uint32_t[]){3, 4, 4}, px, 48));
  buf[0] = 0x01;
  put(at("idx_gz", "cut_stream"), buf, 1 + idx(buf + 1, 0x08, 1, (uint32_t[]){40}, px, 40));
  /* text: a few fortunes */
  const char *text = "Q: Why did the chicken cross the road?\nA: To get to the other side.\n%\n"
                     "You will be successful in your work.\n%\nThe best way to predict the future is to invent it.\n";
  put(at("text", "fortunes.txt"), text, strlen(text));
  /* token shards: llm.c's header (magic 20240520, version 1, count), uint16 tokens */
  int32_t hdr[256] = {20240520, 1, 24};
  uint16_t tok[24];
  for (int i = 0; i < 24; i++) tok[i] = (uint16_t)(i * 37 % 50257);
  memcpy(buf, hdr, sizeof hdr);
  memcpy(buf + sizeof hdr, tok, sizeof tok);
  put(at("shards", "train_000.bin"), buf, sizeof hdr + sizeof tok);
  /* tokenizer: a WordPiece tokenizer.json (BertNormalizer, [CLS]/[SEP]), a byte-level BPE one
   * (merges as strings and as pairs), a vocab.txt */
  const char *wp = "{\"added_tokens\": [{\"id\": 0, \"content\": \"[PAD]\", \"special\": true, \"normalized\": false},"
                   " {\"id\": 2, \"content\": \"[CLS]\", \"special\": true}],"
                   " \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true,"
                   " \"strip_accents\": null, \"lowercase\": true}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
                   " \"post_processor\": {\"type\": \"BertProcessing\"}, \"decoder\": {\"type\": \"WordPiece\", \"cleanup\": true},"
                   " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\","
                   " \"max_input_chars_per_word\": 10, \"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2, \"[SEP]\": 3,"
                   " \"hello\": 4, \"world\": 5, \",\": 6, \"!\": 7, \"na\": 8, \"##ive\": 9, \"中\": 10, \"##l\": 11}}}";
  put(at("tokenizer", "wordpiece.json"), wp, strlen(wp));
  const char *bpe = "{\"added_tokens\": [{\"id\": 0, \"content\": \"<|endoftext|>\", \"special\": true}],"
                    " \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
                    " \"model\": {\"type\": \"BPE\", \"ignore_merges\": false, \"vocab\": {\"<|endoftext|>\": 0, \"H\": 1,"
                    " \"e\": 2, \"l\": 3, \"o\": 4, \"\u0120\": 5, \"He\": 6, \"ll\": 7, \"Hell\": 8, \"\u0120w\": 9, \"w\": 10},"
                    " \"merges\": [\"H e\", [\"l\", \"l\"], \"He ll\", \"\u0120 w\"]}}";
  put(at("tokenizer", "bpe.json"), bpe, strlen(bpe));
  const char *vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n,\n!\n";
  put(at("tokenizer", "vocab.txt"), vocab, strlen(vocab));
  array_seeds();
  return 0;
}
