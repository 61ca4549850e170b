/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_png_confusion: a confusion matrix as a labelled heatmap (include/axon/plot.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "axon/plot.h"
#include "core/fail.h"
#include "plot/plot_internal.h"

typedef struct layout {
  double cell, font, left, top, bar_x, lw; /* lw: the widest label */
  int w, h;
} layout;

static const char *label_of(const char *const *labels, int i, char *buf, size_t n) {
  if (labels && labels[i]) return labels[i];
  snprintf(buf, n, "%d", i);
  return buf;
}

/* white to dark blue; t in [0, 1] */
static void heat(double t, double rgb[3]) {
  static const double lo[3] = {0.97, 0.98, 1.0}, hi[3] = {0.03, 0.19, 0.42};
  for (int k = 0; k < 3; k++) rgb[k] = lo[k] + (hi[k] - lo[k]) * t;
}

static void measure(layout *L, int k, const char *const *labels, const char *title) {
  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
  cairo_t *cr = cairo_create(s);
  char buf[32];
  L->cell = fmin(64, fmax(16, 560.0 / k));
  L->font = fmin(13, L->cell * 0.45);
  ax__plot_font(cr, L->font, false);
  L->lw = 0;
  for (int i = 0; i < k; i++) L->lw = fmax(L->lw, fmin(200, ax__plot_text_width(cr, label_of(labels, i, buf, sizeof buf))));
  ax__plot_font(cr, 18, true);
  double tw = ax__plot_text_width(cr, title);
  cairo_destroy(cr);
  cairo_surface_destroy(s);
  L->left = 30 + L->lw + 10, L->top = 56;
  L->bar_x = L->left + k * L->cell + 24;
  L->w = (int)ceil(fmax(L->bar_x + 18 + 80, tw + 40));
  L->h = (int)ceil(L->top + k * L->cell + 0.72 * L->lw + 14 + 40);
}

static void draw_cells(cairo_t *cr, const layout *L, const int64_t *counts, int k, int64_t max) {
  char buf[32];
  ax__plot_font(cr, fmin(12, L->cell * 0.34), false);
  for (int t = 0; t < k; t++)
    for (int p = 0; p < k; p++) {
      int64_t v = counts[(int64_t)t * k + p];
      double rgb[3], frac = max > 0 ? (double)v / (double)max : 0, x = L->left + p * L->cell, y = L->top + t * L->cell;
      heat(frac, rgb);
      cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
      cairo_rectangle(cr, x, y, L->cell, L->cell);
      cairo_fill(cr);
      if (L->cell < 20) continue; /* too small for numbers */
      snprintf(buf, sizeof buf, "%" PRId64, v);
      double g = frac > 0.5 ? 1 : 0.1;
      cairo_set_source_rgb(cr, g, g, g);
      ax__plot_text(cr, x + L->cell / 2, y + L->cell / 2, buf, 0.5, 0.5);
    }
  cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, L->left + 0.5, L->top + 0.5, k * L->cell, k * L->cell);
  cairo_stroke(cr);
}

static void draw_labels(cairo_t *cr, const layout *L, int k, const char *const *labels) {
  char buf[32];
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  ax__plot_font(cr, L->font, false);
  double gy = L->top + k * L->cell;
  for (int i = 0; i < k; i++) {
    const char *s = label_of(labels, i, buf, sizeof buf);
    ax__plot_text(cr, L->left - 6, L->top + (i + 0.5) * L->cell, s, 1, 0.5); /* true class, left */
    cairo_save(cr); /* predicted class, under the columns at 45 degrees */
    cairo_translate(cr, L->left + (i + 0.5) * L->cell + 4, gy + 6);
    cairo_rotate(cr, -0.785398163);
    ax__plot_text(cr, 0, 0, s, 1, 0);
    cairo_restore(cr);
  }
  ax__plot_font(cr, 14, true);
  ax__plot_text(cr, L->left + k * L->cell / 2, L->h - 14, "predicted class", 0.5, 1);
  cairo_save(cr);
  cairo_translate(cr, 18, L->top + k * L->cell / 2);
  cairo_rotate(cr, -1.570796327);
  ax__plot_text(cr, 0, 0, "true class", 0.5, 0.5);
  cairo_restore(cr);
}

/* the color scale: a bar from 0 to max with round ticks */
static void draw_bar(cairo_t *cr, const layout *L, int k, int64_t max) {
  double y0 = L->top, h = k * L->cell, lo = 0, hi = max > 0 ? (double)max : 1, ticks[32], step;
  for (int i = 0; i < (int)h; i++) {
    double rgb[3];
    heat(1 - (i + 0.5) / h, rgb);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_rectangle(cr, L->bar_x, y0 + i, 18, 1);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, L->bar_x + 0.5, y0 + 0.5, 18, h);
  cairo_stroke(cr);
  double top = hi;
  int n = ax__plot_ticks(&lo, &hi, 6, 1, ticks, 32, &step);
  ax__plot_font(cr, 11, false);
  for (int i = 0; i < n; i++) {
    if (ticks[i] > top) break; /* the bar ends at the largest count */
    double y = y0 + h - ticks[i] / top * h;
    char buf[32];
    cairo_move_to(cr, L->bar_x + 18, y), cairo_line_to(cr, L->bar_x + 22, y), cairo_stroke(cr);
    ax__plot_tick_label(ticks[i], step, buf, sizeof buf);
    ax__plot_text(cr, L->bar_x + 25, y, buf, 0, 0.5);
  }
}

int ax_png_confusion(const char *path, const int64_t *counts, int k, const char *const *labels, const char *title,
                     char *err, size_t errlen) {
  if (!path || !path[0]) return ax__fail(err, errlen, "ax_png_confusion: no output path");
  if (!counts) return ax__fail(err, errlen, "ax_png_confusion: counts is NULL");
  if (k < 1 || k > 100) return ax__fail(err, errlen, "ax_png_confusion: k = %d classes (expected 1 to 100)", k);
  int64_t max = 0;
  for (int i = 0; i < k * k; i++) {
    if (counts[i] < 0)
      return ax__fail(err, errlen, "ax_png_confusion: count [%d][%d] = %" PRId64 " is negative", i / k, i % k, counts[i]);
    if (counts[i] > max) max = counts[i];
  }
  if (!title) title = "confusion matrix";
  layout L;
  measure(&L, k, labels, title);
  cairo_surface_t *s;
  cairo_t *cr;
  if (ax__plot_canvas(L.w, L.h, &s, &cr, err, errlen)) return -1;
  cairo_set_source_rgb(cr, 0, 0, 0);
  ax__plot_font(cr, 18, true);
  ax__plot_text(cr, L.w / 2.0, 16, title, 0.5, 0);
  draw_cells(cr, &L, counts, k, max);
  draw_labels(cr, &L, k, labels);
  draw_bar(cr, &L, k, max);
  return ax__plot_done(s, cr, ax__plot_write_png(s, path, err, errlen));
}
