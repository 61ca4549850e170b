/* SPDX-License-Identifier: BSD-3-Clause */
/* Training curves (ax_plot_metrics, plot/metrics.c reads the files): a loss panel and an
 * accuracy panel side by side, axes with round ticks, a legend each, a title. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/fail.h"
#include "plot/plot_internal.h"

#define MAX_TICKS 64

typedef struct panel {
  double x0, y0, w, h;            /* the plot area in pixels */
  double xlo, xhi, ylo, yhi;      /* the data range at its edges */
  double xt[MAX_TICKS], yt[MAX_TICKS], xstep, ystep;
  int nxt, nyt;
  bool acc;
} panel;

static double px(const panel *p, double x) { return p->x0 + (x - p->xlo) / (p->xhi - p->xlo) * p->w; }
static double py(const panel *p, double y) { return p->y0 + p->h - (y - p->ylo) / (p->yhi - p->ylo) * p->h; }

/* the x range of every series, the y range of the panel's */
static void ranges(const ax__plot_data *d, panel *p) {
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (int i = 0; i < d->ns; i++)
    for (int j = 0; j < d->s[i].n; j++) {
      xlo = fmin(xlo, d->s[i].x[j]), xhi = fmax(xhi, d->s[i].x[j]);
      if (d->acc[d->s[i].key] != p->acc) continue;
      ylo = fmin(ylo, d->s[i].y[j]), yhi = fmax(yhi, d->s[i].y[j]);
    }
  p->xlo = xlo, p->xhi = xhi, p->ylo = ylo, p->yhi = yhi;
  p->nxt = ax__plot_ticks(&p->xlo, &p->xhi, 8, 1, p->xt, MAX_TICKS, &p->xstep);
  p->nyt = ax__plot_ticks(&p->ylo, &p->yhi, 6, 0, p->yt, MAX_TICKS, &p->ystep);
}

static void draw_axes(cairo_t *cr, const panel *p, const char *xlabel, const char *title) {
  char buf[64];
  cairo_set_line_width(cr, 1);
  ax__plot_font(cr, 12, false);
  for (int i = 0; i < p->nyt; i++) { /* horizontal grid lines and y labels */
    double y = round(py(p, p->yt[i])) + 0.5;
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, p->x0, y), cairo_line_to(cr, p->x0 + p->w, y), cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    ax__plot_tick_label(p->yt[i], p->ystep, buf, sizeof buf);
    ax__plot_text(cr, p->x0 - 8, y, buf, 1, 0.5);
  }
  for (int i = 0; i < p->nxt; i++) { /* vertical grid lines and x labels */
    double x = round(px(p, p->xt[i])) + 0.5;
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, x, p->y0), cairo_line_to(cr, x, p->y0 + p->h), cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    ax__plot_tick_label(p->xt[i], p->xstep, buf, sizeof buf);
    ax__plot_text(cr, x, p->y0 + p->h + 8, buf, 0.5, 0);
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_rectangle(cr, round(p->x0) + 0.5, round(p->y0) + 0.5, round(p->w), round(p->h));
  cairo_stroke(cr);
  ax__plot_font(cr, 13, false);
  ax__plot_text(cr, p->x0 + p->w / 2, p->y0 + p->h + 30, xlabel, 0.5, 0);
  ax__plot_font(cr, 15, true);
  ax__plot_text(cr, p->x0 + p->w / 2, p->y0 - 12, title, 0.5, 1);
}

/* the series' index among the panel's keys (its dash), and whether runs get colors */
static int key_rank(const ax__plot_data *d, int key) {
  int r = 0;
  for (int k = 0; k < key; k++) r += d->acc[k] == d->acc[key];
  return r;
}

static void set_style(cairo_t *cr, const ax__plot_data *d, const ax__plot_series *s) {
  double rgb[3];
  int rank = key_rank(d, s->key);
  ax__plot_color(d->nruns > 1 ? s->run : rank, rgb);
  cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
  cairo_set_line_width(cr, 2);
  static const double dashes[3][2] = {{1, 0}, {7, 4}, {2, 3}};
  if (d->nruns > 1 && rank % 3) cairo_set_dash(cr, dashes[rank % 3], 2, 0);
  else cairo_set_dash(cr, NULL, 0, 0);
}

static void draw_series(cairo_t *cr, const panel *p, const ax__plot_data *d) {
  for (int i = 0; i < d->ns; i++) { /* no clip: the ranges hold every point */
    const ax__plot_series *s = &d->s[i];
    if (d->acc[s->key] != p->acc) continue;
    set_style(cr, d, s);
    for (int j = 0; j < s->n; j++) {
      if (j == 0) cairo_move_to(cr, px(p, s->x[j]), py(p, s->y[j]));
      else cairo_line_to(cr, px(p, s->x[j]), py(p, s->y[j]));
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    for (int j = 0; s->n <= 40 && j < s->n; j++) { /* few points: a dot on each */
      cairo_arc(cr, px(p, s->x[j]), py(p, s->y[j]), 3.5, 0, 6.283185307179586);
      cairo_fill(cr);
    }
  }
}

static void legend_label(const ax__plot_data *d, const ax__plot_series *s, char *buf, size_t n) {
  int keys = 0;
  for (int k = 0; k < d->nkeys; k++) keys += d->acc[k] == d->acc[s->key];
  if (d->nruns > 1 && keys > 1) snprintf(buf, n, "%s  %s", d->runs[s->run], d->keys[s->key]);
  else if (d->nruns > 1) snprintf(buf, n, "%s", d->runs[s->run]);
  else snprintf(buf, n, "%s", d->keys[s->key]);
}

/* upper right for losses (they fall), lower right for accuracies (they rise) */
static void draw_legend(cairo_t *cr, const panel *p, const ax__plot_data *d) {
  char buf[160];
  const double row = 18, sample = 28;
  double tw = 0;
  int n = 0;
  ax__plot_font(cr, 12, false);
  for (int i = 0; i < d->ns; i++) {
    if (d->acc[d->s[i].key] != p->acc) continue;
    legend_label(d, &d->s[i], buf, sizeof buf);
    tw = fmax(tw, ax__plot_text_width(cr, buf));
    n++;
  }
  if (n == 0) return;
  double bw = fmin(sample + 18 + tw, p->w - 20), bh = n * row + 8;
  double bx = p->x0 + p->w - bw - 10, by = p->acc ? p->y0 + p->h - bh - 10 : p->y0 + 10;
  cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
  cairo_rectangle(cr, bx, by, bw, bh);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  int r = 0;
  for (int i = 0; i < d->ns; i++) {
    const ax__plot_series *s = &d->s[i];
    if (d->acc[s->key] != p->acc) continue;
    double y = by + 4 + (r++ + 0.5) * row;
    set_style(cr, d, s);
    cairo_move_to(cr, bx + 6, y), cairo_line_to(cr, bx + 6 + sample, y), cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    legend_label(d, s, buf, sizeof buf);
    ax__plot_text(cr, bx + sample + 12, y, buf, 0, 0.5);
  }
}

static const char *panel_title(const ax__plot_data *d, bool acc) {
  if (acc) return "accuracy";
  for (int k = 0; k < d->nkeys; k++)
    if (!d->acc[k] && !strstr(d->keys[k], "loss")) return "value";
  return "loss";
}

int ax__plot_draw_curves(const ax__plot_data *d, const char *path, const char *title, int width, int height,
                         char *err, size_t errlen) {
  bool has[2] = {false, false}; /* loss, accuracy */
  for (int i = 0; i < d->ns; i++) has[d->acc[d->s[i].key]] = true;
  if (!has[0] && !has[1]) return ax__fail(err, errlen, "no finite values to draw for the keys asked");
  int np = has[0] + has[1];
  cairo_surface_t *s;
  cairo_t *cr;
  if (ax__plot_canvas(width, height, &s, &cr, err, errlen)) return -1;
  cairo_set_source_rgb(cr, 0, 0, 0);
  ax__plot_font(cr, 20, true);
  ax__plot_text(cr, width / 2.0, 14, title, 0.5, 0);
  double pw = (double)width / np;
  for (int a = 0, i = 0; a < 2; a++) {
    if (!has[a]) continue;
    panel p = {.x0 = i * pw + 75, .y0 = 78, .acc = a == 1};
    p.w = pw - 75 - 25, p.h = height - p.y0 - 60;
    ranges(d, &p);
    draw_axes(cr, &p, d->x, panel_title(d, p.acc));
    draw_series(cr, &p, d);
    draw_legend(cr, &p, d);
    i++;
  }
  return ax__plot_done(s, cr, ax__plot_write_png(s, path, err, errlen));
}
