#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The trainers with --zero (ZeRO-1, sharded optimizer state) under mpirun.
#   zero_train.sh lm|cnn MPIRUN... -- AXON_BINARY
# lm:  GPT, 20 steps. 2 ranks with --zero == 1 process with the plain optimizer; a --zero
#      checkpoint written by 2 ranks after 10 steps resumes on 1 rank without --zero and on
#      4 ranks with --zero, and a plain checkpoint of 1 process resumes on 2 ranks with
#      --zero, all to the uninterrupted run's losses.
# cnn: the MLP classifier on 2 ranks: --zero, interrupted after 5 steps, resumed without
#      --zero (same ranks: the same dropout masks) == the uninterrupted --zero run.
set -e
what=$1; shift
mpirun=""
while [ "$1" != "--" ]; do mpirun="$mpirun $1"; shift; done
shift
axon="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
run() { # name np extra-args...
  name=$1; np=$2; shift 2
  if [ "$what" = lm ]; then
    $mpirun -np $np "$axon" train --model gpt --steps 20 --warmup-steps 2 --lr 3e-3 --eval-every 10 --eval-batches 2 \
      --n-layer 1 --n-embd 32 --n-head 2 --block-size 16 --batch-size 8 --threads 1 --no-save \
      --metrics "$dir/$name.jsonl" "$@" > "$dir/$name.log" 2>&1 || { cat "$dir/$name.log"; exit 1; }
  else
    $mpirun -np $np "$axon" train --model mlp --limit-train 256 --limit-test 128 --epochs 2 --batch-size 32 \
      --threads 1 --no-save --plain --no-prefetch --metrics "$dir/$name.jsonl" "$@" > "$dir/$name.log" 2>&1 ||
      { cat "$dir/$name.log"; exit 1; }
  fi
}
resumed() { grep -q "resumed from" "$dir/$1.log" || { cat "$dir/$1.log"; exit 1; }; }
if [ "$what" = lm ]; then
  run np1 1
  run z2 2 --zero
  grep -q "ZeRO-1: adamw state sharded over 2 ranks" "$dir/z2.log" || { cat "$dir/z2.log"; exit 1; }
  grep "ZeRO-1" "$dir/z2.log"
  run part 2 --zero --checkpoint "$dir/ck" --stop-after-steps 10
  cp -r "$dir/ck" "$dir/ck4"
  run r1 1 --checkpoint "$dir/ck" --resume
  run r4 4 --zero --checkpoint "$dir/ck4" --resume
  run partp 1 --checkpoint "$dir/ckp" --stop-after-steps 10
  run rz2 2 --zero --checkpoint "$dir/ckp" --resume
  for r in r1 r4 rz2; do resumed $r; done
  set -- np1 z2 r1 r4 rz2
else
  run ref 2 --zero
  grep -q "ZeRO-1: adamw state sharded over 2 ranks" "$dir/ref.log" || { cat "$dir/ref.log"; exit 1; }
  run part 2 --zero --checkpoint "$dir/ck" --stop-after-steps 5
  run res 2 --checkpoint "$dir/ck" --resume
  resumed res
  set -- ref res
fi
python3 - "$dir" "$what" "$@" <<'PY'
import json, sys
d, what, names = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = {n: [json.loads(l) for l in open(d + "/" + n + ".jsonl")] for n in names}
ref = runs[names[0]]
keys = ("train_loss", "val_loss") if what == "lm" else ("train_loss", "test_loss")
for n in names[1:]:
    got = runs[n]
    want = ref[-len(got):]  # a resumed run reports only what it trained
    assert len(got) >= 1 and len(got) <= len(ref), (n, got)
    for x, y in zip(want, got):
        for k in keys:
            assert abs(x[k] - y[k]) <= 1e-4 * abs(x[k]), (n, k, x[k], y[k])
    print("zero_train %s: %s == %s:" % (what, n, names[0]), [round(y[keys[1]], 6) for y in got])
PY
