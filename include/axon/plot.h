/* SPDX-License-Identifier: BSD-3-Clause */
/* Pictures: image grids, training curves and confusion heatmaps as PNG files.
 *
 * A separate library, libaxon_plot (target axon_plot), so that libaxon itself needs
 * no drawing library: Cairo draws and writes the PNG files, cJSON parses the metrics
 * files (JSON lines). Built only when both are found (docs/architecture.md).
 *
 * Every function returns 0, or -1 with a one-line reason in err (err may be NULL or
 * errlen 0). Nothing is written when the arguments are bad; an output file that cannot
 * be written is an error naming the path. */
#ifndef AXON_PLOT_H
#define AXON_PLOT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* n images, each c x h x w floats (row-major, channel-major: c planes of h x w),
 * values in [0, 1] (clamped; NaN draws as 0), c = 1 (gray) or 3 (RGB), written as one
 * RGB PNG: `cols` cells per row (cols > n draws n), a 2-pixel gap (mid gray, 128)
 * between cells, empty cells of the last row in the gap color. Image size:
 * cols*w + 2*(cols-1) by rows*h + 2*(rows-1), rows = ceil(n / cols). */
int ax_png_grid(const char *path, const float *images, int n, int c, int h, int w, int cols, char *err,
                size_t errlen);

typedef struct ax_png_grid_opts {
  int scale;                  /* each image pixel as scale x scale pixels; 0 means 1 (at most 64) */
  const char *const *labels;  /* NULL, or n strings (NULL entries allowed) drawn under the cells */
} ax_png_grid_opts;

/* ax_png_grid with options (o may be NULL: ax_png_grid). With labels, each cell row gets
 * a text line of 14 pixels under it (the gap stays 2 pixels). */
int ax_png_grid_ex(const char *path, const float *images, int n, int c, int h, int w, int cols,
                   const ax_png_grid_opts *o, char *err, size_t errlen);

typedef struct ax_plot_opts {
  const char *out;            /* the PNG to write (required) */
  const char *x;              /* "epoch" or "step"; NULL: epoch when the files have epoch records, else step */
  const char *const *keys;    /* NULL-terminated keys to draw; NULL: the losses and accuracies present */
  const char *title;          /* NULL: the files' model names, else "training curves" */
  int width, height;          /* pixels; 0: 1200 x 500 */
} ax_plot_opts;

/* Training curves from metrics files (JSON lines, as `axon train --metrics` writes):
 * one line per run id and key against o->x, losses in one panel and accuracies (keys
 * with "acc" in their name) in a second one beside it, with axes, round ticks, a
 * legend and a title. Records of the other kind (epoch records when x is step, and the
 * reverse) are skipped. Errors name the file and line: an empty file, a line that is
 * not a JSON object, a requested key no record has. */
int ax_plot_metrics(const char *const *paths, int n, const ax_plot_opts *o, char *err, size_t errlen);

/* A k x k confusion matrix (counts[target * k + pred], row = true class) as a heatmap:
 * class names on both axes (labels may be NULL: the class ids), the count in each
 * cell, a color scale, and title (NULL: "confusion matrix"). 1 <= k <= 100. */
int ax_png_confusion(const char *path, const int64_t *counts, int k, const char *const *labels, const char *title,
                     char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
