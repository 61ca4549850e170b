# SPDX-License-Identifier: BSD-3-Clause
"""PyTorch reference for benchmarks/bench_conv.c: the same layers, passes and
table, timed with torch.nn.functional.conv2d and its autograd.grad kernels.

    python3 benchmarks/bench_conv_torch.py [--threads N] [--reps R] [--f64]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

LAYERS = [  # name, n, c, h, w, o, k, pad
    ("cnn conv1 1->32 28x28", 128, 1, 28, 28, 32, 3, 1),
    ("cnn conv2 32->64 14x14", 128, 32, 14, 14, 64, 3, 1),
    ("resnet 64->64 14x14", 128, 64, 14, 14, 64, 3, 1),
]


def median_time(fn, reps):
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--f64", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dt = torch.float64 if args.f64 else torch.float32
    print(f"# torch {torch.__version__} conv2d, {'f64' if args.f64 else 'f32'}, {args.threads} threads, "
          f"batch 128, median of {args.reps}")
    print(f"{'layer':<24} {'pass':<16} {'ms':>10} {'GFLOP/s':>10}")
    for name, n, c, h, w, o, k, pad in LAYERS:
        x = torch.randn(n, c, h, w, dtype=dt)
        wt = torch.randn(o, c, k, k, dtype=dt)
        b = torch.randn(o, dtype=dt)
        gy = torch.randn(n, o, h, w, dtype=dt)
        flops = 2.0 * n * o * h * w * c * k * k
        passes = {
            "forward": lambda: F.conv2d(x, wt, b, padding=pad),
            "backward_input": lambda: torch.nn.grad.conv2d_input(x.shape, wt, gy, padding=pad),
            "backward_weight": lambda: torch.nn.grad.conv2d_weight(x, wt.shape, gy, padding=pad),
        }
        with torch.no_grad():
            for pname, fn in passes.items():
                s = median_time(fn, args.reps)
                print(f"{name:<24} {pname:<16} {1e3 * s:10.3f} {flops / s * 1e-9:10.1f}")


if __name__ == "__main__":
    main()
