/* SPDX-License-Identifier: BSD-3-Clause */
#define _DEFAULT_SOURCE
#include "core/io/atomic_file.h"

#include <ctype.h>
#include <stdbool.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "core/fail.h"

/* Leftovers of killed writers. A writer holds an exclusive flock on its temporary file
 * from right after mkstemp until it closes it (just before the rename); the kernel drops
 * the lock when the process dies, kill -9 included. A sibling named exactly
 * "<target name>.tmp.XXXXXX" (our mkstemp pattern: 6 letters / digits) is stale when it
 * is a regular file of ours, nobody holds its lock, and it was last modified more than
 * AX_ATOMIC_STALE_SECONDS ago (which covers the instants between mkstemp and flock, and
 * between close and rename, when a live writer's file is unlocked). */
#define AX_ATOMIC_STALE_SECONDS 60

static bool is_our_temp(const char *entry, const char *base) {
  size_t n = strlen(base);
  if (strncmp(entry, base, n) || strncmp(entry + n, ".tmp.", 5)) return false;
  const char *x = entry + n + 5;
  for (int i = 0; i < 6; i++)
    if (!isalnum((unsigned char)x[i])) return false;
  return x[6] == 0;
}

int ax_atomic_clean_stale(const char *path, int max_age_s) {
  char *d = strdup(path), *b = strdup(path);
  int removed = 0;
  if (!d || !b) goto out;
  const char *dir = dirname(d), *base = basename(b);
  DIR *dp = opendir(dir);
  if (!dp) goto out;
  struct dirent *de;
  time_t now = time(NULL);
  while ((de = readdir(dp))) {
    if (!is_our_temp(de->d_name, base)) continue;
    int fd = openat(dirfd(dp), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st;
    bool stale = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
                 now - st.st_mtime > max_age_s && flock(fd, LOCK_EX | LOCK_NB) == 0;
    /* still holding its lock: a writer starting now cannot be handed this name (mkstemp
     * refuses existing names) and the file is ours alone until it is gone */
    if (stale && unlinkat(dirfd(dp), de->d_name, 0) == 0) removed++;
    close(fd);
  }
  closedir(dp);
out:
  free(d);
  free(b);
  return removed;
}

int ax_atomic_open(ax_atomic_file *f, const char *path, char *err, size_t errlen) {
  memset(f, 0, sizeof *f);
  size_t n = strlen(path);
  f->path = strdup(path);
  f->tmp_path = malloc(n + 16);
  if (!f->path || !f->tmp_path) {
    ax__fail(err, errlen, "%s: out of memory", path);
    ax_atomic_abort(f);
    return -1;
  }
  snprintf(f->tmp_path, n + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(f->tmp_path);
  if (fd < 0) {
    ax__fail(err, errlen, "%s: cannot create a temporary file next to it: %s", path, strerror(errno));
    free(f->tmp_path);
    f->tmp_path = NULL;
    ax_atomic_abort(f);
    return -1;
  }
  fchmod(fd, 0644);
  flock(fd, LOCK_EX | LOCK_NB); /* marks it live for ax_atomic_clean_stale; released when we close or die */
  f->fp = fdopen(fd, "wb");
  if (!f->fp) {
    close(fd);
    ax__fail(err, errlen, "%s: %s", path, strerror(errno));
    ax_atomic_abort(f);
    return -1;
  }
  return 0;
}

int ax_atomic_write(ax_atomic_file *f, const void *data, size_t n) {
  if (!f->fp) return -1;
  return n == 0 || fwrite(data, 1, n, f->fp) == n ? 0 : -1;
}

int ax_atomic_rewrite(ax_atomic_file *f, long offset, const void *data, size_t n) {
  if (!f->fp) return -1;
  if (fseek(f->fp, offset, SEEK_SET) != 0 || (n && fwrite(data, 1, n, f->fp) != n)) return -1;
  return fseek(f->fp, 0, SEEK_END) != 0 ? -1 : 0;
}

int ax_atomic_commit(ax_atomic_file *f, char *err, size_t errlen) {
  if (!f->fp) return -1;
  int bad = fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0;
  int e = errno;
  bad |= fclose(f->fp) != 0;
  f->fp = NULL;
  if (bad || rename(f->tmp_path, f->path) != 0) {
    ax__fail(err, errlen, "%s: cannot write: %s", f->path, strerror(bad ? e : errno));
    ax_atomic_abort(f);
    return -1;
  }
  free(f->tmp_path);
  f->tmp_path = NULL;
  /* the rename itself is durable only once the folder is synced */
  char *dir_copy = strdup(f->path);
  if (dir_copy) {
    int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
    free(dir_copy);
  }
  ax_atomic_clean_stale(f->path, AX_ATOMIC_STALE_SECONDS);
  free(f->path);
  f->path = NULL;
  return 0;
}

void ax_atomic_abort(ax_atomic_file *f) {
  if (f->fp) fclose(f->fp);
  if (f->tmp_path) unlink(f->tmp_path);
  free(f->tmp_path);
  free(f->path);
  memset(f, 0, sizeof *f);
}
