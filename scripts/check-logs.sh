#!/usr/bin/env bash
# Usage: scripts/check-logs.sh LOG_DIR SENSITIVE_FILE
# Fails if LOG_DIR holds no non-empty .log file, or if any of them contains
# a value listed in SENSITIVE_FILE (one a line; blank lines and # comments
# skipped). Prints each hit as file:line: value, never the whole line.
set -euo pipefail
dir=${1:?log directory}
list=${2:?sensitive values file}
patterns=$(mktemp)
trap 'rm -f "$patterns"' EXIT
grep -v -e '^#' -e '^$' "$list" >"$patterns" || true
if [ ! -s "$patterns" ]; then
	echo "check-logs: $list lists no values" >&2
	exit 1
fi
logs=$(find "$dir" -type f -name '*.log' -size +0c 2>/dev/null | wc -l)
if [ "$logs" -eq 0 ]; then
	echo "check-logs: no server log in $dir: the tests that start paygate did not keep their logs" >&2
	exit 1
fi
if hits=$(grep -r -n -o -F -f "$patterns" --include='*.log' "$dir"); then
	echo "check-logs: secrets or personal data in the servers' logs:" >&2
	echo "$hits" | head -n 50 >&2
	exit 1
fi
echo "check-logs: $logs server logs, none holds any of $(wc -l <"$patterns") sensitive values"
