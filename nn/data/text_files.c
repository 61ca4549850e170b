/* SPDX-License-Identifier: BSD-3-Clause */
/* Finding the files of a text corpus: a file, a folder listed with fortune's
 * skip rules, or a glob (include/axon/text.h and docs/text-data.md say which
 * files and why). */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/data/text_files.h"

#define MAX_FOLDER_DEPTH 64

typedef struct text_file {
  char *path;
  dev_t dev;
  ino_t ino;
  bool link; /* reached through a symlink: dropped if its target is also listed */
  int order; /* position in the listing */
} text_file;

typedef struct file_list {
  text_file *v;
  int n, cap;
} file_list;

static int list_push(file_list *l, const char *path, const struct stat *st, bool link, char *err, size_t errlen) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    text_file *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) return ax__fail(err, errlen, "%s: out of memory", path);
    l->v = v;
    l->cap = cap;
  }
  char *p = strdup(path);
  if (!p) return ax__fail(err, errlen, "%s: out of memory", path);
  l->v[l->n] = (text_file){p, st->st_dev, st->st_ino, link, l->n};
  l->n++;
  return 0;
}

static void list_free(file_list *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i].path);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

/* Names a folder listing skips (see text.h): fortune's binary indices and UTF-8 twins. */
static bool skipped_name(const char *name) {
  return name[0] == '.' || ends_with(name, ".dat") || ends_with(name, ".u8");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int walk(const char *dir, int depth, file_list *l, char *err, size_t errlen) {
  if (depth > MAX_FOLDER_DEPTH) return ax__fail(err, errlen, "%s: folders nested too deeply", dir);
  DIR *d = opendir(dir);
  if (!d) return ax__fail(err, errlen, "%s: %s", dir, strerror(errno));
  char **names = NULL;
  int n = 0, cap = 0, rc = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (skipped_name(e->d_name)) continue; /* also "." and ".." */
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **v = realloc(names, (size_t)cap * sizeof *v);
      if (!v) {
        rc = ax__fail(err, errlen, "%s: out of memory", dir);
        break;
      }
      names = v;
    }
    if (!(names[n] = strdup(e->d_name))) {
      rc = ax__fail(err, errlen, "%s: out of memory", dir);
      break;
    }
    n++;
  }
  closedir(d);
  if (n > 0) qsort(names, (size_t)n, sizeof *names, cmp_str);
  size_t dlen = strlen(dir);
  for (int i = 0; i < n && rc == 0; i++) {
    size_t len = dlen + strlen(names[i]) + 2;
    char *p = malloc(len);
    if (!p) {
      rc = ax__fail(err, errlen, "%s: out of memory", dir);
      break;
    }
    snprintf(p, len, "%s%s%s", dir, dlen && dir[dlen - 1] == '/' ? "" : "/", names[i]);
    struct stat ls, st;
    if (lstat(p, &ls) == 0) {
      if (S_ISLNK(ls.st_mode)) {
        /* a link to a file counts (unless it duplicates one); links to folders are not
         * followed, so a listing cannot loop; dangling links are ignored */
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) rc = list_push(l, p, &st, true, err, errlen);
      } else if (S_ISDIR(ls.st_mode)) {
        if (strcmp(names[i], "off") != 0) rc = walk(p, depth + 1, l, err, errlen);
      } else if (S_ISREG(ls.st_mode)) {
        rc = list_push(l, p, &ls, false, err, errlen);
      }
    }
    free(p);
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

/* A path named by the user: a file is taken whatever its name. */
static int add_path(const char *path, file_list *l, char *err, size_t errlen) {
  struct stat st, ls;
  if (stat(path, &st) != 0) return ax__fail(err, errlen, "%s: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) return walk(path, 0, l, err, errlen);
  if (!S_ISREG(st.st_mode)) return ax__fail(err, errlen, "%s: not a regular file or folder", path);
  bool link = lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode);
  return list_push(l, path, &st, link, err, errlen);
}

static int add_pattern(const char *path, file_list *l, char *err, size_t errlen) {
  struct stat st;
  if (!strpbrk(path, "*?[") || stat(path, &st) == 0) return add_path(path, l, err, errlen);
  glob_t g;
  int rc = glob(path, 0, NULL, &g);
  if (rc == GLOB_NOMATCH) return ax__fail(err, errlen, "%s: no file matches this pattern", path);
  if (rc != 0) {
    globfree(&g);
    return ax__fail(err, errlen, "%s: cannot expand this pattern", path);
  }
  rc = 0;
  for (size_t i = 0; i < g.gl_pathc && rc == 0; i++) rc = add_path(g.gl_pathv[i], l, err, errlen);
  globfree(&g);
  return rc;
}

/* Same file (dev, inode) first, plain names before links, then listing order. */
static int cmp_identity(const void *pa, const void *pb) {
  const text_file *a = pa, *b = pb;
  if (a->dev != b->dev) return a->dev < b->dev ? -1 : 1;
  if (a->ino != b->ino) return a->ino < b->ino ? -1 : 1;
  if (a->link != b->link) return a->link ? 1 : -1;
  return a->order - b->order;
}

static int cmp_order(const void *a, const void *b) { return ((const text_file *)a)->order - ((const text_file *)b)->order; }

/* Keeps one name per file: a symlink or hard link to a file already listed adds nothing. */
static void dedupe(file_list *l) {
  if (l->n < 2) return;
  qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_identity);
  int k = 0;
  for (int i = 0; i < l->n; i++) {
    if (k > 0 && l->v[k - 1].dev == l->v[i].dev && l->v[k - 1].ino == l->v[i].ino)
      free(l->v[i].path);
    else
      l->v[k++] = l->v[i];
  }
  l->n = k;
  qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_order);
}

int ax__text_list(const char *path, char ***paths, int *n, char *err, size_t errlen) {
  file_list l = {0};
  *paths = NULL;
  *n = 0;
  int rc = add_pattern(path, &l, err, errlen);
  if (rc != 0) {
    list_free(&l);
    return -1;
  }
  dedupe(&l);
  char **v = malloc((size_t)(l.n ? l.n : 1) * sizeof *v);
  if (!v) {
    list_free(&l);
    return ax__fail(err, errlen, "%s: out of memory", path);
  }
  for (int i = 0; i < l.n; i++) v[i] = l.v[i].path; /* the strings move to the caller */
  free(l.v);
  *paths = v;
  *n = l.n;
  return 0;
}

void ax__text_list_free(char **paths, int n) {
  for (int i = 0; paths && i < n; i++) free(paths[i]);
  free(paths);
}
