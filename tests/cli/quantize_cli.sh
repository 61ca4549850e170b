#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# `axon quantize` and `axon eval` of int8 weights end to end on a tiny random IDX data
# set made here, and their bad input: --calibrate 0, an empty training set, flags that
# contradict, int8 weights read as another model, int8 weights quantized again, a
# truncated int8 file. Each failure must exit with its code (2: command line, 1: run)
# and name the problem on stderr.
#   quantize_cli.sh AXON_BINARY
axon="$1"
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
status=0
be32() { printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }
mkidx() { # DIR PREFIX N
  { printf '\000\000\010\003'; be32 "$3"; be32 28; be32 28; head -c $(($3 * 784)) /dev/urandom; } >"$1/$2-images-idx3-ubyte"
  { printf '\000\000\010\001'; be32 "$3"; head -c "$3" /dev/urandom | tr '\000-\377' '\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\011\000-\005'; } >"$1/$2-labels-idx1-ubyte"
}
# expect CODE NEEDLE -- COMMAND...: the exit code and a stderr line containing NEEDLE
expect() {
  code=$1 needle=$2
  shift 3
  "$@" >"$d/out" 2>"$d/err"
  rc=$?
  if [ "$rc" -ne "$code" ] || { [ -n "$needle" ] && ! grep -q -- "$needle" "$d/err"; }; then
    echo "FAIL: $* -> exit $rc (want $code), stderr: $(cat "$d/err") (want '$needle')"
    status=1
  else
    echo "ok: $needle"
  fi
}
mkdir "$d/data" "$d/empty"
mkidx "$d/data" train 96
mkidx "$d/data" t10k 40
mkidx "$d/empty" train 0
mkidx "$d/empty" t10k 40
"$axon" train --model cnn --epochs 1 --batch-size 32 --data-dir "$d/data" --save "$d/cnn.safetensors" >"$d/train.log" 2>&1 ||
  { echo "FAIL: training the tiny cnn: $(tail -3 "$d/train.log")"; exit 1; }
q="$axon quantize --weights $d/cnn.safetensors --data-dir $d/data --batch-size 16"
expect 0 "" -- $q --calibrate 3 --out "$d/q8.safetensors"
grep -q "4 layers of cnn quantized to int8 (minmax calibration on 3 batches" "$d/out" || { echo "FAIL: quantize said: $(cat "$d/out")"; status=1; }
expect 0 "" -- "$axon" eval --weights "$d/q8.safetensors" --data-dir "$d/data"
grep -q "accuracy" "$d/out" || { echo "FAIL: eval of the int8 file said: $(cat "$d/out")"; status=1; }
expect 0 "" -- $q --method percentile --percentile 99.9 --out "$d/q8p.safetensors"
expect 2 "--calibrate" -- $q --calibrate 0 --out "$d/x.safetensors"
expect 2 "--percentile needs --method percentile" -- $q --percentile 99 --out "$d/x.safetensors"
expect 2 "--weights FILE and --out FILE are required" -- $q
expect 1 "the fashion-mnist training set is empty" -- "$axon" quantize --weights "$d/cnn.safetensors" --data-dir "$d/empty" --out "$d/x.safetensors"
expect 1 "holds a 'cnn' model (its axon_model metadata), but --model is 'resnet'" -- "$axon" eval --model resnet --weights "$d/q8.safetensors" --data-dir "$d/data"
expect 1 "already holds int8 weights" -- "$axon" quantize --weights "$d/q8.safetensors" --data-dir "$d/data" --out "$d/x.safetensors"
head -c 2000 "$d/q8.safetensors" >"$d/trunc.safetensors"
expect 1 "trunc.safetensors" -- "$axon" eval --weights "$d/trunc.safetensors" --data-dir "$d/data"
[ -e "$d/x.safetensors" ] && { echo "FAIL: a failed run left its output"; status=1; }
exit $status
