#define _DEFAULT_SOURCE
#include "core/io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ax_atomic_open(ax_atomic_file *f, const char *path, char *err, size_t errlen) {
  memset(f, 0, sizeof *f);
  size_t n = strlen(path);
  f->path = strdup(path);
  f->tmp_path = malloc(n + 16);
  if (!f->path || !f->tmp_path) {
    if (err) snprintf(err, errlen, "%s: out of memory", path);
    ax_atomic_abort(f);
    return -1;
  }
  snprintf(f->tmp_path, n + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(f->tmp_path);
  if (fd < 0) {
    if (err) snprintf(err, errlen, "%s: cannot create a temporary file next to it: %s", path, strerror(errno));
    free(f->tmp_path);
    f->tmp_path = NULL;
    ax_atomic_abort(f);
    return -1;
  }
  fchmod(fd, 0644);
  f->fp = fdopen(fd, "wb");
  if (!f->fp) {
    close(fd);
    if (err) snprintf(err, errlen, "%s: %s", path, strerror(errno));
    ax_atomic_abort(f);
    return -1;
  }
  return 0;
}

int ax_atomic_write(ax_atomic_file *f, const void *data, size_t n) {
  if (!f->fp) return -1;
  return n == 0 || fwrite(data, 1, n, f->fp) == n ? 0 : -1;
}

int ax_atomic_commit(ax_atomic_file *f, char *err, size_t errlen) {
  if (!f->fp) return -1;
  int bad = fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0;
  int e = errno;
  bad |= fclose(f->fp) != 0;
  f->fp = NULL;
  if (bad || rename(f->tmp_path, f->path) != 0) {
    if (err) snprintf(err, errlen, "%s: cannot write: %s", f->path, strerror(bad ? e : errno));
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
