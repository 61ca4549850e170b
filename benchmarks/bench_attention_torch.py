# SPDX-License-Identifier: BSD-3-Clause
"""The rows of bench_attention for PyTorch on the CPU:
torch.nn.functional.scaled_dot_product_attention (is_causal) and the composite
softmax(q k^T * scale + causal mask) v, forward and forward + backward.

    python3 benchmarks/bench_attention_torch.py [--threads N] [--reps R] [--b B] [--h H] [--t T] [--d D]
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
for name, default in [("threads", 2), ("reps", 20), ("b", 32), ("h", 4), ("t", 128), ("d", 64)]:
    ap.add_argument("--" + name, type=int, default=default)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)
q, k, v = (torch.randn(a.b, a.h, a.t, a.d, requires_grad=True) for _ in range(3))
causal = torch.ones(a.t, a.t, dtype=torch.bool).tril()


def composite():
    s = (q @ k.transpose(2, 3)) / math.sqrt(a.d)
    return torch.softmax(s.masked_fill(~causal, float("-inf")), -1) @ v


def flash():
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def median(fn, train):
    ts = []
    for r in range(a.reps + 2):
        q.grad = k.grad = v.grad = None
        t0 = time.perf_counter()
        y = fn()
        if train:
            y.sum().backward()
        if r >= 2:
            ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


fwd_flops = 4.0 * a.b * a.h * a.t * a.t * a.d / 2
print(f"torch {torch.__version__} attention on the CPU, f32, B={a.b} H={a.h} T={a.t} D={a.d} causal, {a.threads} threads")
print(f"{'':22s} {'ms':>10s} {'GFLOP/s':>10s}")
for train in (False, True):
    for name, fn in (("composite", composite), ("sdpa", flash)):
        s = median(fn, train)
        flops = fwd_flops * (3.5 if train else 1.0)
        print(f"{name:10s} {'fwd+bwd' if train else 'fwd':11s} {s * 1e3:10.3f} {flops / s * 1e-9:10.1f}")
