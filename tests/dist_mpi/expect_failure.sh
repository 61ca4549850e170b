#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Runs a command that must FAIL: a non-zero exit status, within the ctest timeout,
# with output matching PATTERN (a peer's failure reported, not a silent hang).
#   expect_failure.sh PATTERN command args...
pattern="$1"; shift
out=$("$@" 2>&1); status=$?
printf '%s\n' "$out" | tail -n 20
if [ "$status" -eq 0 ]; then echo "expect_failure: the job exited 0, expected a failure"; exit 1; fi
if ! printf '%s\n' "$out" | grep -Eq "$pattern"; then echo "expect_failure: no line matches '$pattern'"; exit 1; fi
echo "expect_failure: failed as expected (status $status)"
