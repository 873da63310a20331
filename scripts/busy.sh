#!/usr/bin/env bash
# Runs a command while every core is kept busy by another process, to show that what it
# runs does not depend on an idle machine. With -n RUNS it runs the command that many times
# in a row, stops at the first failure, and prints each run's time.
#   scripts/busy.sh -n 5 scripts/test.sh
set -euo pipefail

runs=1
if [ "${1:-}" = "-n" ]; then
  runs=$2
  shift 2
fi
if [ $# -eq 0 ]; then
  echo "usage: $0 [-n RUNS] COMMAND [ARGS...]" >&2
  exit 2
fi

loops=()
for _ in $(seq 1 "$(nproc)"); do
  bash -c 'while :; do :; done' &
  loops+=("$!")
done
trap 'kill "${loops[@]}" 2>/dev/null || true' EXIT
echo "busy: ${#loops[@]} busy loops, one per core"

times=()
for run in $(seq 1 "$runs"); do
  started=$(date +%s)
  if "$@"; then
    times+=("run $run: passed in $(($(date +%s) - started)) s")
  else
    times+=("run $run: FAILED after $(($(date +%s) - started)) s")
    printf '%s\n' "${times[@]}"
    exit 1
  fi
done
printf '%s\n' "${times[@]}"
