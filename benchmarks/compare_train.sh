#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Training throughput of Axon and PyTorch on the CPU, side by side on this machine:
# the same networks, batch size, optimizer and thread count, run one after the other
# (three rounds, alternating, so drift in machine load hits both). Needs build/bench_train;
# the PyTorch side is skipped when torch is not installed.
#   sh benchmarks/compare_train.sh [MODEL] [THREADS] [STEPS]
set -e
MODEL=${1:-cnn}
THREADS=${2:-2}
STEPS=${3:-40}
BUILD=${BUILD:-build}
for round in 1 2 3; do
  OMP_NUM_THREADS=$THREADS "$BUILD/bench_train" --model "$MODEL" --threads "$THREADS" --steps "$STEPS"
  python3 "$(dirname "$0")/bench_train_torch.py" --model "$MODEL" --threads "$THREADS" --steps "$STEPS" 2>/dev/null
done
