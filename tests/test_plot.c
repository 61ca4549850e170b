/* SPDX-License-Identifier: BSD-3-Clause */
/* libaxon_plot (include/axon/plot.h): the PNG files it writes are read back with Cairo
 * and checked pixel by pixel or for content; bad arguments and bad files are errors. */
#define _DEFAULT_SOURCE
#include <cairo.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axon/plot.h"

static char dir[64];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/axon_plot_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(plot, .init = make_dir, .fini = remove_dir);

static void path_in(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

/* the PNG read back; asserts it loaded */
static cairo_surface_t *read_png(const char *path) {
  cairo_surface_t *s = cairo_image_surface_create_from_png(path);
  cr_assert_eq(cairo_surface_status(s), CAIRO_STATUS_SUCCESS, "cannot read %s back: %s", path,
               cairo_status_to_string(cairo_surface_status(s)));
  return s;
}

/* pixel (x, y) as 0xRRGGBB */
static uint32_t pixel(cairo_surface_t *s, int x, int y) {
  const unsigned char *d = cairo_image_surface_get_data(s);
  return ((const uint32_t *)(d + (size_t)y * cairo_image_surface_get_stride(s)))[x] & 0xffffff;
}

static int channel(uint32_t p, int k) { return (int)(p >> (16 - 8 * k)) & 255; }

/* the number of distinct colors, up to cap */
__attribute__((unused)) static int distinct_colors(cairo_surface_t *s, int cap) {
  int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s), n = 0;
  uint32_t *seen = malloc(sizeof(uint32_t) * cap);
  for (int y = 0; y < h && n < cap; y++)
    for (int x = 0; x < w && n < cap; x++) {
      uint32_t p = pixel(s, x, y);
      int j = 0;
      while (j < n && seen[j] != p) j++;
      if (j == n) seen[n++] = p;
    }
  free(seen);
  return n;
}

/* ---- ax_png_grid ---- */

/* image i, channel k, pixel (y, x) of the test pattern: distinct values on the 1/255 grid and off it */
static float pattern(int i, int k, int y, int x) { return (float)((i * 37 + k * 11 + y * 5 + x * 3) % 256) / 255.0f + 0.001f; }

static void check_grid(int n, int c, int h, int w, int cols) {
  float *img = malloc(sizeof(float) * n * c * h * w);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < c; k++)
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) img[((i * c + k) * h + y) * w + x] = pattern(i, k, y, x);
  char p[128], err[256] = "";
  path_in(p, sizeof p, "grid.png");
  cr_assert_eq(ax_png_grid(p, img, n, c, h, w, cols, err, sizeof err), 0, "%s", err);
  cairo_surface_t *s = read_png(p);
  int used = cols < n ? cols : n, rows = (n + used - 1) / used;
  cr_assert_eq(cairo_image_surface_get_width(s), used * w + 2 * (used - 1));
  cr_assert_eq(cairo_image_surface_get_height(s), rows * h + 2 * (rows - 1));
  for (int i = 0; i < n; i++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        uint32_t px = pixel(s, (i % used) * (w + 2) + x, (i / used) * (h + 2) + y);
        for (int k = 0; k < 3; k++) {
          float want = pattern(i, c == 3 ? k : 0, y, x);
          cr_assert_leq(fabsf(channel(px, k) / 255.0f - want), 1.0f / 255, "image %d channel %d (%d, %d): %d vs %g", i,
                        k, y, x, channel(px, k), want);
        }
      }
  if (used > 1) cr_assert_eq(pixel(s, w, 0), 0x808080, "the gap is mid gray");
  cairo_surface_destroy(s);
  free(img);
}

Test(plot, grid_gray_round_trip) { check_grid(7, 1, 5, 4, 3); }
Test(plot, grid_rgb_round_trip) { check_grid(4, 3, 6, 7, 2); }
Test(plot, grid_cols_beyond_n) { check_grid(3, 1, 4, 4, 10); }

Test(plot, grid_clamps) {
  float v[4] = {-1.0f, 2.0f, NAN, 0.5f};
  char p[128], err[256] = "";
  path_in(p, sizeof p, "clamp.png");
  cr_assert_eq(ax_png_grid(p, v, 1, 1, 2, 2, 1, err, sizeof err), 0, "%s", err);
  cairo_surface_t *s = read_png(p);
  cr_assert_eq(pixel(s, 0, 0), 0x000000);
  cr_assert_eq(pixel(s, 1, 0), 0xffffff);
  cr_assert_eq(pixel(s, 0, 1), 0x000000, "NaN draws as 0");
  cr_assert_eq(channel(pixel(s, 1, 1), 0), 128);
  cairo_surface_destroy(s);
}

Test(plot, grid_scale_and_labels) {
  float v[2 * 9];
  for (int i = 0; i < 18; i++) v[i] = (float)(i % 9) / 8.0f;
  const char *labels[] = {"one", "two"};
  char p[128], err[256] = "";
  path_in(p, sizeof p, "scaled.png");
  cr_assert_eq(ax_png_grid_ex(p, v, 2, 1, 3, 3, 2, &(ax_png_grid_opts){.scale = 10, .labels = labels}, err, sizeof err),
               0, "%s", err);
  cairo_surface_t *s = read_png(p);
  cr_assert_eq(cairo_image_surface_get_width(s), 2 * 30 + 2);
  cr_assert_eq(cairo_image_surface_get_height(s), 30 + 14);
  cr_assert_eq(pixel(s, 9, 9), 0x000000); /* pixel (0, 0) of image 0, 10 x 10 */
  cr_assert_eq(pixel(s, 29, 29), 0xffffff); /* pixel (2, 2) */
  int dark = 0; /* the label text under the cells */
  for (int y = 30; y < 44; y++)
    for (int x = 0; x < 62; x++) dark += channel(pixel(s, x, y), 0) < 128;
  cr_assert_gt(dark, 5, "the labels are drawn");
  cairo_surface_destroy(s);
}

Test(plot, grid_bad_arguments) {
  float v[12] = {0};
  char p[128], err[256];
  path_in(p, sizeof p, "bad.png");
  struct { int n, c, h, w, cols; const char *msg; } bad[] = {
      {0, 1, 2, 2, 1, "n = 0"},  {-3, 1, 2, 2, 1, "n = -3"}, {1, 2, 2, 2, 1, "c = 2"}, {1, 4, 1, 1, 1, "c = 4"},
      {1, 1, 0, 2, 1, "0 x 2"},  {1, 1, 2, 2, 0, "cols = 0"}, {1, 1, 40000, 1, 1, "32767"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    cr_assert_eq(ax_png_grid(p, v, bad[i].n, bad[i].c, bad[i].h, bad[i].w, bad[i].cols, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, bad[i].msg), "case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
    cr_assert_neq(access(p, F_OK), 0, "nothing is written");
  }
  cr_assert_eq(ax_png_grid(p, NULL, 1, 1, 2, 2, 1, err, sizeof err), -1);
  cr_assert_eq(ax_png_grid_ex(p, v, 1, 1, 2, 2, 1, &(ax_png_grid_opts){.scale = 65}, err, sizeof err), -1);
  cr_assert_not_null(strstr(err, "scale"), "%s", err);
  cr_assert_eq(ax_png_grid(p, v, 0, 1, 2, 2, 1, NULL, 0), -1, "err may be NULL");
}

Test(plot, grid_unwritable_path) {
  float v[4] = {0};
  char err[256] = "";
  cr_assert_eq(ax_png_grid("/nonexistent/dir/x.png", v, 1, 1, 2, 2, 1, err, sizeof err), -1);
  cr_assert_not_null(strstr(err, "/nonexistent/dir/x.png"), "%s", err);
  cr_assert_not_null(strstr(err, "No such file or directory"), "%s", err);
  cr_assert_eq(ax_png_grid(dir, v, 1, 1, 2, 2, 1, err, sizeof err), -1, "a folder is not a file");
}
