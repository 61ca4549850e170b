#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# axon train --sync-bn under mpirun: the CNN's two batch norms become SyncBatchNorm,
# one short epoch trains and evaluates without error on 2 ranks.
#   train_sync_bn.sh MPIRUN... -- AXON_BINARY
mpirun=""
while [ "$1" != "--" ]; do mpirun="$mpirun $1"; shift; done
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
$mpirun -np 2 "$1" train --model cnn --sync-bn --limit-train 128 --limit-test 64 --epochs 1 --batch-size 32 \
  --threads 1 --no-save --plain > "$log" 2>&1 || { cat "$log"; exit 1; }
grep -q "SyncBatchNorm: 2 batch-norm layers" "$log" && grep -q "test loss .* acc" "$log" || { cat "$log"; exit 1; }
