/* SPDX-License-Identifier: BSD-3-Clause */
/* The components (core/components.h) as a program sees them. A plain C driver (no Criterion):
 *   components core    linked to libaxon.so alone: no CUDA backend, no MPI transport, and
 *                      the errors for a cuda device and an MPI launch name the missing library
 *   components all     linked to every component built: what ax_has_cuda() says must match
 *                      the build (argv[2]: 1 with the CUDA component, else 0)
 * Exits 0 when every check holds, 1 with a message otherwise. */
#define _POSIX_C_SOURCE 200809L
#include <axon.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char last[1024];
static void keep(const char *message, void *user) {
  (void)user;
  snprintf(last, sizeof last, "%s", message);
}

static int check(int ok, const char *what) {
  printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
  return ok ? 0 : 1;
}

static int core_only(void) {
  int bad = 0;
  ax_set_error_handler(keep, NULL);
  bad += check(!ax_has_cuda() && ax_cuda_device_count() == 0, "no CUDA backend without libaxon_cuda");
  last[0] = 0;
  ax_tensor *t = ax_zeros(AX_SHAPE(2), &(ax_tensor_opts){.device = AX_CUDA(0)});
  bad += check(t == NULL && strstr(last, "libaxon_cuda") != NULL, "a cuda tensor fails naming libaxon_cuda");
  if (last[0]) printf("      (%s)\n", last);
  last[0] = 0;
  setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  setenv("OMPI_COMM_WORLD_RANK", "0", 1);
  ax_comm *c = ax_comm_world();
  bad += check(c != NULL && strstr(last, "libaxon_mpi") != NULL, "an MPI launch fails naming libaxon_mpi");
  if (last[0]) printf("      (%s)\n", last);
  ax_tensor *x = ax_ones(AX_SHAPE(3), NULL), *s = x ? ax_sum(x, AX_ALL, false) : NULL;
  bad += check(s && ax_item(s) == 3, "the CPU works");
  ax_free(s);
  ax_free(x);
  return bad;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "core")) return core_only() ? 1 : 0;
  if (argc >= 3 && !strcmp(argv[1], "all")) return check(ax_has_cuda() == (atoi(argv[2]) != 0), "CUDA component linked as built");
  fprintf(stderr, "usage: components core | all 0|1\n");
  return 2;
}
