/* SPDX-License-Identifier: BSD-3-Clause */
/* safetensors files: an 8-byte little-endian header size N, N bytes of JSON
 * {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}}, then the raw little-endian data. The loader
 * trusts nothing in the file: every size and offset is checked against the
 * file's length before anything is read. */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef AXON_HAVE_ZLIB
#include <zlib.h>
#endif

#include "core/internal.h"
#include "core/io/atomic_file.h"
#include "core/fail.h"

#define ST_MAX_HEADER (100u << 20) /* the format's own limit is 100 MB */

/* Axon's writer stores each tensor's CRC-32 (the zlib / IEEE 802.3 polynomial) of its
 * data bytes in __metadata__ as "axon.crc32.<name>": "<8 lowercase hex digits>"; the
 * reader verifies them and keeps them out of the returned dict's metadata. Files
 * without them (older Axon, other writers) load unverified. */
#define ST_CRC_PREFIX "axon.crc32."

static uint32_t st_crc32(uint32_t crc, const void *data, size_t n) {
#ifdef AXON_HAVE_ZLIB
  const unsigned char *p = data;
  while (n > 0) { /* zlib's length is a uInt */
    unsigned k = n > (1u << 30) ? (1u << 30) : (unsigned)n;
    crc = (uint32_t)crc32(crc, p, k);
    p += k;
    n -= k;
  }
  return crc;
#else
  static uint32_t table[256];
  static int ready;
  if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
  }
  const unsigned char *p = data;
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
#endif
}

static const struct {
  ax_dtype dt;
  const char *name;
} st_dtypes[] = {{AX_F32, "F32"}, {AX_F64, "F64"}, {AX_BF16, "BF16"}, {AX_F16, "F16"},
                 {AX_I32, "I32"}, {AX_I64, "I64"}, {AX_U8, "U8"},     {AX_BOOL, "BOOL"},
                 {AX_I8, "I8"}};

static const char *st_dtype_name(ax_dtype dt) {
  for (size_t i = 0; i < sizeof st_dtypes / sizeof *st_dtypes; i++)
    if (st_dtypes[i].dt == dt) return st_dtypes[i].name;
  return NULL;
}

static int st_dtype_of(const char *name, ax_dtype *dt) {
  for (size_t i = 0; i < sizeof st_dtypes / sizeof *st_dtypes; i++)
    if (strcmp(st_dtypes[i].name, name) == 0) {
      *dt = st_dtypes[i].dt;
      return 0;
    }
  return -1;
}


/* ---- writing ---- */

typedef struct st_buf {
  char *p;
  size_t n, cap;
} st_buf;

static int st_put(st_buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t c = b->cap ? b->cap * 2 : 4096;
    while (c < b->n + n + 1) c *= 2;
    char *q = realloc(b->p, c);
    if (!q) return -1;
    b->p = q;
    b->cap = c;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
  return 0;
}

static int st_putf(st_buf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= sizeof tmp) return -1;
  return st_put(b, tmp, (size_t)k);
}

static int st_put_json_string(st_buf *b, const char *s) {
  if (st_put(b, "\"", 1)) return -1;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      if (st_put(b, e, 2)) return -1;
    } else if (c < 0x20) {
      if (st_putf(b, "\\u%04x", c)) return -1;
    } else if (st_put(b, (const char *)&c, 1)) {
      return -1;
    }
  }
  return st_put(b, "\"", 1);
}

/* The header's metadata object: the state dict's entries, then a checksum placeholder
 * per tensor whose position goes to crc_at[i]. 0, or -1 when out of memory. */
static int st_header_meta(st_buf *h, const ax_state_dict *sd, size_t *crc_at) {
  int n = ax_state_dict_size(sd), nm = ax_state_dict_meta_count(sd);
  if (st_put(h, "\"__metadata__\":{", 16)) return -1;
  bool first = true;
  for (int i = 0; i < nm; i++) {
    const char *k = ax_state_dict_meta_key(sd, i);
    if (!strncmp(k, ST_CRC_PREFIX, strlen(ST_CRC_PREFIX))) continue; /* recomputed below */
    if ((!first && st_put(h, ",", 1)) || st_put_json_string(h, k) || st_put(h, ":", 1) ||
        st_put_json_string(h, ax_state_dict_meta(sd, k)))
      return -1;
    first = false;
  }
  for (int i = 0; i < n; i++) {
    char key[600];
    snprintf(key, sizeof key, ST_CRC_PREFIX "%s", ax_state_dict_name(sd, i));
    if ((!first && st_put(h, ",", 1)) || st_put_json_string(h, key) || st_put(h, ":\"", 2)) return -1;
    crc_at[i] = h->n;
    if (st_put(h, "00000000\"", 9)) return -1; /* filled in once the data is written */
    first = false;
  }
  return st_put(h, "}", 1);
}

/* The whole header: metadata, each tensor's dtype, shape and offsets, padding to 8 bytes.
 * 0; -1 when out of memory; -2 after writing the reason to err (a dtype safetensors lacks). */
static int st_header(st_buf *h, const ax_state_dict *sd, size_t *crc_at, char *err, size_t errlen) {
  int n = ax_state_dict_size(sd);
  if (st_put(h, "{", 1) || st_header_meta(h, sd, crc_at)) return -1;
  uint64_t off = 0;
  for (int i = 0; i < n; i++) {
    ax_tensor *t = ax_state_dict_tensor(sd, i);
    const char *dn = st_dtype_name(t->dtype);
    if (!dn) {
      ax__fail(err, errlen, "%s: dtype %s cannot be stored in safetensors", ax_state_dict_name(sd, i),
               ax_dtype_name(t->dtype));
      return -2;
    }
    uint64_t nb = (uint64_t)ax_numel(t) * ax_dtype_size(t->dtype);
    if (st_put(h, ",", 1) || st_put_json_string(h, ax_state_dict_name(sd, i)) ||
        st_putf(h, ":{\"dtype\":\"%s\",\"shape\":[", dn))
      return -1;
    for (int d = 0; d < t->ndim; d++)
      if (st_putf(h, d ? ",%lld" : "%lld", (long long)t->shape[d])) return -1;
    if (st_putf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + nb)))
      return -1;
    off += nb;
  }
  if (st_put(h, "}", 1)) return -1;
  while (h->n % 8) /* the data starts 8-byte aligned, as the reference writer does */
    if (st_put(h, " ", 1)) return -1;
  return 0;
}

int ax_save_safetensors(const char *path, const ax_state_dict *sd, char *err, size_t errlen) {
  int n = ax_state_dict_size(sd);
  st_buf h = {0};
  int rc = -1;
  ax_atomic_file f = {0};
  void *host = NULL;
  size_t *crc_at = calloc((size_t)(n > 0 ? n : 1), sizeof *crc_at); /* where each tensor's checksum goes */
  if (!crc_at) goto oom;
  int hr = st_header(&h, sd, crc_at, err, errlen);
  if (hr == -1) goto oom;
  if (hr) goto out;

  if (ax_atomic_open(&f, path, err, errlen)) goto out;
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
  if (ax_atomic_write(&f, len, 8) || ax_atomic_write(&f, h.p, h.n)) goto io;
  for (int i = 0; i < n; i++) {
    ax_tensor *t = ax_state_dict_tensor(sd, i);
    size_t nb = (size_t)ax_numel(t) * ax_dtype_size(t->dtype);
    void *q = realloc(host, nb ? nb : 1);
    if (!q) goto oom;
    host = q;
    if (ax_to_data(t, host, nb) != 0) {
      ax__fail(err, errlen, "%s: cannot read the tensor: %s", ax_state_dict_name(sd, i), ax_last_error());
      goto out;
    }
    if (ax_atomic_write(&f, host, nb)) goto io;
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", (unsigned)st_crc32(0, host, nb));
    memcpy(h.p + crc_at[i], hex, 8);
  }
  if (n > 0 && ax_atomic_rewrite(&f, 8, h.p, h.n)) goto io; /* the header, now with the checksums */
  if (ax_atomic_commit(&f, err, errlen)) goto out;
  rc = 0;
  goto out;
io:
  ax__fail(err, errlen, "%s: write failed: %s", path, strerror(errno));
  goto out;
oom:
  ax__fail(err, errlen, "%s: out of memory while writing", path);
out:
  if (rc) ax_atomic_abort(&f);
  free(h.p);
  free(host);
  free(crc_at);
  return rc;
}

/* ---- reading: a small JSON parser for exactly what the header may hold ---- */

typedef struct st_json {
  const char *p, *end, *base; /* base: the header's first byte, file byte 8 */
  char *err;
  size_t errlen;
  const char *path;
} st_json;

/* the file offset of the parser's position, for messages */
static long long st_at(const st_json *j) { return 8 + (long long)(j->p - j->base); }

static void st_ws(st_json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) j->p++;
}

static int st_expect(st_json *j, char c) {
  st_ws(j);
  if (j->p >= j->end || *j->p != c) {
    if (j->p >= j->end)
      ax__fail(j->err, j->errlen, "%s: bad safetensors header: expected '%c' at byte %lld, found the header's end", j->path,
             c, st_at(j));
    else
      ax__fail(j->err, j->errlen, "%s: bad safetensors header: expected '%c' at byte %lld, found '%c'", j->path, c,
             st_at(j), *j->p >= 0x20 && *j->p < 0x7f ? *j->p : '?');
    return -1;
  }
  j->p++;
  return 0;
}

/* Reads a JSON string into out (at most cap-1 bytes; longer is an error). */
static int st_string(st_json *j, char *out, size_t cap) {
  if (st_expect(j, '"')) return -1;
  size_t n = 0;
  while (j->p < j->end && *j->p != '"') {
    char c = *j->p++;
    if (c == '\\') {
      if (j->p >= j->end) break;
      char e = *j->p++;
      switch (e) {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'u': {
          if (j->end - j->p < 4) goto bad;
          unsigned v = 0;
          for (int k = 0; k < 4; k++) {
            char h = *j->p++;
            v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : (h | 32) >= 'a' && (h | 32) <= 'f' ? (h | 32) - 'a' + 10 : 99);
            if (v > 0xffff) goto bad;
          }
          if (v >= 0x80) goto bad; /* names we write are ASCII; refuse rather than mangle */
          c = (char)v;
          break;
        }
        default: c = e; /* \" \\ \/ */
      }
    }
    if (n + 1 >= cap) {
      ax__fail(j->err, j->errlen, "%s: bad safetensors header: a string is longer than %zu bytes (at byte %lld)", j->path,
             cap - 1, st_at(j));
      return -1;
    }
    out[n++] = c;
  }
  if (j->p >= j->end) goto bad;
  j->p++;
  out[n] = 0;
  return 0;
bad:
  ax__fail(j->err, j->errlen, "%s: bad safetensors header: unterminated or bad string (at byte %lld)", j->path, st_at(j));
  return -1;
}

static int st_uint(st_json *j, uint64_t *v) {
  st_ws(j);
  if (j->p >= j->end || *j->p < '0' || *j->p > '9') {
    ax__fail(j->err, j->errlen, "%s: bad safetensors header: expected a non-negative integer at byte %lld", j->path,
           st_at(j));
    return -1;
  }
  uint64_t x = 0;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    if (x > (UINT64_MAX - 9) / 10) {
      ax__fail(j->err, j->errlen, "%s: bad safetensors header: integer overflow at byte %lld", j->path, st_at(j));
      return -1;
    }
    x = x * 10 + (uint64_t)(*j->p++ - '0');
  }
  *v = x;
  return 0;
}

/* [a, b, ...] of at most max integers; returns the count or -1. */
static int st_uint_list(st_json *j, uint64_t *v, int max) {
  if (st_expect(j, '[')) return -1;
  st_ws(j);
  int n = 0;
  if (j->p < j->end && *j->p == ']') {
    j->p++;
    return 0;
  }
  for (;;) {
    if (n >= max) {
      ax__fail(j->err, j->errlen, "%s: bad safetensors header: more than %d entries in a list at byte %lld", j->path, max,
             st_at(j));
      return -1;
    }
    if (st_uint(j, &v[n++])) return -1;
    st_ws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      continue;
    }
    if (st_expect(j, ']')) return -1;
    return n;
  }
}

typedef struct st_entry {
  char name[512];
  ax_dtype dtype;
  int ndim;
  int64_t shape[AX_MAX_DIMS];
  uint64_t begin, end;
  long long at; /* where its entry starts in the file */
} st_entry;

static int st_parse_entry(st_json *j, st_entry *e) {
  bool has_dtype = false, has_shape = false, has_off = false;
  if (st_expect(j, '{')) return -1;
  for (;;) {
    char key[64], val[64];
    if (st_string(j, key, sizeof key) || st_expect(j, ':')) return -1;
    if (strcmp(key, "dtype") == 0) {
      if (st_string(j, val, sizeof val)) return -1;
      if (st_dtype_of(val, &e->dtype)) {
        ax__fail(j->err, j->errlen, "%s: %s: dtype %s is not supported", j->path, e->name, val);
        return -1;
      }
      has_dtype = true;
    } else if (strcmp(key, "shape") == 0) {
      uint64_t s[AX_MAX_DIMS];
      int n = st_uint_list(j, s, AX_MAX_DIMS);
      if (n < 0) return -1;
      e->ndim = n;
      for (int d = 0; d < n; d++) {
        if (s[d] > (1ULL << 40)) {
          ax__fail(j->err, j->errlen, "%s: %s: dimension %llu is too large", j->path, e->name, (unsigned long long)s[d]);
          return -1;
        }
        e->shape[d] = (int64_t)s[d];
      }
      has_shape = true;
    } else if (strcmp(key, "data_offsets") == 0) {
      uint64_t o[2];
      if (st_uint_list(j, o, 2) != 2) {
        ax__fail(j->err, j->errlen, "%s: %s: data_offsets must hold two integers", j->path, e->name);
        return -1;
      }
      e->begin = o[0];
      e->end = o[1];
      has_off = true;
    } else {
      ax__fail(j->err, j->errlen, "%s: %s: unexpected key \"%s\"", j->path, e->name, key);
      return -1;
    }
    st_ws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      continue;
    }
    if (st_expect(j, '}')) return -1;
    break;
  }
  if (!has_dtype || !has_shape || !has_off) {
    ax__fail(j->err, j->errlen, "%s: %s: needs dtype, shape and data_offsets", j->path, e->name);
    return -1;
  }
  return 0;
}

static int st_parse_meta(st_json *j, ax_state_dict *sd) {
  if (st_expect(j, '{')) return -1;
  st_ws(j);
  if (j->p < j->end && *j->p == '}') {
    j->p++;
    return 0;
  }
  for (;;) {
    char key[600];
    char *val = malloc(65536);
    if (!val) return -1;
    int bad = st_string(j, key, sizeof key) || st_expect(j, ':') || st_string(j, val, 65536) ||
              ax_state_dict_set_meta(sd, key, val);
    free(val);
    if (bad) return -1;
    st_ws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      continue;
    }
    return st_expect(j, '}');
  }
}

static int st_by_offset(const void *a, const void *b) {
  const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* "axon.crc32.<name>" -> the checksum; -1 when absent, -2 when malformed */
static long long st_crc_of(const ax_state_dict *sd, const char *name) {
  char key[600];
  snprintf(key, sizeof key, ST_CRC_PREFIX "%s", name);
  const char *v = ax_state_dict_meta(sd, key);
  if (!v) return -1;
  unsigned long long x = 0;
  for (int i = 0; i < 8; i++) {
    char c = v[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return -2;
    x = x * 16 + (unsigned)d;
  }
  return v[8] ? -2 : (long long)x;
}

/* Checks the checksum keys against the tensors and removes them from sd's metadata. */
static int st_take_crcs(ax_state_dict *sd, const st_entry *ents, int nents, long long *crcs, const char *path,
                        char *err, size_t errlen) {
  size_t np = strlen(ST_CRC_PREFIX);
  int have = 0;
  for (int k = 0; k < nents; k++) {
    crcs[k] = st_crc_of(sd, ents[k].name);
    if (crcs[k] == -2) {
      ax__fail(err, errlen, "%s: tensor %s: its checksum \"%s%s\" is not 8 lowercase hex digits", path, ents[k].name,
             ST_CRC_PREFIX, ents[k].name);
      return -1;
    }
    have += crcs[k] >= 0;
  }
  if (have && have != nents)
    for (int k = 0; k < nents; k++)
      if (crcs[k] < 0) {
        ax__fail(err, errlen, "%s: tensor %s has no checksum though the file's other tensors do", path, ents[k].name);
        return -1;
      }
  /* the metadata that stays is every key but the checksums (each of which names a tensor) */
  ax_state_dict *keep = ax_state_dict_new();
  if (!keep) return -1;
  for (int i = 0; i < ax_state_dict_meta_count(sd); i++) {
    const char *key = ax_state_dict_meta_key(sd, i);
    if (!strncmp(key, ST_CRC_PREFIX, np)) {
      bool known = false;
      for (int k = 0; k < nents && !known; k++) known = !strcmp(key + np, ents[k].name);
      if (!known) {
        ax__fail(err, errlen, "%s: metadata \"%s\" is the checksum of a tensor the file does not hold", path, key);
        ax_state_dict_free(keep);
        return -1;
      }
    } else if (ax_state_dict_set_meta(keep, key, ax_state_dict_meta(sd, key))) {
      ax_state_dict_free(keep);
      return -1;
    }
  }
  int rc = ax__state_dict_replace_meta(sd, keep);
  ax_state_dict_free(keep);
  return rc;
}

/* An open safetensors file being loaded: where its data section lies, and the caller's
 * error buffer. */
typedef struct st_file {
  FILE *fp;
  const char *path;
  char *err;
  size_t errlen;
  long fsize;
  uint64_t data_start, data_size; /* the data section: after the 8-byte length and the header */
} st_file;

static int st_read_failed(const st_file *f) {
  return ax__fail(f->err, f->errlen, "%s: read failed (%s)", f->path,
                  ferror(f->fp) ? strerror(errno) : "unexpected end of file");
}

/* Reads the header's length and text (NUL-terminated, malloc'ed into *hdr, *hlen bytes) and
 * sets the data section's bounds. 0, or -1 with a reason. */
static int st_read_header(st_file *f, char **hdr, uint64_t *hlen_out) {
  struct stat stt;
  if (fstat(fileno(f->fp), &stt) == 0 && S_ISDIR(stt.st_mode))
    return ax__fail(f->err, f->errlen, "%s: is a directory, not a safetensors file", f->path);
  if (fseek(f->fp, 0, SEEK_END) != 0) return st_read_failed(f);
  f->fsize = ftell(f->fp);
  if (f->fsize < 0 || fseek(f->fp, 0, SEEK_SET) != 0) return st_read_failed(f);
  unsigned char len8[8];
  if (f->fsize < 8 || fread(len8, 1, 8, f->fp) != 8)
    return ax__fail(f->err, f->errlen, "%s: not a safetensors file (%ld bytes, shorter than its 8-byte header size)",
                    f->path, f->fsize);
  uint64_t hlen = 0;
  for (int i = 0; i < 8; i++) hlen |= (uint64_t)len8[i] << (8 * i);
  if (hlen > ST_MAX_HEADER || hlen > (uint64_t)f->fsize - 8)
    return ax__fail(f->err, f->errlen, "%s: not a safetensors file or truncated (header of %llu bytes, file of %ld)",
                    f->path, (unsigned long long)hlen, f->fsize);
  *hdr = malloc(hlen + 1);
  if (!*hdr || fread(*hdr, 1, hlen, f->fp) != hlen) return st_read_failed(f);
  (*hdr)[hlen] = 0;
  f->data_start = 8 + hlen;
  f->data_size = (uint64_t)f->fsize - f->data_start;
  *hlen_out = hlen;
  return 0;
}

/* One "name": {...} member of the header: the metadata into sd, a tensor entry appended to
 * *ents (a name may appear once). 0, or -1 with a reason. */
static int st_parse_member(st_json *j, ax_state_dict *sd, st_entry **ents, int *nents, int *cap) {
  char name[512];
  st_ws(j);
  long long at = st_at(j);
  if (st_string(j, name, sizeof name) || st_expect(j, ':')) return -1;
  if (strcmp(name, "__metadata__") == 0) return st_parse_meta(j, sd);
  if (*nents == *cap) {
    *cap = *cap ? *cap * 2 : 64;
    st_entry *q = realloc(*ents, (size_t)*cap * sizeof **ents);
    if (!q) return -1;
    *ents = q;
  }
  st_entry *e = &(*ents)[*nents];
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->at = at;
  if (st_parse_entry(j, e)) return -1;
  for (int k = 0; k < *nents; k++)
    if (strcmp((*ents)[k].name, name) == 0)
      return ax__fail(j->err, j->errlen, "%s: tensor %s appears twice (at bytes %lld and %lld)", j->path, name,
                      (*ents)[k].at, at);
  (*nents)++;
  return 0;
}

/* The header object: its members, then nothing but padding. 0, or -1 with a reason. */
static int st_parse_header(st_json *j, ax_state_dict *sd, st_entry **ents, int *nents) {
  int cap = 0;
  if (st_expect(j, '{')) return -1;
  st_ws(j);
  if (j->p < j->end && *j->p == '}') {
    j->p++;
  } else {
    for (;;) {
      if (st_parse_member(j, sd, ents, nents, &cap)) return -1;
      st_ws(j);
      if (j->p < j->end && *j->p == ',') {
        j->p++;
        continue;
      }
      if (st_expect(j, '}')) return -1;
      break;
    }
  }
  st_ws(j);
  if (j->p < j->end) /* the reference writer pads with spaces only */
    return ax__fail(j->err, j->errlen,
                    "%s: bad safetensors header: unexpected '%c' at byte %lld after the header's closing '}'", j->path,
                    *j->p >= 0x20 && *j->p < 0x7f ? *j->p : '?', st_at(j));
  return 0;
}

/* Each entry's shape, byte count and offsets are consistent and inside the file. 0, or -1 with a reason. */
static int st_check_entries(const st_file *f, const st_entry *ents, int nents) {
  for (int k = 0; k < nents; k++) {
    const st_entry *e = &ents[k];
    /* sizes multiply with zero dims counted as 1: a tensor's strides multiply them all */
    uint64_t span = 1, numel = 1;
    for (int d = 0; d < e->ndim; d++) {
      uint64_t s = (uint64_t)e->shape[d];
      if (s > 1 && span > (uint64_t)AX_MAX_NUMEL / s)
        return ax__fail(f->err, f->errlen, "%s: tensor %s (header byte %lld): shape %s is too large", f->path, e->name,
                        e->at, ax__shp_raw(e->ndim, e->shape));
      span *= s > 1 ? s : 1;
      numel *= s;
    }
    uint64_t nb = numel * ax_dtype_size(e->dtype);
    if (e->end < e->begin || e->end - e->begin != nb)
      return ax__fail(
          f->err, f->errlen,
          "%s: tensor %s (header byte %lld): data_offsets [%llu, %llu] (%lld bytes) do not fit its %s shape %s (%llu bytes)",
          f->path, e->name, e->at, (unsigned long long)e->begin, (unsigned long long)e->end,
          e->end < e->begin ? -1LL : (long long)(e->end - e->begin), ax_dtype_name(e->dtype),
          ax__shp_raw(e->ndim, e->shape), (unsigned long long)nb);
    if (e->end > f->data_size)
      return ax__fail(
          f->err, f->errlen,
          "%s: tensor %s: data_offsets put it at file bytes [%llu, %llu), past the end of the file (%ld bytes): truncated",
          f->path, e->name, (unsigned long long)(f->data_start + e->begin),
          (unsigned long long)(f->data_start + e->end), f->fsize);
  }
  return 0;
}

/* The tensors cover the data section exactly: no gap, no overlap, nothing after. 0, or -1 with a reason. */
static int st_check_coverage(const st_file *f, st_entry *ents, int nents) {
  st_entry **order = malloc((size_t)(nents > 0 ? nents : 1) * sizeof *order);
  if (!order) return ax__fail(f->err, f->errlen, "%s: out of memory", f->path);
  for (int k = 0; k < nents; k++) order[k] = &ents[k];
  qsort(order, (size_t)nents, sizeof *order, st_by_offset);
  uint64_t pos = 0, start = f->data_start;
  int rc = 0;
  for (int k = 0; k < nents && rc == 0; k++) {
    st_entry *e = order[k];
    if (e->begin > pos)
      rc = ax__fail(f->err, f->errlen,
                    "%s: %llu bytes at file bytes [%llu, %llu) belong to no tensor (a gap before tensor %s)", f->path,
                    (unsigned long long)(e->begin - pos), (unsigned long long)(start + pos),
                    (unsigned long long)(start + e->begin), e->name);
    else if (e->begin < pos)
      rc = ax__fail(f->err, f->errlen,
                    "%s: tensor %s, file bytes [%llu, %llu), overlaps tensor %s, which ends at file byte %llu", f->path,
                    e->name, (unsigned long long)(start + e->begin), (unsigned long long)(start + e->end),
                    order[k - 1]->name, (unsigned long long)(start + pos));
    pos = e->end;
  }
  if (rc == 0 && pos != f->data_size)
    rc = ax__fail(f->err, f->errlen, "%s: %llu bytes of trailing data at file bytes [%llu, %ld) after the last tensor%s%s",
                  f->path, (unsigned long long)(f->data_size - pos), (unsigned long long)(start + pos), f->fsize,
                  nents ? " " : "", nents ? order[nents - 1]->name : "");
  free(order);
  return rc;
}

/* Reads each tensor's data, checks its checksum (crcs[k] < 0: none) and adds it to sd.
 * 0, or -1 with a reason. */
static int st_read_tensors(const st_file *f, ax_state_dict *sd, const st_entry *ents, int nents,
                           const long long *crcs) {
  void *data = NULL;
  int rc = 0;
  for (int k = 0; k < nents && rc == 0; k++) {
    const st_entry *e = &ents[k];
    size_t nb = (size_t)(e->end - e->begin);
    void *q = realloc(data, nb ? nb : 1);
    if (!q) {
      rc = ax__fail(f->err, f->errlen, "%s: out of memory", f->path);
      break;
    }
    data = q;
    if (fseek(f->fp, (long)(f->data_start + e->begin), SEEK_SET) != 0 || fread(data, 1, nb, f->fp) != nb) {
      rc = st_read_failed(f);
      break;
    }
    uint32_t got = crcs[k] >= 0 ? st_crc32(0, data, nb) : 0;
    if (crcs[k] >= 0 && got != (uint32_t)crcs[k]) {
      rc = ax__fail(f->err, f->errlen,
                    "%s: tensor %s: checksum mismatch (crc32 %08x in the header, %08x of its data at file bytes [%llu, "
                    "%llu)): the file is corrupt",
                    f->path, e->name, (unsigned)crcs[k], (unsigned)got, (unsigned long long)(f->data_start + e->begin),
                    (unsigned long long)(f->data_start + e->end));
      break;
    }
    ax_scope_begin(); /* the scope drops its reference; the dict keeps one */
    ax_tensor *t = ax_from_data(data, e->ndim, e->shape, &(ax_tensor_opts){.dtype = e->dtype});
    if (!t || ax_state_dict_set(sd, e->name, t))
      rc = ax__fail(f->err, f->errlen, "%s: %s: %s", f->path, e->name, t ? "out of memory" : ax_last_error());
    ax_scope_end();
  }
  free(data);
  return rc;
}

ax_state_dict *ax_load_safetensors(const char *path, char *err, size_t errlen) {
  st_file f = {fopen(path, "rb"), path, err, errlen, 0, 0, 0};
  if (!f.fp) {
    ax__fail(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  ax_state_dict *sd = NULL;
  char *hdr = NULL;
  st_entry *ents = NULL;
  long long *crcs = NULL;
  int nents = 0;
  uint64_t hlen = 0;
  if (st_read_header(&f, &hdr, &hlen)) goto fail;
  sd = ax_state_dict_new();
  if (!sd) goto fail;
  st_json j = {hdr, hdr + hlen, hdr, err, errlen, path};
  if (st_parse_header(&j, sd, &ents, &nents) || st_check_entries(&f, ents, nents) || st_check_coverage(&f, ents, nents))
    goto fail;
  crcs = malloc((size_t)(nents > 0 ? nents : 1) * sizeof *crcs);
  if (!crcs || st_take_crcs(sd, ents, nents, crcs, path, err, errlen)) goto fail;
  if (st_read_tensors(&f, sd, ents, nents, crcs)) goto fail;
  goto done;
fail:
  ax_state_dict_free(sd);
  sd = NULL;
done:
  fclose(f.fp);
  free(hdr);
  free(ents);
  free(crcs);
  return sd;
}
