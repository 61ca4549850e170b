/* SPDX-License-Identifier: BSD-3-Clause */
/* NumPy arrays: .npy files (format versions 1, 2 and 3) and .npz archives (a zip of .npy
 * members, stored or deflated). Every length is checked before it is trusted: the file is
 * read whole (capped), the header's shape must describe exactly the bytes that follow it,
 * and every offset and size of the zip's central directory and local headers must lie
 * inside the file before anything is read there. */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef AXON_HAVE_ZLIB
#include <zlib.h>
#endif

#include "axon/ops.h"
#include "nn/data/internal.h"

/* The most one array (or one archive) may hold: 4 GiB, as for IDX files. */
#define NPY_MAX_BYTES ((uint64_t)1 << 32)
#define NPY_MAX_HEADER (1 << 20)

int ax__read_whole_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) return ax__fail(err, errlen, "%s: cannot open it", path);
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return ax__fail(err, errlen, "%s: not a regular file", path);
  }
  if ((uint64_t)st.st_size > NPY_MAX_BYTES) {
    fclose(f);
    return ax__fail(err, errlen, "%s: %lld bytes, above the 4 GiB limit", path, (long long)st.st_size);
  }
  uint8_t *b = malloc((size_t)st.st_size + 1);
  size_t got = b ? fread(b, 1, (size_t)st.st_size, f) : 0;
  fclose(f);
  if (!b || got != (size_t)st.st_size) {
    free(b);
    return ax__fail(err, errlen, "%s: %s", path, b ? "read error" : "out of memory");
  }
  *out = b;
  *len = got;
  return 0;
}

/* ---- the .npy header: a Python dict literal ---- */

typedef struct npy_header {
  char kind, order; /* 'b' 'u' 'i' 'f', '<' '>' '|' '=' */
  int size;         /* bytes per element */
  bool fortran;
  int ndim;
  int64_t shape[AX_MAX_DIMS];
} npy_header;

/* The value after 'key': in the dict h (NUL-terminated), or NULL. */
static const char *dict_value(const char *h, const char *key) {
  char q[40];
  for (int quote = 0; quote < 2; quote++) {
    snprintf(q, sizeof q, quote ? "\"%s\"" : "'%s'", key);
    const char *p = strstr(h, q);
    if (!p) continue;
    p += strlen(q);
    while (*p == ' ') p++;
    if (*p++ != ':') return NULL;
    while (*p == ' ') p++;
    return p;
  }
  return NULL;
}

static int parse_descr(const char *v, npy_header *hd, const char *what, char *err, size_t errlen) {
  if (!v) return ax__fail(err, errlen, "%s: the .npy header has no 'descr'", what);
  if (*v == '[') return ax__fail(err, errlen, "%s: structured arrays (a list 'descr') are not supported", what);
  if (*v != '\'' && *v != '"') return ax__fail(err, errlen, "%s: bad 'descr' in the .npy header", what);
  char q = *v++, d[16];
  int n = 0;
  while (v[n] && v[n] != q && n < 15) n++;
  if (v[n] != q) return ax__fail(err, errlen, "%s: bad 'descr' in the .npy header", what);
  memcpy(d, v, (size_t)n);
  d[n] = 0;
  if (d[0] && d[1] == 'O')
    return ax__fail(err, errlen, "%s: unsupported dtype '%s': object arrays cannot be read (save numbers)", what, d);
  if (n < 3 || !strchr("<>|=", d[0]) || !isdigit((unsigned char)d[2]) || strlen(d) > 4)
    return ax__fail(err, errlen, "%s: unsupported dtype '%s' (supported: b1, u1, u2, u4, i1, i2, i4, i8, f2, f4, f8)",
                    what, d);
  hd->order = d[0], hd->kind = d[1], hd->size = atoi(d + 2);
  static const char *ok[] = {"b1", "u1", "u2", "u4", "i1", "i2", "i4", "i8", "f2", "f4", "f8"};
  bool known = false;
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) known |= !strcmp(d + 1, ok[i]);
  if (!known)
    return ax__fail(err, errlen, "%s: unsupported dtype '%s' (supported: b1, u1, u2, u4, i1, i2, i4, i8, f2, f4, f8)",
                    what, d);
  if (d[0] == '>' && hd->size > 1)
    return ax__fail(err, errlen, "%s: big-endian dtype '%s' is not supported (save it little-endian)", what, d);
  return 0;
}

static int parse_shape(const char *v, npy_header *hd, const char *what, char *err, size_t errlen) {
  if (!v || *v != '(') return ax__fail(err, errlen, "%s: the .npy header has no 'shape' tuple", what);
  v++;
  hd->ndim = 0;
  for (;;) {
    while (*v == ' ' || *v == ',') v++;
    if (*v == ')') break;
    if (!isdigit((unsigned char)*v)) return ax__fail(err, errlen, "%s: bad 'shape' in the .npy header", what);
    if (hd->ndim == AX_MAX_DIMS) return ax__fail(err, errlen, "%s: more than %d dims", what, AX_MAX_DIMS);
    char *end;
    unsigned long long d = strtoull(v, &end, 10);
    if (d > NPY_MAX_BYTES) return ax__fail(err, errlen, "%s: dim %llu is too large", what, d);
    hd->shape[hd->ndim++] = (int64_t)d;
    v = end;
    if (*v && *v != ',' && *v != ')' && *v != ' ') return ax__fail(err, errlen, "%s: bad 'shape' in the .npy header", what);
    if (!*v) return ax__fail(err, errlen, "%s: bad 'shape' in the .npy header", what);
  }
  return 0;
}

/* The header of buf; *data_off gets where the elements start. */
static int npy_parse_header(const uint8_t *b, size_t len, npy_header *hd, size_t *data_off, const char *what, char *err,
                            size_t errlen) {
  if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0) return ax__fail(err, errlen, "%s: not a .npy file (bad magic)", what);
  int major = b[6];
  if (major < 1 || major > 3) return ax__fail(err, errlen, "%s: .npy format version %d is not supported", what, major);
  size_t hl, start = major == 1 ? 10 : 12;
  if (major == 1) hl = (size_t)b[8] | (size_t)b[9] << 8;
  else if (len < 12) return ax__fail(err, errlen, "%s: truncated .npy header", what);
  else hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
  if (hl > NPY_MAX_HEADER || hl > len - start)
    return ax__fail(err, errlen, "%s: truncated .npy header (%zu bytes promised, %zu there)", what, hl, len - start);
  char *h = malloc(hl + 1);
  if (!h) return ax__fail(err, errlen, "%s: out of memory", what);
  memcpy(h, b + start, hl);
  h[hl] = 0;
  for (size_t i = 0; i < hl; i++) if (!h[i]) h[i] = ' ';
  const char *fo = dict_value(h, "fortran_order");
  int rc = parse_descr(dict_value(h, "descr"), hd, what, err, errlen);
  if (!rc && (!fo || (strncmp(fo, "False", 5) && strncmp(fo, "True", 4))))
    rc = ax__fail(err, errlen, "%s: the .npy header has no 'fortran_order'", what);
  else if (!rc && !strncmp(fo, "True", 4))
    rc = ax__fail(err, errlen, "%s: Fortran-order arrays are not supported (save it in C order: np.ascontiguousarray)", what);
  if (!rc) rc = parse_shape(dict_value(h, "shape"), hd, what, err, errlen);
  free(h);
  *data_off = start + hl;
  return rc;
}

/* ---- the elements ---- */

static float half_to_float(uint16_t h) {
  int e = h >> 10 & 31, m = h & 1023;
  float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
  return h >> 15 ? -v : v;
}

static ax_dtype out_dtype(const npy_header *hd) {
  switch (hd->kind) {
    case 'b': return AX_BOOL;
    case 'f': return hd->size == 8 ? AX_F64 : AX_F32;
    case 'u': return hd->size == 1 ? AX_U8 : hd->size == 2 ? AX_I32 : AX_I64;
    default: return hd->size <= 4 ? AX_I32 : AX_I64;
  }
}

/* Element i of src (described by hd) into dst of out_dtype(hd). */
static void convert_one(const npy_header *hd, const uint8_t *s, void *dst, int64_t i) {
  int64_t v = 0;
  switch (hd->kind) {
    case 'f':
      if (hd->size == 2) { uint16_t h; memcpy(&h, s, 2); ((float *)dst)[i] = half_to_float(h); }
      else if (hd->size == 4) memcpy((float *)dst + i, s, 4);
      else memcpy((double *)dst + i, s, 8);
      return;
    case 'b': ((uint8_t *)dst)[i] = s[0] != 0; return;
    case 'u':
      if (hd->size == 1) { ((uint8_t *)dst)[i] = s[0]; return; }
      if (hd->size == 2) { uint16_t u; memcpy(&u, s, 2); v = u; }
      else { uint32_t u; memcpy(&u, s, 4); v = u; }
      break;
    default:
      if (hd->size == 1) v = (int8_t)s[0];
      else if (hd->size == 2) { int16_t x; memcpy(&x, s, 2); v = x; }
      else if (hd->size == 4) { int32_t x; memcpy(&x, s, 4); v = x; }
      else memcpy(&v, s, 8);
  }
  if (out_dtype(hd) == AX_I32) ((int32_t *)dst)[i] = (int32_t)v;
  else ((int64_t *)dst)[i] = v;
}

ax_tensor *ax__npy_parse(const uint8_t *b, size_t len, const char *what, char *err, size_t errlen) {
  npy_header hd = {0};
  size_t off = 0;
  if (npy_parse_header(b, len, &hd, &off, what, err, errlen)) return NULL;
  uint64_t n = 1;
  for (int i = 0; i < hd.ndim; i++) {
    if (hd.shape[i] != 0 && n > NPY_MAX_BYTES / (uint64_t)hd.shape[i])
      return fail(err, errlen, "%s: the shape's %d dims hold too many elements", what, hd.ndim);
    n *= (uint64_t)hd.shape[i];
  }
  if (n > NPY_MAX_BYTES / (uint64_t)hd.size) return fail(err, errlen, "%s: the array is above the 4 GiB limit", what);
  if (len - off != n * (uint64_t)hd.size)
    return fail(err, errlen, "%s: the header promises %llu bytes of data, the file holds %zu (truncated or corrupt)",
                what, (unsigned long long)(n * (uint64_t)hd.size), len - off);
  ax_dtype dt = out_dtype(&hd);
  void *dst = malloc((size_t)(n ? n : 1) * ax_dtype_size(dt));
  if (!dst) return fail(err, errlen, "%s: out of memory", what);
  for (uint64_t i = 0; i < n; i++) convert_one(&hd, b + off + i * (uint64_t)hd.size, dst, (int64_t)i);
  ax_tensor *t = ax_from_data(dst, hd.ndim, hd.shape, &(ax_tensor_opts){.dtype = dt});
  free(dst);
  if (!t) return fail(err, errlen, "%s: cannot make the tensor (%s)", what, ax_last_error());
  return t;
}

ax_tensor *ax_npy_load(const char *path, char *err, size_t errlen) {
  uint8_t *b;
  size_t len;
  if (ax__read_whole_file(path, &b, &len, err, errlen)) return NULL;
  ax_tensor *t = ax__npy_parse(b, len, path, err, errlen);
  free(b);
  return t;
}
