/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon train --data-csv FILE` / `--data-npz FILE`: a dataset of the user's own arrays,
 * split into training and test sets, for the feature MLP (docs/data.md). */
#ifndef AXON_TOOLS_TRAIN_FEATURES_H
#define AXON_TOOLS_TRAIN_FEATURES_H

#include "axon.h"

typedef struct ax_feature_source {
  const char *csv, *npz;   /* exactly one */
  const char *label_col;   /* CSV: the label column's name or index (NULL: the last) */
  int64_t test_size;       /* rows held out as the test set (0: a fifth); npz with x_test / y_test: ignored */
  uint64_t seed;           /* of the split */
} ax_feature_source;

/* The training and test datasets. 0, or -1 with a reason naming the file. */
int ax_tool_load_features(const ax_feature_source *s, ax_dataset **train, ax_dataset **test, char *err, size_t errlen);
/* "30" or "1,28,28": the shape of one sample of ds, into buf. */
void ax_tool_sample_shape(const ax_dataset *ds, char *buf, size_t n);
/* Elements per sample. */
int64_t ax_tool_sample_size(const ax_dataset *ds);

#endif
