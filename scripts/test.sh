#!/usr/bin/env bash
# Runs paygate's whole test suite: formatting, go vet, and every test with the
# race detector, on SQLite and on PostgreSQL. PostgreSQL is required: the
# script starts the local cluster if it is down, and fails if it cannot be
# reached. Set PAYGATE_TEST_POSTGRES to use another server.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

export PAYGATE_TEST_POSTGRES="${PAYGATE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"

pg_ready() { pg_isready -q -d "$PAYGATE_TEST_POSTGRES" -t 2 >/dev/null 2>&1; }
if ! pg_ready; then
	if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
		echo "test.sh: starting PostgreSQL"
		pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
	fi
	for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
fi
if ! pg_ready; then
	echo "test.sh: PostgreSQL at $PAYGATE_TEST_POSTGRES is unreachable; the PostgreSQL tests must run" >&2
	exit 1
fi

echo "test.sh: gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
echo "test.sh: go vet"
go vet ./...
# Dependencies are pinned: go.mod names exact versions and go.sum their
# checksums. verify checks the module cache against go.sum; tidy -diff fails
# when go.mod or go.sum would change (a missing or stray requirement).
echo "test.sh: go mod verify, go mod tidy -diff"
go mod verify
go mod tidy -diff
# stripe-mock, Stripe's official API mock, for the Stripe client's request-shape
# tests (providers/stripe), which must run in CI. A STRIPE_MOCK_URL that already
# answers is used as it is; otherwise stripe-mock is taken from PATH or ./.bin,
# installed into ./.bin if neither has it, and started on loopback ports the
# kernel picks, then stopped when the script exits.
STRIPE_MOCK_VERSION=v0.203.0
stripe_mock_up() { # URL
	if command -v curl >/dev/null; then
		curl -sf -m 2 -u sk_test_123: "$1/v1/balance" >/dev/null 2>&1
	else
		# No curl: a bare HTTP/1.0 request through bash's /dev/tcp.
		local hostport=${1#http://}
		(exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" &&
			printf 'GET /v1/balance HTTP/1.0\r\nAuthorization: Bearer sk_test_123\r\n\r\n' >&3 &&
			head -n 1 <&3 | grep -q ' 200 ') 2>/dev/null
	fi
}
if [ -n "${STRIPE_MOCK_URL:-}" ] && stripe_mock_up "$STRIPE_MOCK_URL"; then
	echo "test.sh: using the stripe-mock at $STRIPE_MOCK_URL"
else
	if command -v stripe-mock >/dev/null; then
		stripe_mock_bin=$(command -v stripe-mock)
	elif [ -x .bin/stripe-mock ]; then
		stripe_mock_bin=$PWD/.bin/stripe-mock
	else
		echo "test.sh: installing stripe-mock $STRIPE_MOCK_VERSION into .bin"
		if ! GOBIN="$PWD/.bin" go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"; then
			echo "test.sh: cannot install stripe-mock; the Stripe tests must run" >&2
			exit 1
		fi
		stripe_mock_bin=$PWD/.bin/stripe-mock
	fi
	stripe_mock_log=$(mktemp)
	# Both listeners on loopback (-http-addr alone would still open HTTPS on
	# all interfaces), on free ports; no -strict-version-check, which refuses
	# stripe-go v76's API version.
	"$stripe_mock_bin" -http-addr 127.0.0.1:0 -https-addr 127.0.0.1:0 >"$stripe_mock_log" 2>&1 &
	stripe_mock_pid=$!
	trap 'kill "$stripe_mock_pid" 2>/dev/null || true; wait "$stripe_mock_pid" 2>/dev/null || true; rm -f "$stripe_mock_log"' EXIT
	STRIPE_MOCK_URL=""
	for _ in $(seq 1 300); do
		port=$(sed -n 's/.*Listening for HTTP at address: 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$stripe_mock_log" | head -n 1)
		if [ -n "$port" ] && stripe_mock_up "http://127.0.0.1:$port"; then
			STRIPE_MOCK_URL="http://127.0.0.1:$port"
			break
		fi
		kill -0 "$stripe_mock_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$STRIPE_MOCK_URL" ]; then
		echo "test.sh: stripe-mock ($stripe_mock_bin) did not start; its log:" >&2
		cat "$stripe_mock_log" >&2
		exit 1
	fi
	echo "test.sh: stripe-mock at $STRIPE_MOCK_URL"
fi
export STRIPE_MOCK_URL

# Chromium, for the headless-browser tests of the checkout page
# (cmd/paygate/browser_test.go), which must run: Debian's package is installed
# when /usr/bin/chromium is missing. Screenshots go to $PAYGATE_ARTIFACTS
# (default artifacts/screenshots).
if [ ! -x /usr/bin/chromium ]; then
	echo "test.sh: installing chromium"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk || true
fi
# The Korean wallet pages are screenshotted with a CJK font.
if ! ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1; then
	echo "test.sh: installing fonts-noto-cjk"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-cjk || true
fi
# jq, for the README's tour (scripts/readme-tour.sh) after the Go tests.
if ! command -v jq >/dev/null; then
	echo "test.sh: installing jq"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq || true
fi
if [ ! -x /usr/bin/chromium ]; then
	echo "test.sh: /usr/bin/chromium is missing and could not be installed; the browser tests must run" >&2
	exit 1
fi

# Every paygate server the tests start copies its log into this directory
# (redact/redacttest), for the secrets check after the tests.
test_log_dir=$(mktemp -d)
export PAYGATE_TEST_LOG_DIR="$test_log_dir"

echo "test.sh: go test (SQLite and PostgreSQL)"
go test -race -count=1 ./...

# The benchmark behind a cost figure of BENCHMARKS.md, run once at a small
# size so that it cannot rot: `ledger verify` of a sealed ledger
# (BenchmarkVerify, package chain; PAYGATE_BENCH_TXS=1000000 for the figure
# itself, see BENCHMARKS.md).
echo "test.sh: go test -bench Verify ./chain (${PAYGATE_BENCH_TXS:-5000} transactions)"
PAYGATE_BENCH_TXS="${PAYGATE_BENCH_TXS:-5000}" go test -run '^$' -bench 'Verify' -benchtime 1x ./chain

# No secret and no personal data in any server log of the whole run: each
# value of testdata/sensitive.txt (API keys, provider secrets, CPF/CNPJ,
# emails, phones the tests use) is searched for in every log; any hit, or no
# log at all, fails the run.
echo "test.sh: secrets and personal data in the servers' logs"
scripts/check-logs.sh "$test_log_dir" testdata/sensitive.txt
rm -rf "$test_log_dir"

# The README's tour: every command of the tour blocks of README.md ("Try
# it"), docs/walkthrough.md ("One order's life", the sweep,
# reconciliation), SECURITY.md (API keys) and docs/routing.md (failover), in
# that order, as written, against a fresh sandbox server; a documented
# command that stops working fails the run.
echo "test.sh: the README's tour"
scripts/readme-tour.sh

# Fuzzing, bounded: every fuzz target of the repository (found, not listed
# here, so a new one runs too) fuzzes for PAYGATE_FUZZTIME (default 10s),
# one after another (24 targets at 10s: about 5 minutes on 2 cores; FuzzAPI and
# FuzzWebhook send each input to a SQLite and a PostgreSQL service).
# Minimizing a new input is capped at 5 s (Go's default
# is 60 s, and the HTTP targets take milliseconds an input), so that the
# time goes to fuzzing. The plain go test above already ran each target's
# seed corpus (testdata/fuzz/FuzzXxx) as regression tests. A failure fails the
# run and names the input go test wrote to the package's testdata/fuzz; keep
# that file as a regression case when fixing the bug. A bare "context
# deadline exceeded" with no input written is Go's fuzzing coordinator
# racing its own deadline (golang/go#75804, fixed in Go 1.27), not a
# finding: the target is run again once, and only warned about if it
# happens again.
echo "test.sh: go test -fuzz (${PAYGATE_FUZZTIME:-10s} per target)"
fuzz_start=$SECONDS
fuzz_pkgs=$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n 1 dirname | sort -u)
for dir in $fuzz_pkgs; do
	for name in $(go test -list '^Fuzz' "$dir" | grep '^Fuzz'); do
		for try in 1 2; do
			before=$(ls "$dir/testdata/fuzz/$name" 2>/dev/null | sort || true)
			fuzz_log=$(mktemp)
			if go test -run '^$' -fuzz "^${name}\$" -fuzztime "${PAYGATE_FUZZTIME:-10s}" -fuzzminimizetime 5s "$dir" >"$fuzz_log" 2>&1; then
				rm -f "$fuzz_log"
				break
			fi
			new=$(comm -13 <(echo "$before") <(ls "$dir/testdata/fuzz/$name" 2>/dev/null | sort))
			if [ -z "$new" ] && grep -q 'context deadline exceeded' "$fuzz_log" && ! grep -q -e 'Failing input' -e 'panic:' "$fuzz_log"; then
				echo "test.sh: $name in $dir: the fuzzing deadline race (golang/go#75804), no input found (try $try)" >&2
				rm -f "$fuzz_log"
				continue
			fi
			cat "$fuzz_log" >&2
			rm -f "$fuzz_log"
			echo "test.sh: $name in $dir failed; the failing input is in:" >&2
			for file in $new; do echo "  $dir/testdata/fuzz/$name/$file" >&2; done
			echo "  (rerun it with: go test -run '^${name}\$/' $dir)" >&2
			exit 1
		done
	done
done
echo "test.sh: fuzzing took $((SECONDS - fuzz_start)) s"
