/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to nn/data/text.c: the list of files a corpus path names. */
#ifndef AXON_NN_DATA_TEXT_FILES_H
#define AXON_NN_DATA_TEXT_FILES_H

#include <stddef.h>

#include "core/fail.h"

/* The files of path (a file, a folder or a glob) in reading order, each file once
 * (see include/axon/text.h). 0 with *paths (free with ax__text_list_free) and *n,
 * which may be 0; or -1 with a reason naming the path in err. */
int ax__text_list(const char *path, char ***paths, int *n, char *err, size_t errlen);
void ax__text_list_free(char **paths, int n);

#endif
