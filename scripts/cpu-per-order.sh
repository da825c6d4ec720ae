#!/usr/bin/env bash
# Server CPU per complete order: builds paygate at each given commit (or
# the work tree for "."), and for each in turn, ROUNDS times, starts it in
# sandbox mode on a fresh SQLite file, runs paybench for ORDERS orders with
# CONCURRENCY workers, and prints the server process's user+system CPU time
# over the run divided by the orders completed. Commits are interleaved, so
# that the machine's changing load falls on all of them alike; at the end
# each one's median is printed. Each run also prints the largest sealing lag
# of the hash chain that paybench saw in /metrics (sampled every
# SAMPLE_EVERY, default 500ms).
#
# Each argument is COMMIT[+TAGS][:NAME=VALUE,NAME=VALUE]. +TAGS
# (comma-separated Go build tags) builds it with them: ".+paygate_noevents"
# is the work tree without event writing, a measuring device only (see
# events/writing_off.go and scripts/events-cost.sh). :NAME=VALUE,… is
# environment for its server, to compare settings of one binary.
#
#   scripts/cpu-per-order.sh 2d2f48c .          # before and after a change
#   ORDERS=3000 ROUNDS=5 scripts/cpu-per-order.sh HEAD~1 HEAD
#   scripts/cpu-per-order.sh .+paygate_noevents .
#   scripts/cpu-per-order.sh .:PAYGATE_CHAIN_INTERVAL=off .   # without and with the hasher
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
ORDERS=${ORDERS:-2000}
CONCURRENCY=${CONCURRENCY:-16}
ROUNDS=${ROUNDS:-3}
SAMPLE_EVERY=${SAMPLE_EVERY:-500ms}
PORT=${PORT:-18090}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/paybench" ./cmd/paybench
bins=()
envs=()
for arg in "$@"; do
	name=$(echo "$arg" | sed "s/^\./worktree/" | tr -c 'A-Za-z0-9\n' '_')
	spec=${arg%%:*}
	e=""
	[ "$spec" != "$arg" ] && e=${arg#*:}
	envs+=("$e")
	c=${spec%%+*}
	tags=""
	[ "$c" != "$spec" ] && tags=${spec#*+}
	if [ "$c" = "." ]; then
		go build -tags "$tags" -o "$work/paygate-$name" ./cmd/paygate
	else
		git worktree add -q --detach "$work/src-$name" "$c"
		(cd "$work/src-$name" && go build -tags "$tags" -o "$work/paygate-$name" ./cmd/paygate)
		git worktree remove --force "$work/src-$name"
	fi
	bins+=("$name")
done
results="$work/results"
: >"$results"
ticks=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$ticks" '{print ($14+$15)*1000/t}' "/proc/$1/stat"; }
for r in $(seq 1 "$ROUNDS"); do
	for i in "${!bins[@]}"; do
		name=${bins[$i]}
		db="$work/bench-$name-$r.db"
		IFS=',' read -r -a extra <<<"${envs[$i]}"
		env PAYGATE_RATE_LIMIT_CHECKOUT=off "${extra[@]}" "$work/paygate-$name" serve --db "$db" --addr "127.0.0.1:$PORT" --log-level error 2>"$work/serve.log" &
		pid=$!
		for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
		before=$(cpu_ms "$pid")
		out=$("$work/paybench" -url "http://127.0.0.1:$PORT" -db "$db" -orders "$ORDERS" -concurrency "$CONCURRENCY" -sample-every "$SAMPLE_EVERY" -no-progress 2>&1 || true)
		after=$(cpu_ms "$pid")
		kill "$pid"; wait "$pid" 2>/dev/null || true
		# "ran 1.0s: 50 orders started, 50 completed, 0 failed — 51.1 complete orders/s"
		done_orders=$(echo "$out" | sed -n 's/^ran .* started, \([0-9][0-9]*\) completed.*/\1/p' | head -n 1)
		rate=$(echo "$out" | sed -n 's/^ran .* \([0-9.][0-9.]*\) complete orders\/s.*/\1/p' | head -n 1)
		result=$(echo "$out" | grep -o 'RESULT: [A-Z]*' | head -n 1)
		# "  sealing lag  0.00s  0.12s  0.00s  0.61s" (first, quarter, last, max)
		lag=$(echo "$out" | awk '/sealing lag/ {print $NF}' | head -n 1)
		ms=$(awk -v a="$after" -v b="$before" -v n="${done_orders:-0}" 'BEGIN{ if (n>0) printf "%.3f", (a-b)/n; else print "-" }')
		echo "$name round $r: $ms ms CPU per complete order (${done_orders:-?} orders, ${rate:-?}/s, sealing lag max ${lag:-?}, $result, load $(cut -d' ' -f1 /proc/loadavg))"
		if [ "$ms" != "-" ]; then echo "$name $ms ${rate:-0}" >>"$results"; fi
	done
done
for name in "${bins[@]}"; do
	awk -v n="$name" '$1 == n { ms[++k] = $2; rate[k] = $3 }
		END {
			if (k == 0) { print n ": no runs"; exit }
			# medians: sort both lists (insertion sort, k is small)
			for (i = 2; i <= k; i++) for (j = i; j > 1 && ms[j-1] > ms[j]; j--) { t = ms[j]; ms[j] = ms[j-1]; ms[j-1] = t }
			for (i = 2; i <= k; i++) for (j = i; j > 1 && rate[j-1] > rate[j]; j--) { t = rate[j]; rate[j] = rate[j-1]; rate[j-1] = t }
			m = (k % 2) ? ms[(k+1)/2] : (ms[k/2] + ms[k/2+1]) / 2
			q = (k % 2) ? rate[(k+1)/2] : (rate[k/2] + rate[k/2+1]) / 2
			printf "%s median: %.3f ms CPU per complete order over %d runs (%.1f complete orders/s)\n", n, m, k, q
		}' "$results"
done
