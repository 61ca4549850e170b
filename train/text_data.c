/* SPDX-License-Identifier: BSD-3-Clause */
/* Language-model data for the training engine (include/axon/train.h): each rank's rows of
 * every global batch of a text corpus or token shards, and the validation loss. */
#include <math.h>
#include <stdlib.h>

#include "axon.h"
#include "train/internal.h"

#define fail ax__fail

struct ax_text_data {
  ax_text_data_opts o;
  int rank;
  int64_t rows; /* this rank's rows of a global batch */
};

ax_text_data *ax_text_data_new(const ax_text_data_opts *o, char *err, size_t errlen) {
  ax_comm *comm = o && o->comm ? o->comm : ax_comm_world();
  int world = ax_comm_size(comm);
  if (!o || !o->ds || o->batch_size < 1 || o->block < 1)
    return fail(err, errlen, "ax_text_data_new: needs a dataset, a batch size and a block size"), NULL;
  if (o->batch_size % world)
    return fail(err, errlen, "--batch-size %d is not divisible by the %d ranks", o->batch_size, world), NULL;
  ax_text_data *d = calloc(1, sizeof *d);
  if (!d) return fail(err, errlen, "out of host memory"), NULL;
  d->o = *o;
  d->rank = ax_comm_rank(comm);
  d->rows = o->batch_size / world;
  return d;
}

void ax_text_data_free(ax_text_data *d) { free(d); }

/* Rank r takes rows [r B/N, (r+1) B/N) of every global batch (ax_text_batch_rows). */
static int txt_next(void *ud, int64_t step, int micro, ax_tensor **x, ax_tensor **y, char *err, size_t errlen) {
  ax_text_data *d = ud;
  int ga = d->o.grad_accum > 0 ? d->o.grad_accum : 1;
  if (ax_text_batch_rows(d->o.ds, AX_TEXT_TRAIN, d->rank * d->rows, d->rows, d->o.block, d->o.seed, step * ga + micro,
                         x, y))
    return fail(err, errlen, "%s", ax_last_error());
  return 1;
}

static ax_tensor *txt_loss(ax_text_data *d, ax_module *m, ax_tensor *x, ax_tensor *y) {
  if (d->o.loss) return d->o.loss(d->o.loss_ud, m, x, y);
  ax_tensor *logits = ax_module_forward(m, x); /* [B, T, V] */
  return ax_cross_entropy(ax_reshape(logits, AX_SHAPE(-1, logits ? logits->shape[2] : 1)), ax_reshape(y, AX_SHAPE(-1)),
                          NULL);
}

static ax_tensor *txt_engine_loss(void *ud, ax_module *m, ax_tensor *x, ax_tensor *y) { return txt_loss(ud, m, x, y); }

/* The mean loss per sequence over the validation split (eval_batches global batches of it). */
static int txt_validate(void *ud, ax_module *m, ax_eval_result *e) {
  ax_text_data *d = ud;
  int64_t nb = ax_text_eval_batches(d->o.ds, d->o.batch_size, d->o.block);
  if (d->o.eval_batches > 0 && d->o.eval_batches < nb) nb = d->o.eval_batches;
  double sum = 0;
  int64_t rows = 0;
  for (int64_t i = 0; i < nb; i++) {
    ax_scope_begin();
    ax_tensor *x, *y;
    if (ax_text_eval_batch(d->o.ds, d->o.batch_size, d->o.block, i, &x, &y) == 1) {
      int64_t n = x->shape[0];
      ax_tensor *loss = txt_loss(d, m, ax_to(x, d->o.device), ax_to(y, d->o.device));
      if (loss) sum += ax_item(loss) * (double)n, rows += n;
    }
    ax_scope_end();
  }
  e->loss = rows ? sum / (double)rows : NAN;
  e->accuracy = NAN;
  return 0;
}

ax_train_data ax_text_data_source(ax_text_data *d) {
  return (ax_train_data){.next = txt_next, .loss = txt_engine_loss, .validate = txt_validate, .ud = d};
}
