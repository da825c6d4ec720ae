#!/usr/bin/env bash
# Runs the README's tour as a user would, so that a documented command that
# stops working fails the build (scripts/test.sh runs this; issue 16 point 3).
#
# The tour is every indented command line between "<!-- tour:begin -->" and
# "<!-- tour:end -->" in these pages, in this fixed order, which is the order
# a reader follows them in (state flows from one block to the next: each page
# uses the variables and the orders of the ones before):
#   1. README.md               "Try it": an EUR order, paid through iDEAL
#   2. docs/walkthrough.md     "One order's life" (SGD, PayNow, delivered and
#                              confirmed), the sweep, reconciliation
#   3. SECURITY.md             API keys ("Secrets and personal data")
#   4. docs/routing.md         the failover of "Routes and failover"
# A page added to the tour goes into tour_pages below, at its place in the
# reading order. All blocks run in order, in one bash with set -euo
# pipefail: any command that fails fails the tour, and the failure names its
# page and line. What it changes, and why each change keeps the command the
# page's:
#   - the pages' "go run ./cmd/paygate serve" lines are not run: this script
#     starts that server itself (built once from ./cmd/paygate, in sandbox
#     mode, on a fresh SQLite file in a temporary directory, on a free port
#     the kernel picks), and stops it at the end;
#   - a serve line's leading NAME=value settings (a later page's restart,
#     such as "PAYGATE_ROUTES=ideal=stripe,rapyd go run ./cmd/paygate serve")
#     are given to that one server from the start, so the tour's earlier
#     commands run with them too: only settings that change nothing for
#     those commands belong on a tour's serve line (a second road for a
#     method changes nothing while its first provider is up);
#   - 127.0.0.1:8080 in the commands becomes that port; PAYGATE_ADDR and
#     PAYGATE_DB name the server's address and database for the CLI commands
#     (as the defaults do for a user beside "go run ./cmd/paygate serve");
#   - "go run ./cmd/paygate ARGS" runs the binary built from ./cmd/paygate
#     with ARGS (the same program, without a build per command);
#   - curl runs with --fail-with-body, so an HTTP error answer fails the tour
#     (a user reads it; a script must stop on it);
#   - the commands run in the temporary directory (report.csv goes there).
# The environment's PAYGATE_*, STRIPE_* and RAPYD_* variables are cleared, so
# the server is the README's default sandbox (with the serve lines'
# settings). After the tour, key outputs are checked: the orders paid, the
# sales order completed, the balances, the sweep's refunds, ledger verify OK,
# the reconciliation matched, a key created and revoked, an iDEAL order paid
# through Rapyd while Stripe was down.
#
# Usage: scripts/readme-tour.sh [PAGE…] (paths from the repository's root;
# default: the four pages above, in that order; for another README file,
# scripts/readme-tour.sh OTHER.md docs/walkthrough.md SECURITY.md docs/routing.md)
# Needs go, curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
tour_pages=(README.md docs/walkthrough.md SECURITY.md docs/routing.md)
if [ "$#" -gt 0 ]; then
	tour_pages=("$@")
fi
for page in "${tour_pages[@]}"; do
	if [ ! -f "$page" ]; then
		echo "readme-tour.sh: no tour page $page (paths are from the repository's root)" >&2
		exit 1
	fi
done

for tool in go curl jq; do
	if ! command -v "$tool" >/dev/null; then
		echo "readme-tour.sh: $tool is missing (scripts/test.sh installs jq)" >&2
		exit 1
	fi
done

work=$(mktemp -d)
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# The tour, one output line per page line, the pages one after another (so
# that a failure names its page and line through where.txt, whose line N
# names the page line of the tour's line N): a tour block's indented lines
# without their indentation, every other line empty.
awk '
	FNR == 1 && on { print prev ": a tour:begin without its tour:end" > "/dev/stderr"; bad = 1; on = 0 }
	{ prev = FILENAME; print FILENAME ":" FNR > wherefile }
	/^<!-- tour:begin -->$/ { if (on) { print FILENAME ":" FNR ": tour:begin inside a tour" > "/dev/stderr"; bad = 1 } on = 1; blocks++; print ""; next }
	/^<!-- tour:end -->$/ { if (!on) { print FILENAME ":" FNR ": tour:end outside a tour" > "/dev/stderr"; bad = 1 } on = 0; print ""; next }
	on && /^    / {
		line = substr($0, 5)
		if (line ~ /^go run \.\/cmd\/paygate serve( |$)/) line = ""   # the script runs the server
		else if (line ~ /^([A-Z][A-Z0-9_]*=[A-Za-z0-9_=,:.\/-]+ +)+go run \.\/cmd\/paygate serve( |$)/) {
			# ... with settings, which the script gives its server
			sub(/ *go run \.\/cmd\/paygate serve.*$/, "", line)
			n = split(line, kv, / +/)
			for (i = 1; i <= n; i++) print kv[i] > envfile
			line = ""
		}
		else if (line ~ /(^|[;&|(]) *paygate /) { print FILENAME ":" FNR ": bare paygate is not a command: " line > "/dev/stderr"; bad = 1 }
		else if (line !~ /^ *(#|$)/) commands++
		print line; next
	}
	{ print "" }
	END {
		if (on) { print prev ": a tour:begin without its tour:end" > "/dev/stderr"; bad = 1 }
		if (commands < 20) { print "the tour pages: only " commands+0 " tour command lines in " blocks+0 " blocks" > "/dev/stderr"; bad = 1 }
		exit bad
	}
' envfile="$work/serve.env" wherefile="$work/where.txt" "${tour_pages[@]}" >"$work/tour.sh"
echo "readme-tour.sh: $(grep -c . "$work/tour.sh") command lines from ${tour_pages[*]}"

echo "readme-tour.sh: building ./cmd/paygate"
go build -o "$work/paygate" ./cmd/paygate

while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(PAYGATE|STRIPE|RAPYD)_' || true)

serve_env=()
if [ -f "$work/serve.env" ]; then
	mapfile -t serve_env <"$work/serve.env"
	echo "readme-tour.sh: the server's settings from the README's serve lines: ${serve_env[*]}"
fi
(cd "$work" && exec env ${serve_env[@]+"${serve_env[@]}"} "$work/paygate" serve --addr 127.0.0.1:0 --db "$work/tour.db") >"$work/server.log" 2>&1 &
server_pid=$!
addr=""
for _ in $(seq 1 600); do
	addr=$(sed -n 's/.*"addr":"\(127\.0\.0\.1:[0-9][0-9]*\)".*"message":"listening".*/\1/p' "$work/server.log" | head -n 1)
	[ -n "$addr" ] && break
	if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
	sleep 0.1
done
if [ -z "$addr" ]; then
	echo "readme-tour.sh: the sandbox server did not start; its log:" >&2
	cat "$work/server.log" >&2
	exit 1
fi
echo "readme-tour.sh: sandbox server at http://$addr (database $work/tour.db)"
sed -i "s/127\.0\.0\.1:8080/$addr/g" "$work/tour.sh"

# The shell that runs the tour (tour.sh, whose line N is where.txt's line N)
# starts with run.sh, through BASH_ENV: each command is echoed with its page
# and line before it runs; on failure, the last one is named.
cat >"$work/run.sh" <<'EOF'
unset BASH_ENV
set -euo pipefail
go() {
	if [ "${1-}" = run ] && [ "${2-}" = ./cmd/paygate ]; then
		shift 2
		"$TOUR_BIN" "$@"
	else
		command go "$@"
	fi
}
curl() { command curl --fail-with-body --show-error "$@"; }
tour_line=0 tour_cmd=""
mapfile -t tour_where <"$TOUR_WHERE"
trap 'rc=$?; if [ "$rc" != 0 ]; then printf "\nreadme-tour.sh: FAILED (exit %s) at %s: %s\n" "$rc" "$tour_line" "$tour_cmd" >&2; fi' EXIT
# (Line 1 is never a tour line: there the trap sees the EXIT trap's own commands.)
trap 'if [ "$LINENO" != 1 ]; then tour_line=${tour_where[LINENO-1]} tour_cmd=$BASH_COMMAND; printf "\n+ tour %s: %s\n" "$tour_line" "$BASH_COMMAND" >&2; fi' DEBUG
EOF

set +e
(cd "$work" && BASH_ENV="$work/run.sh" TOUR_BIN="$work/paygate" TOUR_WHERE="$work/where.txt" \
	PAYGATE_ADDR="$addr" PAYGATE_DB="$work/tour.db" bash "$work/tour.sh") 2>&1 | tee "$work/tour.log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" != 0 ]; then
	echo "readme-tour.sh: a tour command failed; the server's log ends:" >&2
	tail -n 20 "$work/server.log" >&2
	exit 1
fi

# The key outputs (the commands' own output, not their echo).
grep -v '^+ tour ' "$work/tour.log" >"$work/out.log"
fail=0
expect() { # COUNT PATTERN WHAT: PATTERN (grep -E) on at least COUNT lines of the tour's output
	local n
	n=$(grep -cE -- "$2" "$work/out.log" || true)
	if [ "$n" -lt "$1" ]; then
		echo "readme-tour.sh: expected $3 ($1 line(s) matching $2), found $n" >&2
		fail=1
	fi
}
expect 2 '"number":"P[0-9]{8}","status":"paid"' "the EUR and the SGD payment orders paid"
expect 1 '"number":"K[0-9]{7}","payment_order":"P[0-9]{8}","status":"completed"' "the SGD sales order completed"
expect 1 '\{"user_id":"S1","balances":\[\{"amount":"30\.00","currency":"SGD"\}\]\}' "the seller's balance of 30.00 SGD"
expect 1 'sweep as of .*: 0 payment order\(s\) expired; 2 not delivered \(refunded\)' "the sweep refunding the two EUR sales orders"
expect 1 '\{"user_id":"U1","balances":\[\{"amount":"19\.75","currency":"EUR"\}\]\}' "the buyer's balance of 19.75 EUR after the sweep"
expect 2 '^ledger verify: OK$' "ledger verify OK (twice)"
expect 1 '^matched +EUR +1 +19\.75 ' "the EUR charge matched by paygate recon"
expect 1 '^matched +SGD +1 +30\.00 ' "the SGD charge matched by paygate recon"
expect 1 '"provider":"stripe","lines":[0-9]+,.*"unmatched":\[\]' "POST /v1/reconciliations with nothing unmatched"
expect 1 '^\{"provider":"rapyd","route":\{"reason":"failover","from":"stripe","cause":"stripe unavailable: [^"]+"\},"next_action":"redirect"\}$' "iDEAL failed over to Rapyd while Stripe was down"
expect 1 '"status":"paid","attempts":\[\{"provider":"stripe","status":"creating","route":"primary"\},\{"provider":"rapyd","status":"succeeded","route":"failover"\}\]' "the failed-over iDEAL order paid through Rapyd"
expect 1 'pgk_[0-9a-f]{16}_[0-9a-f]{64}' "an API key printed"
expect 2 '^paygate keys create: key [0-9a-f]{16} \(.*\) created' "two API keys created"
expect 1 '^key [0-9a-f]{16} \(marketplace, storefront\) revoked at ' "the new key revoked"
if grep -v '^key ' "$work/out.log" | grep -qE 'mismatch|unknown|DRIFT|FAIL'; then
	echo "readme-tour.sh: the tour's output reports a mismatch or a failed check:" >&2
	grep -v '^key ' "$work/out.log" | grep -E 'mismatch|unknown|DRIFT|FAIL' >&2
	fail=1
fi
if grep -q '"level":"error"' "$work/server.log"; then
	echo "readme-tour.sh: the server logged errors:" >&2
	grep '"level":"error"' "$work/server.log" >&2
	fail=1
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
	echo "readme-tour.sh: the server stopped during the tour" >&2
	fail=1
fi
if [ "$fail" != 0 ]; then
	exit 1
fi
echo "readme-tour.sh: OK (every tour command of ${tour_pages[*]} ran; orders paid, ledger verify OK, reconciliation matched, keys created and revoked)"
