/* SPDX-License-Identifier: BSD-3-Clause */
/* The helpers the drawing files of libaxon_plot share (plot/): not exported. */
#ifndef AXON_PLOT_INTERNAL_H
#define AXON_PLOT_INTERNAL_H

#include <cairo.h>
#include <stdbool.h>
#include <stddef.h>

/* Writes surface s to path as PNG; 0, or -1 with "cannot write PNG PATH: reason" (a
 * partly written file is removed). Does not destroy s. */
int ax__plot_write_png(cairo_surface_t *s, const char *path, char *err, size_t errlen);

/* A new RGB24 image surface and its context, filled white; -1 with a reason. */
int ax__plot_canvas(int w, int h, cairo_surface_t **s, cairo_t **cr, char *err, size_t errlen);
/* Destroys both (either may be NULL); returns rc. */
int ax__plot_done(cairo_surface_t *s, cairo_t *cr, int rc);

/* The sans-serif font at size pixels, bold or not. */
void ax__plot_font(cairo_t *cr, double size, bool bold);
/* text at (x, y) aligned: ax 0 left, 0.5 centered, 1 right; ay 0 top, 0.5 middle, 1 baseline */
void ax__plot_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay);
/* the width of text in the current font */
double ax__plot_text_width(cairo_t *cr, const char *s);

/* Round tick values covering [lo, hi]: about `want` ticks at 1, 2 or 5 x 10^k steps, at
 * least min_step apart (1 for whole numbers; 0 for any). Writes up to max values to
 * ticks, sets *step and returns the count; widens lo/hi to the outer ticks. */
int ax__plot_ticks(double *lo, double *hi, int want, double min_step, double *ticks, int max, double *step);
/* a tick label with as many decimals as step needs */
void ax__plot_tick_label(double v, double step, char *buf, size_t n);

/* the i-th color of a qualitative palette (Tableau 10) */
void ax__plot_color(int i, double rgb[3]);


/* ---- training curves: plot/metrics.c reads, plot/curves.c draws ---- */
#define AX__PLOT_MAX_KEYS 16
#define AX__PLOT_MAX_RUNS 64

typedef struct ax__plot_series {
  int run, key;   /* indices into runs[] and keys[] */
  double *x, *y;
  int n, cap;
} ax__plot_series;

typedef struct ax__plot_data {
  struct cJSON **rec; /* every record of every file, in order */
  int *rec_file, *rec_line;
  int nrec, cap;
  const char *x;      /* "epoch" or "step" */
  const char *runs[AX__PLOT_MAX_RUNS];
  int nruns;
  const char *keys[AX__PLOT_MAX_KEYS];
  bool acc[AX__PLOT_MAX_KEYS]; /* drawn in the accuracy panel */
  int nkeys;
  ax__plot_series *s;
  int ns, scap;
  const char *model; /* the one model name of every record, or NULL */
} ax__plot_data;

/* Draws d's series into a width x height PNG at path, under title. */
int ax__plot_draw_curves(const ax__plot_data *d, const char *path, const char *title, int width, int height,
                         char *err, size_t errlen);

#endif
