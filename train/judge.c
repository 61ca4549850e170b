/* SPDX-License-Identifier: BSD-3-Clause */
/* A trained classifier's judgement of generated images (include/axon/generative.h):
 * the Inception-Score-like value and the class coverage. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axon.h"
#include "train/internal.h"

/* The judge's class probabilities of one batch of samples, into p (n x classes doubles). */
static int judge_batch(ax_module *judge, float mean, float std, ax_tensor *(*sample)(void *, int64_t), void *ud,
                       int64_t n, ax_device dev, double *p, int *classes, char *err, size_t errlen) {
  int rc = 0;
  ax_scope_begin();
  ax_tensor *x = sample(ud, n);
  ax_tensor *probs = NULL;
  if (x && (x->ndim != 4 || x->shape[0] != n))
    rc = ax__fail(err, errlen, "the sampler made a %dd tensor, not %lld images", x->ndim, (long long)n);
  if (x && rc == 0) {
    ax_tensor *xn = ax_mul_scalar(ax_add_scalar(ax_to(x, dev), -mean), 1.0 / std);
    probs = ax_cast(ax_to(ax_softmax(ax_module_forward(judge, xn), 1), AX_CPU), AX_F64);
  }
  if (rc == 0 && (!probs || probs->ndim != 2 || probs->shape[1] < 2 || probs->shape[1] > 16))
    rc = ax__fail(err, errlen, "the judge could not classify the samples: %s",
                  probs ? "it does not give 2 to 16 class scores" : ax_last_error());
  if (rc == 0) {
    *classes = (int)probs->shape[1];
    if (ax_to_data(ax_contiguous(probs), p, (size_t)(n * *classes) * sizeof *p) != 0)
      rc = ax__fail(err, errlen, "cannot read the judge's output: %s", ax_last_error());
  }
  ax_scope_end();
  return rc;
}

/* From the sums over samples of p(y|x) and of sum_y p log p, and the histogram, the score. */
static void judge_finish(ax_judge_score *o, const double *psum, double plogp) {
  double n = (double)o->n, hpbar = 0, hist = 0;
  int64_t lo = o->n, hi = 0;
  for (int y = 0; y < o->classes; y++) {
    double pb = psum[y] / n, q = (double)o->counts[y] / n;
    if (pb > 0) hpbar -= pb * log(pb);
    if (q > 0) hist -= q * log(q);
    if (o->counts[y] < lo) lo = o->counts[y];
    if (o->counts[y] > hi) hi = o->counts[y];
  }
  /* E_x KL(p(y|x) || p(y)) = E_x sum p log p - sum pbar log pbar */
  o->score = exp(plogp / n + hpbar);
  o->entropy = hist / log((double)o->classes);
  o->min_share = (double)lo / n;
  o->max_share = (double)hi / n;
}

int ax_judge_images(ax_module *judge, float mean, float std, ax_tensor *(*sample)(void *ud, int64_t n), void *ud,
                    int64_t n, int64_t batch, ax_device dev, ax_judge_score *out, char *err, size_t errlen) {
  if (!judge || !sample || !out || n < 1 || !(std > 0))
    return ax__fail(err, errlen, "ax_judge_images: needs a judge, a sampler, n >= 1 and std > 0");
  if (batch <= 0) batch = 500;
  memset(out, 0, sizeof *out);
  double *p = malloc((size_t)batch * 16 * sizeof *p), psum[16] = {0}, plogp = 0;
  if (!p) return ax__fail(err, errlen, "out of host memory");
  bool was_training = ax_module_is_training(judge);
  ax_module_train(judge, false);
  ax_no_grad_begin();
  int rc = 0;
  for (int64_t done = 0; done < n && rc == 0;) {
    int64_t b = n - done < batch ? n - done : batch;
    int k = 0;
    rc = judge_batch(judge, mean, std, sample, ud, b, dev, p, &k, err, errlen);
    for (int64_t i = 0; i < b && rc == 0; i++) {
      const double *pi = p + i * k;
      int best = 0;
      for (int y = 0; y < k; y++) {
        psum[y] += pi[y];
        if (pi[y] > 0) plogp += pi[y] * log(pi[y]);
        if (pi[y] > pi[best]) best = y;
      }
      out->counts[best]++;
    }
    out->classes = k;
    done += b;
  }
  ax_no_grad_end();
  ax_module_train(judge, was_training);
  free(p);
  if (rc) return -1;
  out->n = n;
  judge_finish(out, psum, plogp);
  return 0;
}
