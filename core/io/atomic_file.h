/* SPDX-License-Identifier: BSD-3-Clause */
/* Files written all-or-nothing: data goes to a temporary file next to the
 * target, which is fsync'ed and renamed over it only when complete, so a crash
 * or an error never leaves a half-written file where a good one was. */
#ifndef AXON_CORE_IO_ATOMIC_FILE_H
#define AXON_CORE_IO_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct ax_atomic_file {
  FILE *fp;
  char *path, *tmp_path;
} ax_atomic_file;

int ax_atomic_open(ax_atomic_file *f, const char *path, char *err, size_t errlen);
int ax_atomic_write(ax_atomic_file *f, const void *data, size_t n); /* 0 or -1 (errno set) */
int ax_atomic_rewrite(ax_atomic_file *f, long offset, const void *data, size_t n); /* overwrite written bytes */
int ax_atomic_commit(ax_atomic_file *f, char *err, size_t errlen);  /* fsync, rename, fsync the folder */
void ax_atomic_abort(ax_atomic_file *f);                            /* removes the temporary file; safe to repeat */
/* Removes the stale temporary files of path ("<path>.tmp.XXXXXX" left by killed writers:
 * unlocked, ours, untouched for more than max_age_s seconds; see atomic_file.c); returns
 * how many. Every successful commit runs it with 60 s. */
int ax_atomic_clean_stale(const char *path, int max_age_s);

#endif
