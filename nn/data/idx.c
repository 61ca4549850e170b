/* SPDX-License-Identifier: BSD-3-Clause */
/* IDX files (http://yann.lecun.com/exdb/mnist/): magic 00 00 <type> <ndim>,
 * ndim big-endian u32 dims, then the elements big-endian. Every length is
 * checked before it is trusted: a plain file's size must equal what the header
 * promises before anything is allocated; a gzipped file (whose size is only
 * known after inflating) is read into a buffer that grows with the data
 * actually present, so a lying header cannot make us allocate its claim. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef AXON_HAVE_ZLIB
#include <zlib.h>
#endif

#include "axon/data.h"
#include "nn/data/internal.h"
#include "axon/ops.h"

/* The most data one IDX file may hold: 4 GiB, far above real ones (Fashion-MNIST's
 * training images are 47 MB, EMNIST's largest set under 1 GB), and small enough that a
 * lying header cannot ask for more memory than a workstation has. */
#define IDX_MAX_BYTES ((int64_t)1 << 32)
/* Deflate cannot expand one compressed byte into more than 1032 (RFC 1951: a 258-byte
 * match costs at least 2 bits); a gzip member also has an 18-byte frame. A header that
 * promises more than compressed size * 1032 is a lie we can see before inflating. */
#define GZ_MAX_RATIO 1032


/* One reader over plain and gzipped files. */
typedef struct idx_reader {
  FILE *f;
#ifdef AXON_HAVE_ZLIB
  gzFile gz;
#endif
  char why[256];
} idx_reader;

/* zlib's messages start with the path, which ours already name. */
static const char *gz_message(idx_reader *r, const char *m) {
  const char *p = strstr(m, ": ");
  snprintf(r->why, sizeof r->why, "gzip error: %s", p ? p + 2 : m);
  return r->why;
}

/* Bytes read (< n at the end of the data), or -1 on a read or decompression error. */
static int64_t rd(idx_reader *r, void *dst, int64_t n, const char **why) {
  int64_t got = 0;
  while (got < n) {
    int64_t want = n - got > (1 << 30) ? (1 << 30) : n - got;
    int64_t k;
#ifdef AXON_HAVE_ZLIB
    if (r->gz) {
      k = gzread(r->gz, (char *)dst + got, (unsigned)want);
      if (k < 0) {
        int code;
        *why = gz_message(r, gzerror(r->gz, &code));
        return -1;
      }
    } else
#endif
    {
      k = (int64_t)fread((char *)dst + got, 1, (size_t)want, r->f);
      if (k == 0 && ferror(r->f)) {
        *why = strerror(errno ? errno : EIO);
        return -1;
      }
    }
    if (k == 0) break;
    got += k;
  }
  return got;
}

/* A gzip stream that ends early reports "unexpected end of file" only when asked. */
static const char *gz_trailing_error(idx_reader *r) {
#ifdef AXON_HAVE_ZLIB
  if (r->gz) {
    int code;
    const char *m = gzerror(r->gz, &code);
    if (code != Z_OK) return gz_message(r, m);
  }
#endif
  (void)r;
  return NULL;
}

static void rd_close(idx_reader *r) {
  if (r->f) fclose(r->f);
#ifdef AXON_HAVE_ZLIB
  if (r->gz) gzclose(r->gz);
#endif
}

static int elem_type(unsigned code, ax_dtype *dt, int *size) {
  switch (code) {
    case 0x08: *dt = AX_U8; *size = 1; return 0;
    case 0x09: *dt = AX_I32; *size = 1; return 0;
    case 0x0B: *dt = AX_I32; *size = 2; return 0;
    case 0x0C: *dt = AX_I32; *size = 4; return 0;
    case 0x0D: *dt = AX_F32; *size = 4; return 0;
    case 0x0E: *dt = AX_F64; *size = 8; return 0;
    default: return -1;
  }
}

static uint64_t be(const unsigned char *p, int size) {
  uint64_t v = 0;
  for (int i = 0; i < size; i++) v = v << 8 | p[i];
  return v;
}

/* Big-endian file elements -> host values of dt, in place (dst is at least as wide). */
static void *convert(unsigned code, int size, int64_t n, const unsigned char *src) {
  if (code == 0x08) return (void *)src;
  void *out = malloc((size_t)(n > 0 ? n : 1) * (code == 0x0E ? 8 : 4));
  if (!out) return NULL;
  for (int64_t i = 0; i < n; i++) {
    uint64_t v = be(src + i * size, size);
    switch (code) {
      case 0x09: ((int32_t *)out)[i] = (int8_t)v; break;
      case 0x0B: ((int32_t *)out)[i] = (int16_t)v; break;
      case 0x0C: ((int32_t *)out)[i] = (int32_t)(uint32_t)v; break;
      case 0x0D: { uint32_t u = (uint32_t)v; memcpy((float *)out + i, &u, 4); break; }
      case 0x0E: memcpy((double *)out + i, &v, 8); break;
    }
  }
  return out;
}

/* Reads exactly `need` data bytes and checks nothing follows. Returns a malloc'd buffer or NULL. */
static unsigned char *read_data(idx_reader *r, int64_t need, const char *path, char *err, size_t errlen) {
  const char *why = NULL;
  int64_t cap = need < (1 << 20) ? need : (1 << 20);
  unsigned char *buf = malloc((size_t)(cap > 0 ? cap : 1));
  int64_t got = 0;
  while (buf) {
    int64_t k = rd(r, buf + got, cap - got, &why);
    if (k < 0) {
      free(buf);
      return fail(err, errlen, "%s: %s", path, why);
    }
    got += k;
    if (got < cap || cap == need) break;
    cap = cap * 2 < need ? cap * 2 : need;
    unsigned char *nb = realloc(buf, (size_t)cap);
    if (!nb) free(buf);
    buf = nb;
  }
  if (!buf) return fail(err, errlen, "%s: out of memory reading %lld bytes", path, (long long)need);
  unsigned char extra;
  int64_t more = got == need ? rd(r, &extra, 1, &why) : 0;
  const char *gz = more >= 0 ? gz_trailing_error(r) : NULL;
  if (more < 0 || gz) {
    free(buf);
    return fail(err, errlen, "%s: %s", path, more < 0 ? why : gz);
  }
  if (got != need || more != 0) {
    free(buf);
    return fail(err, errlen, "%s: %s (the header's dims need %lld bytes of data, the file has %s%lld)", path,
                got < need ? "truncated" : "trailing data", (long long)need, got < need ? "" : "more than ",
                (long long)got);
  }
  return buf;
}

static int is_gzip(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  unsigned char m[2] = {0, 0};
  size_t k = fread(m, 1, 2, f);
  fclose(f);
  return k == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* Opens path and reads its header: element code, size, dtype, ndim, shape, numel and the
 * data bytes it promises (checked against the cap, the plain file's size or the gzip
 * file's largest possible inflated size). 0, or -1 with a reason and r closed. */
typedef struct idx_header {
  unsigned code;
  int size, ndim;
  ax_dtype dt;
  int64_t shape[AX_MAX_DIMS], numel, need;
} idx_header;

static int idx_open(const char *path, idx_reader *r, idx_header *h, char *err, size_t errlen);

int ax__idx_peek(const char *path, ax_dtype *dt, int *ndim, int64_t *shape, char *err, size_t errlen) {
  if (!path) return ax__fail(err, errlen, "ax_idx_load: no path given");
  idx_reader r = {0};
  idx_header h;
  if (idx_open(path, &r, &h, err, errlen)) return -1;
  rd_close(&r);
  *dt = h.dt;
  *ndim = h.ndim;
  memcpy(shape, h.shape, sizeof h.shape);
  return 0;
}

ax_tensor *ax_idx_load(const char *path, char *err, size_t errlen) {
  if (!path) return fail(err, errlen, "ax_idx_load: no path given");
  idx_reader r = {0};
  idx_header h;
  if (idx_open(path, &r, &h, err, errlen)) return NULL;
  ax_tensor *out = NULL;
  void *host = NULL;
  unsigned char *data = read_data(&r, h.need, path, err, errlen);
  if (!data) goto out;
  host = convert(h.code, h.size, h.numel, data);
  if (!host) {
    ax__fail(err, errlen, "%s: out of memory", path);
    goto out;
  }
  out = ax_from_data(host, h.ndim, h.shape, &(ax_tensor_opts){.dtype = h.dt});
  if (!out) ax__fail(err, errlen, "%s: %s", path, ax_last_error());
out:
  if (host != data) free(host);
  free(data);
  rd_close(&r);
  return out;
}

/* Opens path for reading, through zlib when it is gzip-compressed. 0, or -1 with a reason. */
static int rd_open(const char *path, idx_reader *r, char *err, size_t errlen) {
  int gz = is_gzip(path);
  if (gz < 0) return ax__fail(err, errlen, "%s: %s", path, strerror(errno ? errno : ENOENT));
  if (gz) {
#ifdef AXON_HAVE_ZLIB
    r->gz = gzopen(path, "rb");
    if (!r->gz) return ax__fail(err, errlen, "%s: %s", path, strerror(errno ? errno : ENOMEM));
#else
    return ax__fail(err, errlen, "%s: gzip-compressed, but axon was built without zlib (gunzip it first)", path);
#endif
  } else {
    r->f = fopen(path, "rb");
    if (!r->f) return ax__fail(err, errlen, "%s: %s", path, strerror(errno ? errno : ENOENT));
  }
  return 0;
}

/* A short read of the header: the reader's error, or what was missing. Returns -1. */
static int short_header(idx_reader *r, const char *path, int64_t k, const char *why, const char *missing,
                        char *err, size_t errlen) {
  if (k < 0 || gz_trailing_error(r)) return ax__fail(err, errlen, "%s: %s", path, k < 0 ? why : gz_trailing_error(r));
  return ax__fail(err, errlen, "%s: %s", path, missing);
}

/* The magic and the dims, into hd (with numel and the data bytes they need). 0, or -1 with a reason. */
static int idx_read_header(idx_reader *r, const char *path, idx_header *hd, char *err, size_t errlen) {
  unsigned char head[4 + 4 * AX_MAX_DIMS];
  const char *why = "unexpected end of file";
  int64_t k = rd(r, head, 4, &why);
  if (k != 4) return short_header(r, path, k, why, "not an IDX file (shorter than the 4-byte magic)", err, errlen);
  ax_dtype dt;
  int size;
  int ndim = head[3];
  if (head[0] != 0 || head[1] != 0 || elem_type(head[2], &dt, &size) != 0)
    return ax__fail(err, errlen, "%s: not an IDX file (bad magic %02x %02x %02x %02x)", path, head[0], head[1],
                    head[2], head[3]);
  if (ndim < 1 || ndim > AX_MAX_DIMS)
    return ax__fail(err, errlen, "%s: IDX file with %d dims (1 to %d are supported)", path, ndim, AX_MAX_DIMS);
  k = rd(r, head + 4, 4 * ndim, &why);
  if (k != 4 * ndim)
    return short_header(r, path, k, why, "truncated header (fewer dims than the magic announces)", err, errlen);
  /* sizes multiply with zero sizes counted as 1 too: an empty [0, 2^31, 2^31, 2^31] holds
   * nothing, but its strides would overflow (the tensor's own cap refuses it) */
  int64_t numel = 1, span = 1;
  for (int i = 0; i < ndim; i++) {
    hd->shape[i] = (int64_t)be(head + 4 + 4 * i, 4);
    int64_t d = hd->shape[i] > 1 ? hd->shape[i] : 1;
    if (span > IDX_MAX_BYTES / size / d)
      return ax__fail(err, errlen, "%s: the header's dims overflow the IDX reader's limit (they need more than %lld "
                      "bytes of data, zero sizes counted as 1)", path, (long long)IDX_MAX_BYTES);
    span *= d;
    numel *= hd->shape[i];
  }
  hd->code = head[2];
  hd->size = size;
  hd->ndim = ndim;
  hd->dt = dt;
  hd->numel = numel;
  hd->need = numel * size;
  return 0;
}

/* The file holds the data the header announces: exactly, for a plain file; within zlib's
 * largest ratio, for a gzip file. 0, or -1 with a reason. */
static int idx_check_size(const idx_reader *r, const char *path, const idx_header *hd, char *err, size_t errlen) {
  struct stat st;
  if (!(r->f ? fstat(fileno(r->f), &st) == 0 : stat(path, &st) == 0)) return 0;
  int64_t need = hd->need;
  if (r->f) {
    /* a plain file's size is known: refuse a mismatch before allocating anything */
    int64_t have = (int64_t)st.st_size - 4 - 4 * hd->ndim;
    if (have != need)
      return ax__fail(err, errlen, "%s: %s (the header's dims need %lld bytes of data, the file has %lld)", path,
                      have < need ? "truncated" : "trailing data", (long long)need, (long long)have);
  } else if ((need - 1) / GZ_MAX_RATIO > (int64_t)st.st_size) {
    return ax__fail(err, errlen, "%s: truncated (the header's dims need %lld bytes of data; a gzip file of %lld bytes "
                    "inflates to at most %lld)", path, (long long)need, (long long)st.st_size,
                    (long long)st.st_size * GZ_MAX_RATIO);
  }
  return 0;
}

static int idx_open(const char *path, idx_reader *rp, idx_header *hd, char *err, size_t errlen) {
  idx_reader r = {0};
  if (rd_open(path, &r, err, errlen)) return -1;
  if (idx_read_header(&r, path, hd, err, errlen) || idx_check_size(&r, path, hd, err, errlen)) {
    rd_close(&r);
    return -1;
  }
  *rp = r;
  return 0;
}
