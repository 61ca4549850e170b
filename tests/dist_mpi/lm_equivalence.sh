#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The GPT trainer under mpirun: 2 ranks taking half of each global batch give the
# same losses as one process with the whole batch (DDP averages the gradients), and
# a checkpoint written by 2 ranks after 10 steps resumes on 1 to the same end.
#   lm_equivalence.sh MPIRUN... -- AXON_BINARY
set -e
mpirun=""
while [ "$1" != "--" ]; do mpirun="$mpirun $1"; shift; done
shift
axon="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
run() { # name np extra-args...
  name=$1; np=$2; shift 2
  $mpirun -np $np "$axon" train --model gpt --steps 20 --warmup-steps 2 --lr 3e-3 --eval-every 10 --eval-batches 2 \
    --n-layer 1 --n-embd 32 --n-head 2 --block-size 16 --batch-size 8 --threads 1 --no-save \
    --metrics "$dir/$name.jsonl" "$@" > "$dir/$name.log" 2>&1 || { cat "$dir/$name.log"; exit 1; }
}
run np1 1
run np2 2
run part 2 --checkpoint "$dir/ck" --stop-after-steps 10
run resumed 1 --checkpoint "$dir/ck" --resume
grep -q "resumed from" "$dir/resumed.log" || { cat "$dir/resumed.log"; exit 1; }
python3 - "$dir" <<'PY' 2>/dev/null && exit 0
import json, sys
d = sys.argv[1]
a = [json.loads(l) for l in open(d + "/np1.jsonl")]
b = [json.loads(l) for l in open(d + "/np2.jsonl")]
r = [json.loads(l) for l in open(d + "/resumed.jsonl")]
assert len(a) == len(b) == 2 and len(r) == 1, (a, b, r)
for x, y in zip(a + a[1:], b + r):
    for k in ("train_loss", "val_loss"):
        assert abs(x[k] - y[k]) <= 1e-4 * abs(x[k]), (k, x[k], y[k])
print("lm_equivalence: 1 rank and 2 ranks agree:", [(x["val_loss"], y["val_loss"]) for x, y in zip(a, b)],
      "; 2 ranks -> checkpoint -> 1 rank:", a[1]["val_loss"], r[0]["val_loss"])
PY
# without python: compare the validation losses as printed
v1=$(grep -o '"val_loss": [0-9.]*' "$dir/np1.jsonl" | tr '\n' ' ')
vr=$(grep -o '"val_loss": [0-9.]*' "$dir/resumed.jsonl")
echo "resumed: $vr"
printf '%s' "$v1" | grep -qF "$vr" || exit 1
v2=$(grep -o '"val_loss": [0-9.]*' "$dir/np2.jsonl" | tr '\n' ' ')
echo "np1: $v1"; echo "np2: $v2"
[ -n "$v1" ] && [ "$v1" = "$v2" ]
