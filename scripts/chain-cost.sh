#!/usr/bin/env bash
# The hash chain's cost to writers, by difference in one binary: the
# webhook settlement benchmark (BenchmarkWebhookIntake, SQLite and
# PostgreSQL at SENDERS senders) with serve's hasher off
# (PAYGATE_CHAIN_INTERVAL=off) and on, interleaved ROUNDS times (off
# first in odd rounds, on first in even ones), then the
# server CPU per complete order under paybench, off and on
# (scripts/cpu-per-order.sh, which also prints the largest sealing lag).
# Compare the medians; the machine's load falls on both alike.
#
#   scripts/chain-cost.sh
#   ROUNDS=5 EVENTS=5000 SENDERS=32 scripts/chain-cost.sh
#   PARTS=webhooks scripts/chain-cost.sh     # only the webhook part (or PARTS=cpu)
#   PARTS=webhooks BACKENDS=postgres ROUNDS=8 scripts/chain-cost.sh
#
# The webhook part also prints, per backend, the median of the rounds'
# paired ratios (hasher on / off, the two runs next to each other), which
# a busy machine's drifting load disturbs less than the two medians.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
ROUNDS=${ROUNDS:-3}
EVENTS=${EVENTS:-3000}
SENDERS=${SENDERS:-8}
PARTS=${PARTS:-webhooks,cpu}
BACKENDS=${BACKENDS:-sqlite|postgres}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ ,$PARTS, == *,webhooks,* ]]; then
go test -c -o "$work/paygate.test" ./cmd/paygate
echo "webhook settlement, $EVENTS events at $SENDERS senders, hasher off and on, $ROUNDS rounds:"
for r in $(seq 1 "$ROUNDS"); do
	# The order within a round alternates: the second run of a pair is
	# measured on a machine the first has warmed (page cache, WAL, CPU
	# frequency), which biases a pair by several per cent.
	order="off on"
	[ $((r % 2)) -eq 0 ] && order="on off"
	for mode in $order; do
		interval=""
		[ "$mode" = off ] && interval=off
		(cd cmd/paygate && PAYGATE_CHAIN_INTERVAL=$interval "$work/paygate.test" -test.run '^$' \
			-test.bench "WebhookIntake\$/($BACKENDS)/clients=$SENDERS\$" -test.benchtime "${EVENTS}x") |
			awk -v m="$mode" -v r="$r" '/^BenchmarkWebhookIntake/ {
				for (i = 1; i <= NF; i++) if ($(i+1) == "events/s") v = $i
				split($1, n, "/"); print m, n[2], v, r; printf "  round %s, hasher %s, %s: %s events/s\n", r, m, n[2], v > "/dev/stderr" }' >>"$work/intake"
	done
done
for b in sqlite postgres; do
	[[ $b =~ ^($BACKENDS)$ ]] || continue
	for mode in off on; do
		awk -v b="$b" -v m="$mode" '$1 == m && $2 == b { v[++k] = $3 } END {
			if (k == 0) exit; asort(v); printf "  median %s, hasher %s: %s events/s\n", b, m, v[int((k + 1) / 2)] }' "$work/intake"
	done
	awk -v b="$b" '$2 == b { v[$1, $4] = $3; if ($4 > n) n = $4 } END {
		for (r = 1; r <= n; r++) if (v["off", r] > 0 && v["on", r] > 0) q[++k] = v["on", r] / v["off", r]
		if (k == 0) exit; asort(q); printf "  median paired ratio %s, on/off: %.3f (%d rounds)\n", b, q[int((k + 1) / 2)], k }' "$work/intake"
done
fi
if [[ ,$PARTS, == *,cpu,* ]]; then
	echo "server CPU per complete order (paybench, SQLite), hasher off and on:"
	ROUNDS=$ROUNDS scripts/cpu-per-order.sh .:PAYGATE_CHAIN_INTERVAL=off .
fi
