/* SPDX-License-Identifier: BSD-3-Clause */
/* .npz archives (np.savez, np.savez_compressed): a zip whose members are .npy files,
 * stored or deflated (zip64 extra fields as numpy writes them). The central directory is
 * found through the end record, and every offset and size in it, in the zip64 fields
 * and in the local headers is checked against the file before it is used; a member's
 * CRC-32 is checked after it is read. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef AXON_HAVE_ZLIB
#include <zlib.h>
#endif

#include "axon/ops.h"
#include "nn/data/internal.h"

#define ZIP_MAX_MEMBER ((uint64_t)1 << 32)

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t u64(const uint8_t *p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }

typedef struct zip_entry {
  const char *name; /* not NUL-terminated: name_len bytes */
  size_t name_len;
  int method, flags;
  uint32_t crc;
  uint64_t csize, usize, offset;
} zip_entry;

/* The central directory's offset and size and the entry count; 0, or -1 with a reason. */
static int zip_find_cd(const uint8_t *b, size_t len, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count,
                       const char *path, char *err, size_t errlen) {
  if (len < 22) return ax__fail(err, errlen, "%s: not a zip archive (too short for an .npz)", path);
  size_t lo = len > 22 + 65535 ? len - 22 - 65535 : 0, e = len - 22 + 1;
  while (e-- > lo)
    if (u32(b + e) == 0x06054b50) break;
  if (e + 1 == lo || u32(b + e) != 0x06054b50)
    return ax__fail(err, errlen, "%s: not a zip archive (no end of central directory record)", path);
  *count = u16(b + e + 10), *cd_size = u32(b + e + 12), *cd_off = u32(b + e + 16);
  if (*count == 0xFFFF || *cd_size == 0xFFFFFFFF || *cd_off == 0xFFFFFFFF) { /* zip64 */
    if (e < 20 || u32(b + e - 20) != 0x07064b50)
      return ax__fail(err, errlen, "%s: corrupt zip: zip64 values without a zip64 locator", path);
    uint64_t z = u64(b + e - 20 + 8);
    if (z > len || len - z < 56 || u32(b + z) != 0x06064b50)
      return ax__fail(err, errlen, "%s: corrupt zip: bad zip64 end record", path);
    *count = u64(b + z + 32), *cd_size = u64(b + z + 40), *cd_off = u64(b + z + 48);
  }
  if (*cd_off > len || *cd_size > len - *cd_off)
    return ax__fail(err, errlen, "%s: corrupt zip: the central directory lies outside the file", path);
  return 0;
}

/* The zip64 extra field of a central-directory entry: the 0xFFFFFFFF fields, in order. */
static int zip64_extra(const uint8_t *x, size_t n, zip_entry *z, bool big_u, bool big_c, bool big_o) {
  for (size_t p = 0; p + 4 <= n;) {
    uint16_t id = u16(x + p), sz = u16(x + p + 2);
    if (sz > n - p - 4) return -1;
    if (id == 1) {
      size_t q = p + 4, end = q + sz;
      if (big_u) { if (end - q < 8) return -1; z->usize = u64(x + q); q += 8; }
      if (big_c) { if (end - q < 8) return -1; z->csize = u64(x + q); q += 8; }
      if (big_o) { if (end - q < 8) return -1; z->offset = u64(x + q); }
      return 0;
    }
    p += 4 + (size_t)sz;
  }
  return big_u || big_c || big_o ? -1 : 0;
}

/* The entry at *pos of the central directory (cd, cd_size bytes); advances *pos. */
static int zip_entry_at(const uint8_t *cd, uint64_t cd_size, uint64_t *pos, zip_entry *z, const char *path, char *err,
                        size_t errlen) {
  uint64_t p = *pos;
  if (cd_size - p < 46 || u32(cd + p) != 0x02014b50)
    return ax__fail(err, errlen, "%s: corrupt zip: bad central directory entry", path);
  const uint8_t *h = cd + p;
  size_t nl = u16(h + 28), xl = u16(h + 30), cl = u16(h + 32);
  if (cd_size - p - 46 < nl + xl + cl) return ax__fail(err, errlen, "%s: corrupt zip: truncated central directory", path);
  *z = (zip_entry){.name = (const char *)h + 46, .name_len = nl, .flags = u16(h + 8), .method = u16(h + 10),
                   .crc = u32(h + 16), .csize = u32(h + 20), .usize = u32(h + 24), .offset = u32(h + 42)};
  if (zip64_extra(h + 46 + nl, xl, z, z->usize == 0xFFFFFFFF, z->csize == 0xFFFFFFFF, z->offset == 0xFFFFFFFF))
    return ax__fail(err, errlen, "%s: corrupt zip: bad zip64 extra field", path);
  *pos = p + 46 + nl + xl + cl;
  return 0;
}

#ifdef AXON_HAVE_ZLIB
static int inflate_raw(const uint8_t *src, uint64_t csize, uint8_t *dst, uint64_t usize) {
  z_stream s = {0};
  if (inflateInit2(&s, -15) != Z_OK) return -1;
  s.next_in = (Bytef *)src, s.avail_in = (uInt)csize;
  s.next_out = dst, s.avail_out = (uInt)usize;
  int r = inflate(&s, Z_FINISH);
  uint64_t out = s.total_out;
  inflateEnd(&s);
  return r == Z_STREAM_END && out == usize ? 0 : -1;
}
#endif

/* The member's bytes (usize of them, malloc'ed), from its local header on. */
static uint8_t *zip_member(const uint8_t *b, size_t len, const zip_entry *z, const char *path, char *err, size_t errlen) {
  if (z->flags & 1) return fail(err, errlen, "%s: member '%.*s' is encrypted", path, (int)z->name_len, z->name);
  if (z->method != 0 && z->method != 8)
    return fail(err, errlen, "%s: member '%.*s' uses zip method %d (only stored and deflate are read)", path,
                (int)z->name_len, z->name, z->method);
  if (z->offset > len || len - z->offset < 30 || u32(b + z->offset) != 0x04034b50)
    return fail(err, errlen, "%s: corrupt zip: bad local header of '%.*s'", path, (int)z->name_len, z->name);
  uint64_t data = z->offset + 30 + u16(b + z->offset + 26) + u16(b + z->offset + 28);
  if (data > len || z->csize > len - data)
    return fail(err, errlen, "%s: corrupt zip: member '%.*s' runs past the end of the file", path, (int)z->name_len, z->name);
  if (z->usize > ZIP_MAX_MEMBER || (z->method == 0 && z->usize != z->csize) ||
      (z->method == 8 && z->usize > z->csize * 1032 + 64))
    return fail(err, errlen, "%s: corrupt zip: impossible sizes for '%.*s'", path, (int)z->name_len, z->name);
  uint8_t *out = malloc(z->usize + 1);
  if (!out) return fail(err, errlen, "%s: out of memory", path);
  int bad = 0;
  if (z->method == 0) memcpy(out, b + data, z->usize);
#ifdef AXON_HAVE_ZLIB
  else bad = inflate_raw(b + data, z->csize, out, z->usize);
  if (!bad && crc32(0, out, (uInt)z->usize) != z->crc) bad = 2;
#else
  else bad = 3;
#endif
  if (bad) {
    free(out);
    return fail(err, errlen, "%s: member '%.*s': %s", path, (int)z->name_len, z->name,
                bad == 3 ? "deflated, and this build has no zlib" : bad == 2 ? "CRC-32 mismatch (corrupt)" : "corrupt deflate data");
  }
  return out;
}

/* Whether the entry is member `name` (with or without its .npy suffix). */
static bool entry_is(const zip_entry *z, const char *name) {
  size_t n = strlen(name);
  if (z->name_len == n && !memcmp(z->name, name, n)) return true;
  return z->name_len == n + 4 && !memcmp(z->name, name, n) && !memcmp(z->name + n, ".npy", 4);
}

ax_tensor *ax__npz_parse(const uint8_t *b, size_t len, const char *path, const char *name, char *err, size_t errlen) {
  uint64_t cd_off = 0, cd_size = 0, count = 0, pos = 0;
  if (zip_find_cd(b, len, &cd_off, &cd_size, &count, path, err, errlen)) return NULL;
  char names[512] = "";
  size_t nn = 0;
  for (uint64_t i = 0; i < count; i++) {
    zip_entry z = {0};
    if (zip_entry_at(b + cd_off, cd_size, &pos, &z, path, err, errlen)) return NULL;
    if (entry_is(&z, name)) {
      uint8_t *m = zip_member(b, len, &z, path, err, errlen);
      if (!m) return NULL;
      char what[600];
      snprintf(what, sizeof what, "%s: member '%s'", path, name);
      ax_tensor *t = ax__npy_parse(m, z.usize, what, err, errlen);
      free(m);
      return t;
    }
    if (nn < sizeof names - 64)
      nn += (size_t)snprintf(names + nn, sizeof names - nn, "%s'%.*s'", nn ? ", " : "", (int)(z.name_len < 48 ? z.name_len : 48), z.name ? z.name : "");
  }
  return fail(err, errlen, "%s has no member '%s' (members: %s)", path, name, nn ? names : "none");
}

ax_tensor *ax_npz_load(const char *path, const char *name, char *err, size_t errlen) {
  if (!name || !*name) return fail(err, errlen, "%s: no member name given", path);
  uint8_t *b;
  size_t len;
  if (ax__read_whole_file(path, &b, &len, err, errlen)) return NULL;
  ax_tensor *t = ax__npz_parse(b, len, path, name, err, errlen);
  free(b);
  return t;
}
