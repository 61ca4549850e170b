/* SPDX-License-Identifier: BSD-3-Clause */
/* See tools/train_common.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <unistd.h>

#include "tools/train_common.h"

void ax_tool_describe_parallel(FILE *log, ax_trainer *t, ax_comm *comm, const char *optimizer, const char *per_rank) {
  int world = ax_comm_size(comm);
  if (ax_trainer_ddp(t))
    fprintf(log, "data parallel: %d ranks (%s), %s\n", world, ax_comm_backend_name(comm), per_rank);
  ax_zero *zero = ax_zero_of(ax_trainer_optimizer(t));
  if (zero)
    fprintf(log, "ZeRO-1: %s state sharded over %d rank%s: %.3f MB per rank (unsharded %.3f MB)\n", optimizer, world,
            world == 1 ? "" : "s", (double)ax_zero_state_bytes(zero) / 1048576.0,
            (double)ax_zero_full_state_bytes(zero) / 1048576.0);
}

int ax_tool_warn_warmup(FILE *log, int64_t warmup, int64_t steps, double lr) {
  if (warmup <= 0 || warmup < steps) return 0;
  fprintf(log,
          "warning: --warmup-steps %lld >= the run's %lld steps: the learning rate never reaches its peak %g "
          "(lower --warmup-steps or raise --steps)\n",
          (long long)warmup, (long long)steps, lr);
  return 1;
}

bool ax_tool_is_terminal(FILE *f) {
  if (!f || !isatty(fileno(f))) return false;
  /* the launchers' variables, as dist/comm.c reads them (mpirun, MPICH / PMIx, srun) */
  const char *launcher_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_ID"};
  for (size_t i = 0; i < sizeof launcher_vars / sizeof *launcher_vars; i++)
    if (getenv(launcher_vars[i])) return false;
  return true;
}
