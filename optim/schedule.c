/* SPDX-License-Identifier: BSD-3-Clause */
/* Learning-rate schedules as pure functions of the step (the closed forms of
 * torch.optim.lr_scheduler), so a resumed run needs no scheduler state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "optim/optim_internal.h"

#define SCHED_PI 3.14159265358979323846

typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_MULTISTEP, SCHED_EXPONENTIAL, SCHED_COSINE, SCHED_ONECYCLE, SCHED_WARMUP } sched_kind;

struct ax_lr_schedule {
  sched_kind kind;
  double base, gamma, eta_min;
  int64_t period; /* step_size, t_max, total_steps or warm-up steps */
  int64_t *milestones;
  int n_milestones;
  double initial, max, final, pct_start; /* one-cycle; warm-up uses initial as start_factor */
  ax_lr_schedule *then;                  /* warm-up */
};

static ax_lr_schedule *make(sched_kind kind, double base) {
  ax_lr_schedule *s = calloc(1, sizeof *s);
  if (!s) {
    ax_error("ax_lr_schedule: out of host memory");
    return NULL;
  }
  s->kind = kind;
  s->base = base;
  return s;
}

static bool check_lr(const char *op, double lr) {
  if (lr >= 0 && isfinite(lr)) return true;
  ax_error("%s: the learning rate must be a finite number >= 0, got %g", op, lr);
  return false;
}

ax_lr_schedule *ax_lr_constant(double lr) { return check_lr("ax_lr_constant", lr) ? make(SCHED_CONSTANT, lr) : NULL; }

ax_lr_schedule *ax_lr_step(double base_lr, int64_t step_size, double gamma) {
  if (!check_lr("ax_lr_step", base_lr)) return NULL;
  if (step_size <= 0 || !(gamma >= 0)) {
    ax_error("ax_lr_step: step_size must be > 0 and gamma >= 0 (got %lld, %g)", (long long)step_size, gamma);
    return NULL;
  }
  ax_lr_schedule *s = make(SCHED_STEP, base_lr);
  if (s) s->period = step_size, s->gamma = gamma;
  return s;
}

ax_lr_schedule *ax_lr_multistep(double base_lr, const int64_t *milestones, int n, double gamma) {
  if (!check_lr("ax_lr_multistep", base_lr)) return NULL;
  if (n < 0 || (n > 0 && !milestones) || !(gamma >= 0)) {
    ax_error("ax_lr_multistep: need n >= 0 milestones and gamma >= 0 (got n = %d, gamma = %g)", n, gamma);
    return NULL;
  }
  for (int i = 1; i < n; i++)
    if (milestones[i] < milestones[i - 1]) {
      ax_error("ax_lr_multistep: milestones must be increasing (%lld after %lld)", (long long)milestones[i],
               (long long)milestones[i - 1]);
      return NULL;
    }
  ax_lr_schedule *s = make(SCHED_MULTISTEP, base_lr);
  if (!s) return NULL;
  s->gamma = gamma;
  s->n_milestones = n;
  if (n > 0) {
    s->milestones = malloc(sizeof(int64_t) * (size_t)n);
    if (!s->milestones) {
      free(s);
      ax_error("ax_lr_multistep: out of host memory");
      return NULL;
    }
    memcpy(s->milestones, milestones, sizeof(int64_t) * (size_t)n);
  }
  return s;
}

ax_lr_schedule *ax_lr_exponential(double base_lr, double gamma) {
  if (!check_lr("ax_lr_exponential", base_lr)) return NULL;
  if (!(gamma >= 0)) {
    ax_error("ax_lr_exponential: gamma must be >= 0, got %g", gamma);
    return NULL;
  }
  ax_lr_schedule *s = make(SCHED_EXPONENTIAL, base_lr);
  if (s) s->gamma = gamma;
  return s;
}

ax_lr_schedule *ax_lr_cosine(double base_lr, int64_t t_max, double eta_min) {
  if (!check_lr("ax_lr_cosine", base_lr) || !check_lr("ax_lr_cosine", eta_min)) return NULL;
  if (t_max <= 0) {
    ax_error("ax_lr_cosine: t_max must be > 0, got %lld", (long long)t_max);
    return NULL;
  }
  ax_lr_schedule *s = make(SCHED_COSINE, base_lr);
  if (s) s->period = t_max, s->eta_min = eta_min;
  return s;
}

ax_lr_schedule *ax_lr_onecycle(double max_lr, int64_t total_steps, const ax_onecycle_opts *opts) {
  ax_onecycle_opts o = opts ? *opts : (ax_onecycle_opts){0};
  double pct = ax__opt_or(o.pct_start, 0.3), div = ax__opt_or(o.div_factor, 25),
         final_div = ax__opt_or(o.final_div_factor, 1e4);
  if (!check_lr("ax_lr_onecycle", max_lr)) return NULL;
  if (total_steps < 1 || !(pct > 0 && pct < 1) || !(div > 0) || !isfinite(div) || !(final_div > 0) ||
      !isfinite(final_div)) {
    ax_error("ax_lr_onecycle: need total_steps >= 1, pct_start in (0, 1), div_factor and final_div_factor > 0 "
             "(got %lld, %g, %g, %g)", (long long)total_steps, pct, div, final_div);
    return NULL;
  }
  ax_lr_schedule *s = make(SCHED_ONECYCLE, max_lr);
  if (!s) return NULL;
  s->period = total_steps;
  s->pct_start = pct;
  s->max = max_lr;
  s->initial = max_lr / div;
  s->final = s->initial / final_div;
  return s;
}

ax_lr_schedule *ax_lr_warmup(ax_lr_schedule *then, int64_t warmup_steps, double start_factor) {
  if (!then) return NULL;
  if (warmup_steps < 0 || !(start_factor >= 0 && start_factor <= 1)) {
    ax_error("ax_lr_warmup: need warmup_steps >= 0 and start_factor in [0, 1] (got %lld, %g)",
             (long long)warmup_steps, start_factor);
    ax_lr_schedule_free(then);
    return NULL;
  }
  ax_lr_schedule *s = make(SCHED_WARMUP, 0);
  if (!s) {
    ax_lr_schedule_free(then);
    return NULL;
  }
  s->then = then;
  s->period = warmup_steps;
  s->initial = start_factor;
  return s;
}

void ax_lr_schedule_free(ax_lr_schedule *s) {
  if (!s) return;
  ax_lr_schedule_free(s->then);
  free(s->milestones);
  free(s);
}

/* PyTorch's _annealing_cos: from start (pct 0) to end (pct 1) along half a cosine. */
static double anneal_cos(double start, double end, double pct) { return end + (start - end) / 2 * (cos(SCHED_PI * pct) + 1); }

static double onecycle_at(const ax_lr_schedule *s, int64_t k) {
  if (s->period == 1) return s->max; /* a one-step cycle has no phases: its step runs at the peak */
  if (k > s->period - 1) k = s->period - 1;
  double up_end = s->pct_start * (double)s->period - 1, down_end = (double)s->period - 1;
  if ((double)k <= up_end) return anneal_cos(s->initial, s->max, (double)k / up_end);
  return anneal_cos(s->max, s->final, ((double)k - up_end) / (down_end - up_end));
}

double ax_lr_at(const ax_lr_schedule *s, int64_t k) {
  if (!s) return 0;
  if (k < 0) k = 0;
  switch (s->kind) {
    case SCHED_CONSTANT: return s->base;
    case SCHED_STEP: return s->base * pow(s->gamma, (double)(k / s->period));
    case SCHED_MULTISTEP: {
      int passed = 0;
      while (passed < s->n_milestones && s->milestones[passed] <= k) passed++;
      return s->base * pow(s->gamma, passed);
    }
    case SCHED_EXPONENTIAL: return s->base * pow(s->gamma, (double)k);
    case SCHED_COSINE:
      return s->eta_min + (s->base - s->eta_min) * (1 + cos(SCHED_PI * (double)k / (double)s->period)) / 2;
    case SCHED_ONECYCLE: return onecycle_at(s, k);
    case SCHED_WARMUP:
      if (k >= s->period) return ax_lr_at(s->then, k - s->period);
      return ax_lr_at(s->then, 0) * (s->initial + (1 - s->initial) * (double)k / (double)s->period);
  }
  return 0;
}

double ax_lr_schedule_apply(const ax_lr_schedule *s, ax_optimizer *opt) {
  if (!s || !opt) return 0;
  double lr = ax_lr_at(s, ax_optimizer_step_count(opt));
  ax_optimizer_set_lr(opt, lr);
  return lr;
}
