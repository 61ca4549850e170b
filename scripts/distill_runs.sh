#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Knowledge distillation against the same student trained alone (docs/compression.md):
# the cnn for EPOCHS epochs on the first LIMIT training images, three seeds each, alone and
# distilled from TEACHER (resnet weights); prints each run's test accuracy (on the first
# LIMIT_TEST test images) and the mean and standard deviation of each arm.
#
#   scripts/distill_runs.sh TEACHER.safetensors [OUTDIR]
#   env: AXON (./build/axon), LIMIT (5000), LIMIT_TEST (5000), EPOCHS (2), SEEDS ("0 1 2"),
#        ALPHA (0.5), TEMP (4), TEACHER_MODEL (resnet), NICE (5), ARMS ("alone distilled")
set -euo pipefail
teacher=${1:?usage: scripts/distill_runs.sh TEACHER.safetensors [OUTDIR]}
out=${2:-distill_runs}
axon=${AXON:-./build/axon}
limit=${LIMIT:-5000} limit_test=${LIMIT_TEST:-5000} epochs=${EPOCHS:-2} seeds=${SEEDS:-"0 1 2"}
arms=${ARMS:-"alone distilled"} alpha=${ALPHA:-0.5} temp=${TEMP:-4} tmodel=${TEACHER_MODEL:-resnet} nice_level=${NICE:-5}
mkdir -p "$out"
common=(train --model cnn --epochs "$epochs" --limit-train "$limit" --limit-test "$limit_test" --plain --no-save)

last_accuracy() { # the test accuracy of a metrics file's last line
  tail -n 1 "$1" | sed -n 's/.*"test_accuracy": \([0-9.eE+-]*\).*/\1/p'
}

for seed in $seeds; do
  for arm in $arms; do
    m="$out/$arm-seed$seed.jsonl"
    rm -f "$m"
    extra=()
    [ "$arm" = distilled ] && extra=(--teacher "$teacher" --teacher-model "$tmodel" --distill-alpha "$alpha" --temperature "$temp")
    echo "+ $axon ${common[*]} --seed $seed --metrics $m ${extra[*]}" >&2
    nice -n "$nice_level" "$axon" "${common[@]}" --seed "$seed" --metrics "$m" "${extra[@]}" > "$out/$arm-seed$seed.log"
  done
done

printf '\n%-10s' arm
for seed in $seeds; do printf ' %9s' "seed $seed"; done
printf ' %17s\n' "mean ± std (%)"
for arm in $arms; do
  accs=()
  for seed in $seeds; do accs+=("$(last_accuracy "$out/$arm-seed$seed.jsonl")"); done
  printf '%-10s' "$arm"
  for a in "${accs[@]}"; do printf ' %8.2f%%' "$(awk -v a="$a" 'BEGIN{print 100*a}')"; done
  printf '%s\n' "${accs[*]}" | awk '{n=NF; s=0; for(i=1;i<=n;i++) s+=$i; m=s/n; q=0;
    for(i=1;i<=n;i++) q+=($i-m)^2; sd=(n>1)?sqrt(q/(n-1)):0; printf "   %6.2f ± %.2f\n", 100*m, 100*sd}'
done
echo "(cnn, $epochs epochs on the first $limit training images; test accuracy on the first $limit_test test images;"
echo " distilled: teacher $tmodel $teacher, alpha $alpha, temperature $temp; std: sample standard deviation)"
