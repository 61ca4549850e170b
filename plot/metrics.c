/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_plot_metrics: metrics files (JSON lines, parsed with cJSON) into series per run id
 * and key; plot/curves.c draws them. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/plot.h"
#include "core/fail.h"
#include "plot/plot_internal.h"

static const char *const default_keys[] = {"train_loss", "val_loss", "test_loss", "train_accuracy", "val_accuracy",
                                           "test_accuracy", NULL};

static bool blank(const char *s) {
  while (*s && isspace((unsigned char)*s)) s++;
  return !*s;
}

static int add_record(ax__plot_data *d, cJSON *r, int file, int line) {
  if (d->nrec == d->cap) {
    int cap = d->cap ? 2 * d->cap : 64;
    cJSON **rec = realloc(d->rec, sizeof *rec * cap);
    if (rec) d->rec = rec;
    int *f = realloc(d->rec_file, sizeof *f * cap);
    if (f) d->rec_file = f;
    int *l = realloc(d->rec_line, sizeof *l * cap);
    if (l) d->rec_line = l;
    if (!rec || !f || !l) return -1;
    d->cap = cap;
  }
  d->rec[d->nrec] = r, d->rec_file[d->nrec] = file, d->rec_line[d->nrec] = line;
  d->nrec++;
  return 0;
}

/* every line of path as a JSON object; errors name the file and line */
static int read_file(ax__plot_data *d, const char *path, int file, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) return ax__fail(err, errlen, "cannot read metrics file %s: %s", path, strerror(errno));
  char *buf = NULL;
  size_t cap = 0;
  int line = 0, records = 0, rc = 0;
  ssize_t len;
  while (!rc && (len = getline(&buf, &cap, f)) >= 0) {
    line++;
    if ((size_t)len != strlen(buf)) {
      rc = ax__fail(err, errlen, "%s:%d: the line holds a NUL byte (not a JSON line)", path, line);
    } else if (!blank(buf)) {
      const char *end = NULL;
      cJSON *r = cJSON_ParseWithOpts(buf, &end, 0);
      if (r && end && !blank(end)) cJSON_Delete(r), r = NULL;
      if (!r || !cJSON_IsObject(r)) {
        cJSON_Delete(r);
        rc = ax__fail(err, errlen, "%s:%d: not a JSON object: %.40s%s", path, line, buf + strspn(buf, " \t"),
                      strlen(buf) > 40 ? "..." : "");
        char *nl = err ? strchr(err, '\n') : NULL;
        if (nl) *nl = '\0';
      } else if (add_record(d, r, file, line)) {
        cJSON_Delete(r);
        rc = ax__fail(err, errlen, "%s: out of memory", path);
      } else {
        records++;
      }
    }
  }
  if (!rc && ferror(f)) rc = ax__fail(err, errlen, "cannot read metrics file %s: %s", path, strerror(errno));
  if (!rc && records == 0) rc = ax__fail(err, errlen, "%s: no metrics records (the file is empty)", path);
  free(buf);
  fclose(f);
  return rc;
}

static bool is_num(const cJSON *r, const char *key) { return cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, key)); }

/* a record of the x kind: step records have "step"; epoch records "epoch" and no "step" */
static bool of_kind(const cJSON *r, const char *x) {
  if (!strcmp(x, "step")) return is_num(r, "step");
  return is_num(r, "epoch") && !cJSON_HasObjectItem(r, "step");
}

static bool any_has(const ax__plot_data *d, const char *key) {
  for (int i = 0; i < d->nrec; i++)
    if (of_kind(d->rec[i], d->x) && is_num(d->rec[i], key)) return true;
  return false;
}

/* "a, b, c": the numeric keys of the x kind's records (the first 32) */
static void keys_seen(const ax__plot_data *d, char *buf, size_t n) {
  const char *seen[32];
  int ns = 0;
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < d->nrec; i++) {
    if (!of_kind(d->rec[i], d->x)) continue;
    for (const cJSON *it = d->rec[i]->child; it && ns < 32; it = it->next) {
      if (!cJSON_IsNumber(it) || !it->string || !strcmp(it->string, d->x)) continue;
      int j = 0;
      while (j < ns && strcmp(seen[j], it->string)) j++;
      if (j < ns) continue;
      seen[ns++] = it->string;
      if (used < n) used += snprintf(buf + used, n - used, "%s%s", used ? ", " : "", it->string);
    }
  }
}

/* o->x, or epoch when some record is an epoch record, else step */
static int choose_x(ax__plot_data *d, const char *x, const char *files, char *err, size_t errlen) {
  if (x && strcmp(x, "epoch") && strcmp(x, "step"))
    return ax__fail(err, errlen, "x axis '%s': expected epoch or step", x);
  d->x = x ? x : "epoch";
  bool found = false;
  for (int i = 0; i < d->nrec && !found; i++) found = of_kind(d->rec[i], d->x);
  if (!found && !x) {
    d->x = "step";
    for (int i = 0; i < d->nrec && !found; i++) found = of_kind(d->rec[i], d->x);
  }
  if (!found) {
    if (x) return ax__fail(err, errlen, "%s: no %s records (no line has a numeric \"%s\"%s)", files, x, x,
                           !strcmp(x, "epoch") ? " without \"step\"; try --x step" : "; try --x epoch");
    return ax__fail(err, errlen, "%s: no line has a numeric \"epoch\" or \"step\" (not a metrics file of axon train?)", files);
  }
  return 0;
}

static int choose_keys(ax__plot_data *d, const char *const *keys, const char *files, char *err, size_t errlen) {
  const char *const *list = keys ? keys : default_keys;
  for (int i = 0; list[i]; i++) {
    if (d->nkeys == AX__PLOT_MAX_KEYS) return ax__fail(err, errlen, "more than %d keys to draw", AX__PLOT_MAX_KEYS);
    if (!list[i][0]) return ax__fail(err, errlen, "an empty key name");
    if (!any_has(d, list[i])) {
      if (!keys) continue;
      char seen[512];
      keys_seen(d, seen, sizeof seen);
      return ax__fail(err, errlen, "%s: no %s record has the key '%s' (keys there: %s)", files, d->x, list[i],
                      seen[0] ? seen : "none");
    }
    d->acc[d->nkeys] = strstr(list[i], "acc") != NULL;
    d->keys[d->nkeys++] = list[i];
  }
  if (d->nkeys == 0) {
    char seen[512];
    keys_seen(d, seen, sizeof seen);
    return ax__fail(err, errlen, "%s: no %s record has a loss or accuracy key (keys there: %s; choose with --keys)",
                    files, d->x, seen[0] ? seen : "none");
  }
  return 0;
}

static int run_index(ax__plot_data *d, const char *name, char *err, size_t errlen) {
  for (int i = 0; i < d->nruns; i++)
    if (!strcmp(d->runs[i], name)) return i;
  if (d->nruns == AX__PLOT_MAX_RUNS) return ax__fail(err, errlen, "more than %d run ids to draw", AX__PLOT_MAX_RUNS);
  d->runs[d->nruns] = name;
  return d->nruns++;
}

static int add_point(ax__plot_data *d, int run, int key, double x, double y) {
  ax__plot_series *s = NULL;
  for (int i = 0; i < d->ns && !s; i++)
    if (d->s[i].run == run && d->s[i].key == key) s = &d->s[i];
  if (!s) {
    if (d->ns == d->scap) {
      int cap = d->scap ? 2 * d->scap : 16;
      ax__plot_series *ns = realloc(d->s, sizeof *ns * cap);
      if (!ns) return -1;
      d->s = ns, d->scap = cap;
    }
    s = &d->s[d->ns++];
    *s = (ax__plot_series){.run = run, .key = key};
  }
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 32;
    double *nx = realloc(s->x, sizeof *nx * cap);
    if (nx) s->x = nx;
    double *ny = realloc(s->y, sizeof *ny * cap);
    if (ny) s->y = ny;
    if (!nx || !ny) return -1;
    s->cap = cap;
  }
  int i = s->n++; /* kept sorted by x (insertion: the files are nearly in order) */
  while (i > 0 && s->x[i - 1] > x) s->x[i] = s->x[i - 1], s->y[i] = s->y[i - 1], i--;
  s->x[i] = x, s->y[i] = y;
  return 0;
}

/* the records of the x kind into one series per (run id, key); a record without run_id
 * belongs to its file's run */
static int build_series(ax__plot_data *d, const char *const *paths, char *err, size_t errlen) {
  bool first = true;
  for (int i = 0; i < d->nrec; i++) {
    const cJSON *r = d->rec[i];
    if (!of_kind(r, d->x)) continue;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "run_id"));
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "model"));
    if (first) d->model = model;
    else if (d->model && (!model || strcmp(d->model, model))) d->model = NULL;
    first = false;
    int run = run_index(d, id ? id : paths[d->rec_file[i]], err, errlen);
    if (run < 0) return -1;
    double x = cJSON_GetObjectItemCaseSensitive(r, d->x)->valuedouble;
    for (int k = 0; k < d->nkeys; k++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, d->keys[k]);
      if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || !isfinite(x)) continue;
      if (add_point(d, run, k, x, v->valuedouble)) return ax__fail(err, errlen, "out of memory");
    }
  }
  return 0;
}

static void free_data(ax__plot_data *d) {
  for (int i = 0; i < d->nrec; i++) cJSON_Delete(d->rec[i]);
  free(d->rec);
  free(d->rec_file);
  free(d->rec_line);
  for (int i = 0; i < d->ns; i++) free(d->s[i].x), free(d->s[i].y);
  free(d->s);
}

int ax_plot_metrics(const char *const *paths, int n, const ax_plot_opts *o, char *err, size_t errlen) {
  if (!paths || n <= 0) return ax__fail(err, errlen, "ax_plot_metrics: no metrics files given");
  if (!o || !o->out || !o->out[0]) return ax__fail(err, errlen, "ax_plot_metrics: no output file given (opts.out)");
  if (o->width < 0 || o->height < 0 || o->width > 8000 || o->height > 8000 ||
      (o->width && o->width < 300) || (o->height && o->height < 200))
    return ax__fail(err, errlen, "ax_plot_metrics: size %d x %d (expected 300..8000 x 200..8000, or 0)", o->width,
                    o->height);
  for (int i = 0; i < n; i++)
    if (!paths[i]) return ax__fail(err, errlen, "ax_plot_metrics: paths[%d] is NULL", i);
  ax__plot_data d = {0};
  char files[512];
  if (n == 1) snprintf(files, sizeof files, "%s", paths[0]);
  else snprintf(files, sizeof files, "the %d metrics files", n);
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) rc = read_file(&d, paths[i], i, err, errlen);
  if (!rc) rc = choose_x(&d, o->x, files, err, errlen);
  if (!rc) rc = choose_keys(&d, o->keys, files, err, errlen);
  if (!rc) rc = build_series(&d, paths, err, errlen);
  if (!rc) {
    char title[256];
    if (o->title) snprintf(title, sizeof title, "%s", o->title);
    else if (d.model) snprintf(title, sizeof title, "%s: training curves", d.model);
    else snprintf(title, sizeof title, "training curves");
    rc = ax__plot_draw_curves(&d, o->out, title, o->width ? o->width : 1200, o->height ? o->height : 500, err, errlen);
  }
  free_data(&d);
  return rc;
}
