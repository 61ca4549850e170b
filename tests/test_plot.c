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
#include <sys/wait.h>
#include <unistd.h>

#include "axon/plot.h"
#include "testutil.h"

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

/* ---- ax_plot_metrics ---- */

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

/* two runs of 6 epochs (with per-step records in between), as axon train --metrics writes them */
static void write_metrics(const char *path) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  for (int r = 0; r < 2; r++)
    for (int e = 1; e <= 6; e++) {
      double tl = (1.0 + 0.4 * r) / (1 + e), acc = 0.6 + 0.05 * e - 0.03 * r;
      fprintf(f, "{\"step\": %d, \"epoch\": %d, \"loss\": %.4f, \"train_loss\": %.4f, \"model\": \"mlp\", \"run_id\": \"run%d\"}\n",
              e * 10, e, tl, tl, r);
      fprintf(f, "{\"epoch\": %d, \"train_loss\": %.6f, \"test_loss\": %.6f, \"test_accuracy\": %.6f, \"seconds\": 1.5, "
                 "\"samples_per_sec\": 100.0, \"lr\": 0.001, \"val_loss\": %.6f, \"val_accuracy\": %.6f, "
                 "\"model\": \"mlp\", \"run_id\": \"run%d\"}\n",
              e, tl, tl + 0.1, acc, tl + 0.05, acc + 0.01, r);
    }
  fclose(f);
}

/* pixels within 40 (per channel) of rgb */
static int count_near(cairo_surface_t *s, int r, int g, int b) {
  int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s), n = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint32_t p = pixel(s, x, y);
      n += abs(channel(p, 0) - r) < 40 && abs(channel(p, 1) - g) < 40 && abs(channel(p, 2) - b) < 40;
    }
  return n;
}

/* non-white pixels in columns [x0, x1) */
static int ink(cairo_surface_t *s, int x0, int x1) {
  int n = 0;
  for (int y = 0; y < cairo_image_surface_get_height(s); y++)
    for (int x = x0; x < x1; x++) n += pixel(s, x, y) != 0xffffff;
  return n;
}

Test(plot, metrics_two_runs) {
  char m[128], out[128], err[512] = "";
  path_in(m, sizeof m, "m.jsonl");
  path_in(out, sizeof out, "curves.png");
  write_metrics(m);
  const char *paths[] = {m};
  cr_assert_eq(ax_plot_metrics(paths, 1, &(ax_plot_opts){.out = out}, err, sizeof err), 0, "%s", err);
  cairo_surface_t *s = read_png(out);
  cr_assert_eq(cairo_image_surface_get_width(s), 1200);
  cr_assert_eq(cairo_image_surface_get_height(s), 500);
  cr_assert_gt(distinct_colors(s, 1000), 50, "text, lines and grid in many shades");
  cr_assert_gt(ink(s, 0, 600), 5000, "the loss panel is drawn");
  cr_assert_gt(ink(s, 600, 1200), 5000, "the accuracy panel is drawn");
  cr_assert_gt(count_near(s, 31, 119, 180), 300, "run0's lines (blue)");
  cr_assert_gt(count_near(s, 255, 127, 14), 300, "run1's lines (orange)");
  cairo_surface_destroy(s);
}

Test(plot, metrics_options_and_two_files) {
  char m1[128], m2[128], out[128], err[512] = "";
  path_in(m1, sizeof m1, "a.jsonl");
  path_in(m2, sizeof m2, "b.jsonl");
  path_in(out, sizeof out, "steps.png");
  write_metrics(m1);
  write_text(m2, "{\"step\": 5, \"train_loss\": 2.0}\n\n{\"step\": 15, \"train_loss\": 1.0}\n"); /* no run_id: the file */
  const char *paths[] = {m1, m2}, *keys[] = {"train_loss", NULL};
  ax_plot_opts o = {.out = out, .x = "step", .keys = keys, .title = "steps", .width = 640, .height = 360};
  cr_assert_eq(ax_plot_metrics(paths, 2, &o, err, sizeof err), 0, "%s", err);
  cairo_surface_t *s = read_png(out);
  cr_assert_eq(cairo_image_surface_get_width(s), 640);
  cr_assert_eq(cairo_image_surface_get_height(s), 360);
  cr_assert_gt(count_near(s, 44, 160, 44), 100, "the third run (b.jsonl, green) is drawn");
  cairo_surface_destroy(s);
}

/* ax_plot_metrics on one file holding text must fail with a message holding want */
static void expect_metrics_error(const char *text, const ax_plot_opts *o, const char *want, const char *want2) {
  char m[128], out[128], err[512] = "";
  path_in(m, sizeof m, "bad.jsonl");
  path_in(out, sizeof out, "never.png");
  write_text(m, text);
  const char *paths[] = {m};
  ax_plot_opts oo = o ? *o : (ax_plot_opts){0};
  if (!oo.out) oo.out = out;
  cr_assert_eq(ax_plot_metrics(paths, 1, &oo, err, sizeof err), -1, "no error for: %s", text);
  cr_assert_not_null(strstr(err, want), "'%s' lacks '%s'", err, want);
  if (want2) cr_assert_not_null(strstr(err, want2), "'%s' lacks '%s'", err, want2);
  cr_assert_neq(access(out, F_OK), 0, "no picture is written");
}

Test(plot, metrics_bad_files) {
  char where[160];
  path_in(where, sizeof where, "bad.jsonl");
  expect_metrics_error("", NULL, where, "empty");
  expect_metrics_error("\n  \n", NULL, where, "empty");
  snprintf(where, sizeof where, "%s/bad.jsonl:3:", dir);
  expect_metrics_error("{\"epoch\": 1, \"train_loss\": 1}\n\n{\"epoch\": 2, \"train_loss\": \n", NULL, where, "not a JSON object");
  snprintf(where, sizeof where, "%s/bad.jsonl:2:", dir);
  expect_metrics_error("{\"epoch\": 1}\n[1, 2]\n", NULL, where, "not a JSON object");
  expect_metrics_error("{\"epoch\": 1}\n{\"epoch\": 2} trailing\n", NULL, where, "not a JSON object");
  expect_metrics_error("{\"epoch\": 1, \"train_loss\": 1}\n", &(ax_plot_opts){.keys = (const char *[]){"val_acc", NULL}},
                       "no epoch record has the key 'val_acc'", "keys there: train_loss");
  expect_metrics_error("{\"epoch\": 1, \"seconds\": 3}\n", NULL, "no epoch record has a loss or accuracy key", "seconds");
  expect_metrics_error("{\"step\": 1, \"train_loss\": 1}\n", &(ax_plot_opts){.x = "epoch"}, "no epoch records", "--x step");
  expect_metrics_error("{\"loss\": 1}\n", NULL, "no line has a numeric \"epoch\" or \"step\"", NULL);
  expect_metrics_error("{\"epoch\": 1, \"train_loss\": 1}\n", &(ax_plot_opts){.x = "time"}, "x axis 'time'", NULL);
  expect_metrics_error("{\"epoch\": 1, \"train_loss\": 1}\n", &(ax_plot_opts){.out = "/nonexistent/dir/x.png"},
                       "/nonexistent/dir/x.png", "No such file or directory");
}

Test(plot, metrics_bad_arguments) {
  char err[512] = "", out[128], m[128];
  path_in(out, sizeof out, "x.png");
  path_in(m, sizeof m, "missing.jsonl");
  const char *paths[] = {m};
  cr_assert_eq(ax_plot_metrics(paths, 0, &(ax_plot_opts){.out = out}, err, sizeof err), -1);
  cr_assert_not_null(strstr(err, "no metrics files"), "%s", err);
  cr_assert_eq(ax_plot_metrics(paths, 1, &(ax_plot_opts){0}, err, sizeof err), -1);
  cr_assert_not_null(strstr(err, "no output file"), "%s", err);
  cr_assert_eq(ax_plot_metrics(paths, 1, &(ax_plot_opts){.out = out}, err, sizeof err), -1);
  cr_assert_not_null(strstr(err, "cannot read metrics file"), "%s", err);
  cr_assert_not_null(strstr(err, "missing.jsonl"), "%s", err);
  cr_assert_eq(ax_plot_metrics(paths, 1, &(ax_plot_opts){.out = out, .width = 10}, err, sizeof err), -1);
  cr_assert_not_null(strstr(err, "size 10 x 0"), "%s", err);
}

/* ---- ax_png_confusion ---- */

Test(plot, confusion_heatmap) {
  const int64_t counts[9] = {50, 2, 0, 5, 40, 1, 0, 9, 45};
  const char *labels[] = {"cat", "dog", "bird"};
  char p[128], err[256] = "";
  path_in(p, sizeof p, "cm.png");
  cr_assert_eq(ax_png_confusion(p, counts, 3, labels, "pets", err, sizeof err), 0, "%s", err);
  cairo_surface_t *s = read_png(p);
  cr_assert_gt(cairo_image_surface_get_width(s), 3 * 64);
  cr_assert_gt(cairo_image_surface_get_height(s), 3 * 64);
  cr_assert_gt(distinct_colors(s, 1000), 50, "cells, color scale and text");
  cr_assert_gt(count_near(s, 8, 48, 107), 1500, "the largest count's cell (and the bar's top) are dark blue");
  cr_assert_gt(count_near(s, 247, 250, 255), 1500, "the zero cells are near white");
  cairo_surface_destroy(s);
  int64_t big[100 * 100] = {0};
  for (int i = 0; i < 100; i++) big[i * 100 + i] = i;
  cr_assert_eq(ax_png_confusion(p, big, 100, NULL, NULL, err, sizeof err), 0, "%s", err);
}

Test(plot, confusion_bad_arguments) {
  const int64_t counts[4] = {1, 2, -3, 4};
  char p[128], err[256] = "";
  path_in(p, sizeof p, "cm.png");
  cr_assert_eq(ax_png_confusion(p, counts, 2, NULL, NULL, err, sizeof err), -1);
  cr_assert_not_null(strstr(err, "[1][0] = -3 is negative"), "%s", err);
  cr_assert_eq(ax_png_confusion(p, counts, 0, NULL, NULL, err, sizeof err), -1);
  cr_assert_not_null(strstr(err, "k = 0"), "%s", err);
  cr_assert_eq(ax_png_confusion(p, counts, 101, NULL, NULL, err, sizeof err), -1);
  cr_assert_eq(ax_png_confusion(p, NULL, 2, NULL, NULL, err, sizeof err), -1);
  cr_assert_neq(access(p, F_OK), 0, "nothing is written");
  const int64_t ok[1] = {3};
  cr_assert_eq(ax_png_confusion("/nonexistent/dir/x.png", ok, 1, NULL, NULL, err, sizeof err), -1);
  cr_assert_not_null(strstr(err, "/nonexistent/dir/x.png"), "%s", err);
}

/* ---- the command line: axon plot, axon eval --confusion-png ---- */

static int run_axon(const char *args) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "cd %s && %s/axon %s >/dev/null 2>%s/stderr.txt", dir, AXON_BINARY_DIR, args, dir);
  int s = system(cmd);
  return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

/* the one line axon printed on stderr contains want */
static void expect_stderr(const char *want) {
  char p[128], buf[1024] = "";
  path_in(p, sizeof p, "stderr.txt");
  FILE *f = fopen(p, "r");
  cr_assert_not_null(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  cr_assert_not_null(strstr(buf, want), "stderr '%s' lacks '%s'", buf, want);
}

static void expect_png(const char *name, int w, int h) {
  char p[128];
  path_in(p, sizeof p, name);
  cairo_surface_t *s = read_png(p);
  if (w) cr_assert_eq(cairo_image_surface_get_width(s), w);
  if (h) cr_assert_eq(cairo_image_surface_get_height(s), h);
  cr_assert_gt(distinct_colors(s, 1000), 50, "%s is not blank", name);
  cairo_surface_destroy(s);
}

/* two short runs of axon train into one metrics file, drawn by axon plot; the weights
 * evaluated by axon eval with the heatmap */
Test(plot, command_line_train_plot_eval, .timeout = 300) {
  cr_assert(tu_make_band_split(dir, "train", 320, 1));
  cr_assert(tu_make_band_split(dir, "t10k", 100, 2));
  const char *train = "train --model mlp --epochs 2 --batch-size 32 --val-size 64 --data-dir . --metrics m.jsonl --plain";
  char args[512];
  snprintf(args, sizeof args, "%s --save w.safetensors", train);
  cr_assert_eq(run_axon(args), 0);
  snprintf(args, sizeof args, "%s --no-save --seed 7", train);
  cr_assert_eq(run_axon(args), 0);
  cr_assert_eq(run_axon("plot m.jsonl --out curves.png"), 0);
  expect_png("curves.png", 1200, 500);
  cr_assert_eq(run_axon("plot m.jsonl m.jsonl --out=steps.png --keys train_loss --x epoch --width 500 --height 300 --title t"), 0);
  expect_png("steps.png", 500, 300);
  cr_assert_eq(run_axon("eval --weights w.safetensors --data-dir . --confusion-png cm.png"), 0);
  expect_png("cm.png", 0, 0);
  /* bad invocations: usage errors exit 2, bad files 1; one line naming the problem */
  cr_assert_eq(run_axon("plot --out x.png"), 2);
  expect_stderr("no metrics file given");
  cr_assert_eq(run_axon("plot m.jsonl"), 2);
  expect_stderr("--out FILE.png is required");
  cr_assert_eq(run_axon("plot m.jsonl --out x.png --x time"), 2);
  cr_assert_eq(run_axon("plot nothere.jsonl --out x.png"), 2);
  expect_stderr("nothere.jsonl");
  cr_assert_eq(run_axon("plot m.jsonl --out /nonexistent/dir/x.png"), 2);
  expect_stderr("/nonexistent/dir");
  cr_assert_eq(run_axon("plot m.jsonl --out x.png --keys train_loss,,val_loss"), 2);
  cr_assert_eq(run_axon("plot m.jsonl --out x.png --keys val_acc"), 1);
  expect_stderr("no epoch record has the key 'val_acc'");
  char notes[128];
  path_in(notes, sizeof notes, "notes.txt");
  write_text(notes, "epoch 1 loss 0.5\n");
  cr_assert_eq(run_axon("plot notes.txt --out x.png"), 1);
  expect_stderr("notes.txt:1: not a JSON object: epoch 1 loss 0.5");
  cr_assert_eq(run_axon("eval --weights w.safetensors --data-dir . --confusion-png /nonexistent/dir/cm.png"), 2);
  char x[128];
  path_in(x, sizeof x, "x.png");
  cr_assert_neq(access(x, F_OK), 0, "no failed command left a picture");
  cr_assert_eq(run_axon("plot --help"), 0);
}
