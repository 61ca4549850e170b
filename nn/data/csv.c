/* SPDX-License-Identifier: BSD-3-Clause */
/* CSV files of numbers (include/axon/data.h: ax_csv_load). The file is read whole and cut
 * into cells in place; every row must have the first row's column count, and every cell
 * must be a number, or the error names the file, the line and the column. */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/ops.h"
#include "nn/data/internal.h"

#define CSV_MAX_COLS 100000

typedef struct csv_state {
  const char *path;
  char delim;
  int ncols, label;       /* columns per row, the label column */
  char **cells;           /* the current row's cells (ncols + 1 slots) */
  float *x;               /* rows * (ncols - 1) */
  int64_t *y;
  int64_t rows, cap;
} csv_state;

/* Cuts line (NUL-terminated, modified) into at most max cells; returns the count (max + 1
 * when there are more). A cell is trimmed of spaces; "..." quotes are removed ("" -> "). */
static int split_cells(char *line, char delim, char **cells, int max) {
  int n = 0;
  char *p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t') p++;
    char *start = p, *w = p;
    if (*p == '"') {
      for (p++; *p && !(*p == '"' && p[1] != '"'); p++) *w++ = (*p == '"' ? *++p : *p);
      if (*p == '"') p++;
      while (*p && *p != delim) p++;
    } else {
      while (*p && *p != delim) p++;
      w = p;
    }
    char *e = w;
    while (e > start && (e[-1] == ' ' || e[-1] == '\t')) e--;
    char next = *p;
    *e = 0;
    if (n < max) cells[n] = start;
    n++;
    if (!next) return n > max ? max + 1 : n;
    p++;
  }
}

static bool parse_number(const char *s, double *v) {
  if (!*s) return false;
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  return *end == 0 && end != s;
}

/* The label column from o->label_col against the header's names (NULL: no header). */
static int find_label(csv_state *st, const char *label_col, char **names, char *err, size_t errlen) {
  if (!label_col) return st->label = st->ncols - 1, 0;
  bool digits = *label_col != 0;
  for (const char *c = label_col; *c; c++) digits &= isdigit((unsigned char)*c) != 0;
  for (int i = 0; names && i < st->ncols; i++)
    if (!strcmp(names[i], label_col)) return st->label = i, 0;
  if (digits && atol(label_col) < st->ncols) return st->label = atoi(label_col), 0;
  return ax__fail(err, errlen, "%s: no label column '%s' (%s%d columns)", st->path, label_col,
                  names ? "the header does not name it; " : "no header; ", st->ncols);
}

static int add_row(csv_state *st, int64_t line, char *err, size_t errlen) {
  int nf = st->ncols - 1;
  if (st->rows == st->cap) {
    int64_t cap = st->cap ? st->cap * 2 : 256;
    float *x = realloc(st->x, (size_t)cap * (size_t)(nf ? nf : 1) * sizeof *x);
    if (x) st->x = x;
    int64_t *y = x ? realloc(st->y, (size_t)cap * sizeof *y) : NULL;
    if (!y) return ax__fail(err, errlen, "%s: out of memory at line %lld", st->path, (long long)line);
    st->y = y, st->cap = cap;
  }
  for (int c = 0, f = 0; c < st->ncols; c++) {
    double v;
    if (!parse_number(st->cells[c], &v) || !isfinite(v))
      return ax__fail(err, errlen, "%s: line %lld, column %d: '%.40s' is not a %snumber", st->path, (long long)line,
                      c + 1, st->cells[c], parse_number(st->cells[c], &v) ? "finite " : "");
    if (c != st->label) {
      st->x[st->rows * nf + f++] = (float)v;
    } else if (v < 0 || v != floor(v) || v > 1e9) {
      return ax__fail(err, errlen, "%s: line %lld, column %d: label '%.40s' is not a whole number in [0, 1e9]",
                      st->path, (long long)line, c + 1, st->cells[c]);
    } else {
      st->y[st->rows] = (int64_t)v;
    }
  }
  st->rows++;
  return 0;
}

/* The first non-empty line: the column count, the header (or not) and the label column. */
static int first_row(csv_state *st, char *line, int64_t lineno, const ax_csv_opts *o, bool *is_header, char *err,
                     size_t errlen) {
  int n = split_cells(line, st->delim, st->cells, CSV_MAX_COLS);
  if (n > CSV_MAX_COLS) return ax__fail(err, errlen, "%s: more than %d columns", st->path, CSV_MAX_COLS);
  if (n < 2) return ax__fail(err, errlen, "%s: line %lld has %d column: a feature and a label column are needed",
                             st->path, (long long)lineno, n);
  st->ncols = n;
  bool numeric = true;
  double v;
  for (int c = 0; c < n; c++) numeric &= parse_number(st->cells[c], &v);
  *is_header = o->header == 1 || (o->header < 0 && !numeric);
  return find_label(st, o->label_col, *is_header ? st->cells : NULL, err, errlen);
}

static int csv_rows(csv_state *st, char *b, size_t len, const ax_csv_opts *o, char *err, size_t errlen) {
  int64_t lineno = 0;
  for (char *p = b, *end = b + len; p < end;) {
    char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
    lineno++;
    *le = 0;
    if (le > p && le[-1] == '\r') le[-1] = 0;
    char *line = p;
    p = le + 1;
    while (*line == ' ' || *line == '\t') line++;
    if (!*line) continue;
    if (!st->ncols) {
      bool header = false;
      if (first_row(st, line, lineno, o, &header, err, errlen)) return -1;
      if (header) continue;
      if (add_row(st, lineno, err, errlen)) return -1;
      continue;
    }
    int n = split_cells(line, st->delim, st->cells, st->ncols);
    if (n != st->ncols)
      return ax__fail(err, errlen, "%s: line %lld has %s%d columns, the first row has %d (a ragged row)", st->path,
                      (long long)lineno, n > st->ncols ? "more than " : "", n > st->ncols ? st->ncols : n, st->ncols);
    if (add_row(st, lineno, err, errlen)) return -1;
  }
  return st->rows > 0 ? 0 : ax__fail(err, errlen, "%s: no data rows", st->path);
}

int ax_csv_load(const char *path, const ax_csv_opts *o, ax_tensor **x, ax_tensor **y, char *err, size_t errlen) {
  ax_csv_opts d = {.header = -1};
  if (!o) o = &d;
  if (!x || !y) return ax__fail(err, errlen, "ax_csv_load: x and y are required");
  uint8_t *b;
  size_t len;
  if (ax__read_whole_file(path, &b, &len, err, errlen)) return -1;
  b[len] = 0;
  if (memchr(b, 0, len)) {
    free(b);
    return ax__fail(err, errlen, "%s: a NUL byte: not a text file", path);
  }
  csv_state st = {.path = path, .delim = o->delimiter ? o->delimiter : ','};
  st.cells = malloc((CSV_MAX_COLS + 1) * sizeof *st.cells);
  int rc = st.cells ? csv_rows(&st, (char *)b, len, o, err, errlen) : ax__fail(err, errlen, "%s: out of memory", path);
  if (rc == 0) {
    *x = ax_from_data(st.x, AX_SHAPE(st.rows, st.ncols - 1), &(ax_tensor_opts){.dtype = AX_F32});
    *y = ax_from_data(st.y, AX_SHAPE(st.rows), &(ax_tensor_opts){.dtype = AX_I64});
    if (!*x || !*y) rc = ax__fail(err, errlen, "%s: cannot make the tensors (%s)", path, ax_last_error());
  }
  free(st.cells);
  free(st.x);
  free(st.y);
  free(b);
  return rc;
}
