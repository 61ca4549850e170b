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

#ifdef __cplusplus
}
#endif
#endif
