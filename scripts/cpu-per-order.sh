#!/usr/bin/env bash
# Server CPU per complete order: builds paygate at each given commit (or
# the work tree for "."), and for each in turn, ROUNDS times, starts it in
# sandbox mode on a fresh SQLite file (or, with DB=postgres, a new schema
# of $PAYGATE_TEST_POSTGRES), runs paybench for ORDERS orders with
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
#
# SIMS=remote runs the provider simulators in a process of their own
# (paygate sandbox serve, on PORT+1) and points the server at them, so that
# the figure is the server's CPU alone (commits from before sandbox serve
# cannot run so); SIMS="inprocess remote" runs both set-ups in turn in each
# round. PROFILE=DIR also writes each server's CPU profile of the run to
# DIR (PAYGATE_CPU_PROFILE) and prints its CPU per order by component
# (scripts/cpu-components.sh).
#
#   SIMS="inprocess remote" PROFILE=/tmp/prof scripts/cpu-per-order.sh .
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
ORDERS=${ORDERS:-2000}
CONCURRENCY=${CONCURRENCY:-16}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18090}
SAMPLE_EVERY=${SAMPLE_EVERY:-500ms}
SIMS=${SIMS:-inprocess}
PROFILE=${PROFILE:-}
DB=${DB:-sqlite}
case "$DB" in sqlite) ;; postgres) : "${PAYGATE_TEST_POSTGRES:?DB=postgres needs PAYGATE_TEST_POSTGRES, a postgres:// URL}" ;; *) echo "DB=$DB: sqlite or postgres" >&2; exit 2 ;; esac
for mode in $SIMS; do
	case "$mode" in inprocess|remote) ;; *) echo "SIMS=$SIMS: inprocess, remote or both (\"inprocess remote\")" >&2; exit 2 ;; esac
done
[ -n "$PROFILE" ] && mkdir -p "$PROFILE"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/paybench" ./cmd/paybench
results="$work/results"
: >"$results"
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
ticks=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$ticks" '{print ($14+$15)*1000/t}' "/proc/$1/stat"; }
for r in $(seq 1 "$ROUNDS"); do
	for i in "${!bins[@]}"; do
		for mode in $SIMS; do
			name=${bins[$i]}
			key=$name
			[ "$mode" = remote ] && key=${name}_remote
			db="$work/bench-$name-$mode-$r.db"
			if [ "$DB" = postgres ]; then
				# A fresh schema of the test database for each run.
				schema="bench_$$_${name}_${mode}_$r"
				PGOPTIONS=--client-min-messages=warning psql -q "$PAYGATE_TEST_POSTGRES" -c "CREATE SCHEMA $schema"
				sep='?'; case "$PAYGATE_TEST_POSTGRES" in *\?*) sep='&' ;; esac
				db="$PAYGATE_TEST_POSTGRES${sep}search_path=$schema"
			fi
			env=(PAYGATE_RATE_LIMIT_CHECKOUT=off)
			IFS=',' read -r -a extra <<<"${envs[$i]}"
			env+=("${extra[@]}")
			simpid=
			if [ "$mode" = remote ]; then
				# The same four provider secrets for both processes.
				secrets=(PAYGATE_MODE=sandbox STRIPE_SECRET_KEY=sk_test_bench STRIPE_WEBHOOK_SECRET=whsec_bench_0123456789abcdef
					RAPYD_ACCESS_KEY=rak_bench RAPYD_SECRET_KEY=rsk_bench_0123456789abcdef)
				sims="http://127.0.0.1:$((PORT + 1))"
				env "${secrets[@]}" "$work/paygate-$name" sandbox serve --addr "127.0.0.1:$((PORT + 1))" \
					--paygate-url "http://127.0.0.1:$PORT" --log-level error 2>"$work/sims.log" &
				simpid=$!
				for _ in $(seq 1 100); do curl -sf "$sims/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
				env+=("${secrets[@]}" STRIPE_API_URL="$sims/sandbox/stripe" RAPYD_API_URL="$sims/sandbox/rapyd")
			fi
			prof=
			if [ -n "$PROFILE" ]; then
				prof="$PROFILE/$name-$mode-$r.pprof"
				env+=(PAYGATE_CPU_PROFILE="$prof")
			fi
			env "${env[@]}" "$work/paygate-$name" serve --db "$db" --addr "127.0.0.1:$PORT" --log-level error 2>"$work/serve.log" &
			pid=$!
			for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
			before=$(cpu_ms "$pid")
			simbefore=0
			[ -n "$simpid" ] && simbefore=$(cpu_ms "$simpid")
			out=$("$work/paybench" -url "http://127.0.0.1:$PORT" -db "$db" -orders "$ORDERS" -concurrency "$CONCURRENCY" -sample-every "$SAMPLE_EVERY" -no-progress 2>&1 || true)
			after=$(cpu_ms "$pid")
			simafter=0
			[ -n "$simpid" ] && simafter=$(cpu_ms "$simpid")
			kill "$pid"; wait "$pid" 2>/dev/null || true
			[ -n "$simpid" ] && { kill "$simpid"; wait "$simpid" 2>/dev/null || true; }
			[ "$DB" = postgres ] && PGOPTIONS=--client-min-messages=warning psql -q "$PAYGATE_TEST_POSTGRES" -c "DROP SCHEMA $schema CASCADE"
			# "ran 1.0s: 50 orders started, 50 completed, 0 failed — 51.1 complete orders/s"
			done_orders=$(echo "$out" | sed -n 's/^ran .* started, \([0-9][0-9]*\) completed.*/\1/p' | head -n 1)
			rate=$(echo "$out" | sed -n 's/^ran .* \([0-9.][0-9.]*\) complete orders\/s.*/\1/p' | head -n 1)
			result=$(echo "$out" | grep -o 'RESULT: [A-Z]*' | head -n 1)
			# "  sealing lag  0.00s  0.12s  0.00s  0.61s" (first, quarter, last, max)
			lag=$(echo "$out" | awk '/sealing lag/ {print $NF}' | head -n 1)
			ms=$(awk -v a="$after" -v b="$before" -v n="${done_orders:-0}" 'BEGIN{ if (n>0) printf "%.3f", (a-b)/n; else print "-" }')
			simper=""
			[ -n "$simpid" ] && simper=$(awk -v a="$simafter" -v b="$simbefore" -v n="${done_orders:-0}" 'BEGIN{ if (n>0) printf ", simulators %.3f ms in their own process", (a-b)/n }')
			echo "$key round $r: $ms ms CPU per complete order (${done_orders:-?} orders, ${rate:-?}/s, sealing lag max ${lag:-?}, $result$simper, load $(cut -d' ' -f1 /proc/loadavg))"
			if [ "$ms" != "-" ]; then echo "$key $ms ${rate:-0}" >>"$results"; fi
			if [ -n "$prof" ] && [ "${done_orders:-0}" -gt 0 ]; then
				cp "$work/paygate-$name" "$PROFILE/paygate-$name"
				scripts/cpu-components.sh "$work/paygate-$name" "$prof" "$done_orders" "$ms" >"${prof%.pprof}.components" || true
				sed 's/^/    /' "${prof%.pprof}.components"
			fi
		done
	done
done
for name in "${bins[@]}"; do
	for mode in $SIMS; do
		key=$name
		[ "$mode" = remote ] && key=${name}_remote
		awk -v n="$key" '$1 == n { ms[++k] = $2; rate[k] = $3 }
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
done
# The median of the rounds, per build and set-up, of each component's
# share of the measured CPU per order.
if [ -n "$PROFILE" ]; then
	for name in "${bins[@]}"; do
		for mode in $SIMS; do
			echo "$name $mode: median of $ROUNDS rounds, ms of server CPU per complete order"
			for f in "$PROFILE/$name-$mode-"*.components; do
				awk '/^component/ { on = 1; next } on && NF == 0 { exit } on { c = substr($0, 1, 22); sub(/ +$/, "", c); print c "\t" $NF }' "$f"
			done | awk -F'\t' '
				{ if (!($1 in n)) order[++k] = $1; vals[$1, ++n[$1]] = $2 }
				END {
					for (i = 1; i <= k; i++) {
						c = order[i]; m = n[c]
						for (a = 1; a <= m; a++) x[a] = vals[c, a]
						for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (x[b] < x[a]) { t = x[a]; x[a] = x[b]; x[b] = t }
						med = m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
						printf "    %-22s %8.3f\n", c, med
					}
				}'
		done
	done
fi
