#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A rank that is alive but stuck (stopped with SIGSTOP) must not block the job: the
# other rank's collective times out after --dist-timeout seconds and ends the job with
# a message naming the timeout, non-zero, well before the default (60 s) would.
#   stopped_rank.sh MPIRUN... -- AXON_BINARY
mpirun=""
while [ "$1" != "--" ]; do mpirun="$mpirun $1"; shift; done
shift
axon="$1"
timeout=5
tmp=$(mktemp -d)
cleanup() {
  if [ -s "$tmp/pid" ]; then kill -CONT "$(cat "$tmp/pid")" 2>/dev/null; kill -KILL "$(cat "$tmp/pid")" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
# rank 1 notes its pid, then becomes axon (exec keeps the pid)
$mpirun -np 2 sh -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then echo $$ > "$0/pid"; fi; exec "$@"' "$tmp" \
  "$axon" train --model mlp --limit-train 6400 --limit-test 100 --epochs 1000 --batch-size 64 --threads 1 --no-save \
  --plain --dist-timeout $timeout > "$tmp/log" 2>&1 &
job=$!
# wait until training runs (the first progress line), at most 60 s
i=0
until grep -q "^epoch 1/" "$tmp/log" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 600 ] || ! kill -0 $job 2>/dev/null; then cat "$tmp/log"; echo "stopped_rank: training never started"; exit 1; fi
  sleep 0.1
done
kill -STOP "$(cat "$tmp/pid")" || { echo "stopped_rank: cannot stop rank 1"; exit 1; }
t0=$(date +%s)
wait $job
status=$?
t1=$(date +%s)
tail -n 5 "$tmp/log"
elapsed=$((t1 - t0))
echo "stopped_rank: the job ended $elapsed s after rank 1 stopped, status $status"
[ "$status" -ne 0 ] || { echo "stopped_rank: the job exited 0"; exit 1; }
grep -q "timed out after $timeout s" "$tmp/log" || { echo "stopped_rank: no 'timed out after $timeout s' message"; exit 1; }
[ "$elapsed" -le $((timeout + 25)) ] || { echo "stopped_rank: took $elapsed s, more than the $timeout s timeout allows"; exit 1; }
echo "stopped_rank: ended as expected"
