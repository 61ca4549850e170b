/* SPDX-License-Identifier: BSD-3-Clause */
/* libaxon_plot's shared helpers: PNG output, canvas, text, round ticks, colors. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/fail.h"
#include "plot/plot_internal.h"

static cairo_status_t write_fn(void *closure, const unsigned char *data, unsigned int length) {
  return fwrite(data, 1, length, (FILE *)closure) == length ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

int ax__plot_write_png(cairo_surface_t *s, const char *path, char *err, size_t errlen) {
  if (!path || !path[0]) return ax__fail(err, errlen, "no output path given for the PNG");
  cairo_surface_flush(s);
  if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
    return ax__fail(err, errlen, "cannot draw %s: %s", path, cairo_status_to_string(cairo_surface_status(s)));
  FILE *f = fopen(path, "wb");
  if (!f) return ax__fail(err, errlen, "cannot write PNG %s: %s", path, strerror(errno));
  cairo_status_t st = cairo_surface_write_to_png_stream(s, write_fn, f);
  int e = ferror(f) ? errno : 0;
  if (fclose(f) != 0 && !e) e = errno;
  if (st != CAIRO_STATUS_SUCCESS || e) {
    remove(path);
    return ax__fail(err, errlen, "cannot write PNG %s: %s", path, e ? strerror(e) : cairo_status_to_string(st));
  }
  return 0;
}

int ax__plot_canvas(int w, int h, cairo_surface_t **s, cairo_t **cr, char *err, size_t errlen) {
  *cr = NULL;
  *s = NULL;
  if (w <= 0 || h <= 0 || w > 32767 || h > 32767)
    return ax__fail(err, errlen, "the picture would be %d x %d pixels (at most 32767 x 32767)", w, h);
  *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
  if (cairo_surface_status(*s) != CAIRO_STATUS_SUCCESS) {
    int rc = ax__fail(err, errlen, "cannot create a %d x %d image: %s", w, h,
                      cairo_status_to_string(cairo_surface_status(*s)));
    cairo_surface_destroy(*s);
    *s = NULL;
    return rc;
  }
  *cr = cairo_create(*s);
  cairo_set_source_rgb(*cr, 1, 1, 1);
  cairo_paint(*cr);
  return 0;
}

int ax__plot_done(cairo_surface_t *s, cairo_t *cr, int rc) {
  if (cr) cairo_destroy(cr);
  if (s) cairo_surface_destroy(s);
  return rc;
}

void ax__plot_font(cairo_t *cr, double size, bool bold) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double ax__plot_text_width(cairo_t *cr, const char *s) {
  cairo_text_extents_t te;
  cairo_text_extents(cr, s, &te);
  return te.x_advance;
}

void ax__plot_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay) {
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  double w = ax__plot_text_width(cr, s);
  /* ay: 0 the top of capitals (ascent), 1 the baseline */
  double base = y + (1 - ay) * fe.ascent * 0.8;
  cairo_move_to(cr, x - ax * w, base);
  cairo_show_text(cr, s);
}

int ax__plot_ticks(double *lo, double *hi, int want, double min_step, double *ticks, int max, double *step) {
  double a = *lo, b = *hi;
  if (!isfinite(a) || !isfinite(b)) a = 0, b = 1;
  if (b < a) { double t = a; a = b; b = t; }
  if (b - a < 1e-12 * (fabs(a) + fabs(b)) || b == a) { /* one value: a range around it */
    double d = a == 0 ? 1 : fabs(a) * 0.1;
    a -= d, b += d;
  }
  double raw = (b - a) / (want > 1 ? want - 1 : 1);
  double mag = pow(10, floor(log10(raw))), f = raw / mag;
  double s = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  if (s < min_step) s = min_step;
  double t0 = floor(a / s + 1e-9) * s, t1 = ceil(b / s - 1e-9) * s;
  int n = 0;
  for (double t = t0; t <= t1 + s * 0.5 && n < max; t += s) ticks[n++] = fabs(t) < s * 1e-9 ? 0 : t;
  *lo = t0, *hi = n ? ticks[n - 1] : t1;
  *step = s;
  return n;
}

void ax__plot_tick_label(double v, double step, char *buf, size_t n) {
  int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  if (dec > 8) dec = 8;
  if (fabs(v) >= 1e6 || (v != 0 && fabs(v) < 1e-4)) snprintf(buf, n, "%.3g", v);
  else snprintf(buf, n, "%.*f", dec, v);
}

void ax__plot_color(int i, double rgb[3]) {
  static const unsigned char pal[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                           {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                           {188, 189, 34}, {23, 190, 207}};
  const unsigned char *p = pal[(i % 10 + 10) % 10];
  for (int k = 0; k < 3; k++) rgb[k] = p[k] / 255.0;
}
