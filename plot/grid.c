/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_png_grid: n images as one PNG, cells in rows with a 2-pixel gap (include/axon/plot.h). */
#include <math.h>
#include <stdint.h>

#include "axon/plot.h"
#include "core/fail.h"
#include "plot/plot_internal.h"

#define GAP 2
#define GAP_GRAY 128
#define LABEL_H 14

static uint32_t to_byte(float v) {
  if (!(v > 0)) return 0; /* NaN too */
  if (v >= 1) return 255;
  return (uint32_t)lrintf(v * 255.0f);
}

static int check_args(const char *path, const float *images, int n, int c, int h, int w, int cols, int scale,
                      char *err, size_t errlen) {
  if (!path || !path[0]) return ax__fail(err, errlen, "ax_png_grid: no output path");
  if (!images) return ax__fail(err, errlen, "ax_png_grid: images is NULL");
  if (n <= 0) return ax__fail(err, errlen, "ax_png_grid: n = %d images (expected at least 1)", n);
  if (c != 1 && c != 3) return ax__fail(err, errlen, "ax_png_grid: c = %d channels (expected 1 or 3)", c);
  if (h <= 0 || w <= 0) return ax__fail(err, errlen, "ax_png_grid: image size %d x %d (expected h, w >= 1)", h, w);
  if (cols <= 0) return ax__fail(err, errlen, "ax_png_grid: cols = %d (expected at least 1)", cols);
  if (scale < 0 || scale > 64) return ax__fail(err, errlen, "ax_png_grid: scale = %d (expected 1 to 64, or 0 for 1)", scale);
  return 0;
}

/* one image into the cell whose top left pixel is (x0, y0) */
static void put_image(unsigned char *data, int stride, const float *img, int c, int h, int w, int scale, int x0,
                      int y0) {
  const int64_t plane = (int64_t)h * w;
  for (int y = 0; y < h * scale; y++) {
    uint32_t *row = (uint32_t *)(data + (int64_t)(y0 + y) * stride) + x0;
    for (int x = 0; x < w * scale; x++) {
      int64_t i = (int64_t)(y / scale) * w + x / scale;
      uint32_t r = to_byte(img[i]);
      uint32_t g = c == 3 ? to_byte(img[plane + i]) : r, b = c == 3 ? to_byte(img[2 * plane + i]) : r;
      row[x] = r << 16 | g << 8 | b;
    }
  }
}

static void put_label(cairo_t *cr, const char *s, double x, double y, double cw) {
  if (!s) return;
  cairo_save(cr);
  cairo_rectangle(cr, x, y, cw, LABEL_H);
  cairo_clip(cr);
  cairo_set_source_rgb(cr, 0, 0, 0);
  ax__plot_font(cr, 11, false);
  double tw = ax__plot_text_width(cr, s);
  ax__plot_text(cr, tw > cw ? x + 1 : x + cw / 2, y + LABEL_H / 2.0 + 1, s, tw > cw ? 0 : 0.5, 0.5);
  cairo_restore(cr);
}

int ax_png_grid_ex(const char *path, const float *images, int n, int c, int h, int w, int cols,
                   const ax_png_grid_opts *o, char *err, size_t errlen) {
  int scale = o && o->scale ? o->scale : 1;
  if (check_args(path, images, n, c, h, w, cols, o ? o->scale : 0, err, errlen)) return -1;
  const char *const *labels = o ? o->labels : NULL;
  if (cols > n) cols = n;
  int64_t rows = (n + (int64_t)cols - 1) / cols, cw = (int64_t)w * scale, ch = (int64_t)h * scale;
  int64_t lh = labels ? LABEL_H : 0;
  int64_t W = cols * cw + (cols - 1) * GAP, H = rows * (ch + lh) + (rows - 1) * GAP;
  if (W > 32767 || H > 32767)
    return ax__fail(err, errlen, "ax_png_grid: the grid would be %lld x %lld pixels (at most 32767 x 32767)",
                    (long long)W, (long long)H);
  cairo_surface_t *s;
  cairo_t *cr;
  if (ax__plot_canvas((int)W, (int)H, &s, &cr, err, errlen)) return -1;
  cairo_set_source_rgb(cr, GAP_GRAY / 255.0, GAP_GRAY / 255.0, GAP_GRAY / 255.0);
  cairo_paint(cr);
  cairo_surface_flush(s);
  unsigned char *data = cairo_image_surface_get_data(s);
  int stride = cairo_image_surface_get_stride(s);
  const int64_t size = (int64_t)c * h * w;
  for (int i = 0; i < n; i++) {
    int x0 = (int)((i % cols) * (cw + GAP)), y0 = (int)((i / cols) * (ch + lh + GAP));
    put_image(data, stride, images + i * size, c, h, w, scale, x0, y0);
  }
  cairo_surface_mark_dirty(s);
  for (int i = 0; labels && i < n; i++) {
    double x0 = (double)((i % cols) * (cw + GAP)), y0 = (double)((i / cols) * (ch + lh + GAP) + ch);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, x0, y0, (double)cw, LABEL_H);
    cairo_fill(cr);
    put_label(cr, labels[i], x0, y0, (double)cw);
  }
  return ax__plot_done(s, cr, ax__plot_write_png(s, path, err, errlen));
}

int ax_png_grid(const char *path, const float *images, int n, int c, int h, int w, int cols, char *err,
                size_t errlen) {
  return ax_png_grid_ex(path, images, n, c, h, w, cols, NULL, err, errlen);
}
