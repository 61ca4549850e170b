/* SPDX-License-Identifier: BSD-3-Clause */
/* Dynamic loss scaling, as PyTorch's torch.amp.GradScaler.
 *
 * The found-inf check costs one host read per step: each gradient contributes
 * sum(g * 0), which is 0 when g is finite and NaN as soon as one element is
 * inf or NaN (inf * 0 = NaN), whatever the dtype (a plain sum(g) of f16
 * gradients could overflow on finite values); the per-tensor results are added
 * on the device and read once. Unscaling is folded into the optimizer's update
 * through ax_optim_args.grad_scale = 1/scale, so no extra pass over the
 * gradients is made, unless the caller unscales first (to clip). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "optim/optim_internal.h"
#include "core/fail.h"

struct ax_loss_scaler {
  double scale, growth_factor, backoff_factor;
  int64_t growth_interval, growth_tracker, skipped;
  bool unscaled;  /* ax_loss_scaler_unscale ran since the last step */
  bool found_inf; /* its verdict */
};

ax_loss_scaler *ax_loss_scaler_new(const ax_loss_scaler_opts *opts) {
  ax_loss_scaler_opts o = opts ? *opts : (ax_loss_scaler_opts){0};
  double scale = o.init_scale ? o.init_scale : 65536.0, growth = o.growth_factor ? o.growth_factor : 2.0;
  double backoff = o.backoff_factor ? o.backoff_factor : 0.5;
  int64_t interval = o.growth_interval ? o.growth_interval : 2000;
  if (!(scale > 0) || !isfinite(scale) || !(growth > 1) || !isfinite(growth) || !(backoff > 0 && backoff < 1) ||
      interval < 1) {
    ax_error("ax_loss_scaler_new: need init_scale > 0, growth_factor > 1, backoff_factor in (0, 1) and "
             "growth_interval >= 1 (got %g, %g, %g, %lld)",
             scale, growth, backoff, (long long)interval);
    return NULL;
  }
  ax_loss_scaler *s = calloc(1, sizeof *s);
  if (!s) {
    ax_error("ax_loss_scaler_new: out of host memory");
    return NULL;
  }
  s->scale = scale;
  s->growth_factor = growth;
  s->backoff_factor = backoff;
  s->growth_interval = interval;
  return s;
}

void ax_loss_scaler_free(ax_loss_scaler *s) { free(s); }

ax_tensor *ax_loss_scaler_scale(ax_loss_scaler *s, ax_tensor *loss) {
  if (!s || !loss) return NULL;
  return ax_mul_scalar(loss, s->scale);
}

/* 1 when every gradient of opt's parameters is finite, 0 when one is not, -1 after an error. */
static int grads_finite(ax_optimizer *opt) {
  ax_no_grad_begin();
  ax_scope_begin();
  ax_tensor *total = NULL;
  bool failed = false;
  for (int i = 0; i < opt->n && !failed; i++) {
    ax_tensor *g = opt->params[i]->grad;
    if (!g) continue;
    ax_tensor *z = ax_cast(ax_sum(ax_mul_scalar(g, 0.0), 0, NULL, false), AX_F32);
    if (z && total && !ax_device_eq(z->device, total->device)) z = ax_to(z, total->device);
    total = !z ? NULL : total ? ax_add(total, z) : z;
    failed = total == NULL;
  }
  double v = total && !failed ? ax_item(total) : 0.0;
  ax_scope_end();
  ax_no_grad_end();
  return failed ? -1 : isfinite(v) ? 1 : 0;
}

bool ax_loss_scaler_unscale(ax_loss_scaler *s, ax_optimizer *opt) {
  if (!s || !opt) return false;
  if (s->unscaled) return !s->found_inf;
  int ok = grads_finite(opt);
  if (ok < 0) return false;
  s->found_inf = ok == 0;
  s->unscaled = true;
  if (s->found_inf) return false; /* the step will be skipped: no need to touch the gradients */
  ax_no_grad_begin();
  ax_scope_begin();
  for (int i = 0; i < opt->n; i++) {
    ax_tensor *g = opt->params[i]->grad;
    if (g) ax_copy_(g, ax_mul_scalar(g, 1.0 / s->scale));
  }
  ax_scope_end();
  ax_no_grad_end();
  return true;
}

bool ax_loss_scaler_step(ax_loss_scaler *s, ax_optimizer *opt) {
  if (!s || !opt) return false;
  bool unscaled = s->unscaled, found_inf = s->found_inf;
  s->unscaled = s->found_inf = false;
  if (!unscaled) {
    int ok = grads_finite(opt);
    if (ok < 0) return false;
    found_inf = ok == 0;
  }
  if (found_inf) {
    s->scale *= s->backoff_factor;
    s->growth_tracker = 0;
    s->skipped++;
    return false;
  }
  double grad_scale = opt->args.grad_scale;
  if (!unscaled) opt->args.grad_scale = grad_scale / s->scale;
  int rc = ax_optimizer_step(opt);
  opt->args.grad_scale = grad_scale;
  if (rc) return false;
  if (++s->growth_tracker >= s->growth_interval) {
    s->scale *= s->growth_factor;
    s->growth_tracker = 0;
  }
  return true;
}

double ax_loss_scaler_scale_value(const ax_loss_scaler *s) { return s ? s->scale : 1.0; }
int64_t ax_loss_scaler_growth_tracker(const ax_loss_scaler *s) { return s ? s->growth_tracker : 0; }
int64_t ax_loss_scaler_skipped_steps(const ax_loss_scaler *s) { return s ? s->skipped : 0; }

void ax_loss_scaler_set_state(ax_loss_scaler *s, double scale, int64_t growth_tracker) {
  if (!s) return;
  if (!(scale > 0) || !isfinite(scale) || growth_tracker < 0) {
    ax_error("ax_loss_scaler_set_state: need a finite scale > 0 and a growth tracker >= 0 (got %g, %lld)", scale,
             (long long)growth_tracker);
    return;
  }
  s->scale = scale;
  s->growth_tracker = growth_tracker;
  s->unscaled = s->found_inf = false;
}

static void key(char *buf, size_t n, const char *prefix, const char *name) {
  snprintf(buf, n, "%s%s", prefix ? prefix : "", name);
}

void ax_loss_scaler_state_dict(const ax_loss_scaler *s, ax_state_dict *sd, const char *prefix) {
  if (!s || !sd) return;
  char name[256];
  ax_scope_begin(); /* the dict keeps the only references */
  key(name, sizeof name, prefix, "scale");
  ax_state_dict_set(sd, name, ax_scalar(s->scale, &(ax_tensor_opts){.dtype = AX_F64}));
  key(name, sizeof name, prefix, "growth_tracker");
  ax_state_dict_set(sd, name, ax_scalar((double)s->growth_tracker, &(ax_tensor_opts){.dtype = AX_I64}));
  ax_scope_end();
}

int ax_loss_scaler_load_state_dict(ax_loss_scaler *s, const ax_state_dict *sd, const char *prefix, char *err,
                                   size_t errlen) {
  char name[256], name2[256];
  key(name, sizeof name, prefix, "scale");
  key(name2, sizeof name2, prefix, "growth_tracker");
  ax_tensor *sc = s && sd ? ax_state_dict_get(sd, name) : NULL, *gt = s && sd ? ax_state_dict_get(sd, name2) : NULL;
  const char *bad = !sc || ax_numel(sc) != 1 ? name : !gt || ax_numel(gt) != 1 ? name2 : NULL;
  if (bad) {
    ax__fail(err, errlen, "%s: missing key or not one value", bad);
    return -1;
  }
  double scale = ax_item(sc), tracker = ax_item(gt);
  if (!(scale > 0) || !isfinite(scale) || !(tracker >= 0 && tracker <= 9007199254740992.0) ||
      tracker != (double)(int64_t)tracker) {
    ax__fail(err, errlen, "%s / %s: need a finite scale > 0 and a growth_tracker that is a whole number from 0 to 2^53 "
               "(got %g, %g)", name, name2, scale, tracker);
    return -1;
  }
  ax_loss_scaler_set_state(s, scale, (int64_t)tracker);
  return 0;
}
