/* SPDX-License-Identifier: BSD-3-Clause */
/* Issue 15's drift bug: ax_train on a rank other than 0 opened /dev/null for its log and
 * returned from its argument checks without closing it (the language-model trainer closed
 * its handle on every path). Every rank runs both trainers with arguments they refuse, many
 * times, and counts its open file descriptors before and after: they must not grow. A plain
 * program under mpirun (see test_dist_mpi.c for why not Criterion). */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "axon.h"
#include "tools/train_lm.h"
#include "tools/trainer.h"

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

int main(void) {
  ax_comm *comm = ax_comm_world();
  int rank = ax_comm_rank(comm), world = ax_comm_size(comm), failures = 0;
  const int runs = 64;
  int before = open_fds();
  for (int i = 0; i < runs; i++) {
    char err[256] = "";
    ax_train_config c;
    ax_train_config_defaults(&c);
    c.device = AX_CPU;
    c.epochs = i % 2 ? 0 : 1;             /* refused: --epochs must be at least 1 */
    c.batch_size = i % 2 ? 32 : world + 1; /* (or: not divisible by the ranks, with world > 1) */
    if (world == 1) c.epochs = 0;
    if (ax_train(&c, NULL, err, sizeof err) == 0) {
      fprintf(stderr, "rank %d: ax_train accepted a bad configuration\n", rank);
      failures++;
    }
    ax_lm_config l;
    ax_lm_config_defaults(&l);
    l.device = AX_CPU;
    l.steps = 0; /* refused */
    if (ax_train_lm(&l, NULL, err, sizeof err) == 0) {
      fprintf(stderr, "rank %d: ax_train_lm accepted a bad configuration\n", rank);
      failures++;
    }
  }
  int after = open_fds();
  if (before < 0 || after != before) {
    fprintf(stderr, "rank %d of %d: %d open file descriptors before %d refused runs, %d after\n", rank, world, before,
            2 * runs, after);
    failures++;
  }
  int64_t v = failures;
  ax_scope_begin();
  ax_tensor *t = ax_from_data(&v, 0, NULL, &(ax_tensor_opts){.dtype = AX_I64});
  ax_all_reduce(comm, t, AX_DIST_SUM);
  int total = (int)ax_item(t);
  ax_scope_end();
  if (rank == 0) printf("trainer_fds: %s (%d failed checks over %d ranks)\n", total ? "FAILED" : "passed", total, world);
  return total ? 1 : 0;
}
