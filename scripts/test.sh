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
echo "test.sh: go test (SQLite and PostgreSQL)"
go test -race -count=1 ./...
