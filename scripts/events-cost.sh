#!/usr/bin/env bash
# What writing events costs the writers (issue 13's goal: at most 5 % more
# server CPU per complete order): the work tree built twice, as shipped and
# with the build tag paygate_noevents (events.Writing false: Append writes
# nothing and the emitters read nothing back for it; a measuring device,
# never shipped), run interleaved by scripts/cpu-per-order.sh, ROUNDS times
# each (default 5), then the ratio of the medians.
#
#   scripts/events-cost.sh
#   ROUNDS=7 ORDERS=3000 scripts/events-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export ROUNDS=${ROUNDS:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
scripts/cpu-per-order.sh .+paygate_noevents . | tee "$out"
without=$(sed -n 's/^worktree_paygate_noevents median: \([0-9.]*\) ms.*/\1/p' "$out")
with=$(sed -n 's/^worktree median: \([0-9.]*\) ms.*/\1/p' "$out")
awk -v a="$with" -v b="$without" 'BEGIN { printf "events cost %+.1f %% server CPU per complete order (%.3f ms with, %.3f ms without)\n", (a/b-1)*100, a, b }'
