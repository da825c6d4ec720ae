#!/usr/bin/env bash
# CPU per complete order by component, from a CPU profile of the server
# (PAYGATE_CPU_PROFILE, or the profiler's /debug/pprof/profile):
#
#   scripts/cpu-components.sh BINARY PROFILE ORDERS [MS_PER_ORDER]
#
# Each sample (each stack of `go tool pprof -traces`) goes to one component:
#   1. simulators, if any frame is in providers/stripesim, rapydsim or
#      simkit (all the work of a simulator in the server's process, its
#      JSON and HTTP too);
#   2. otherwise the component of the innermost frame that is not generic
#      (runtime, syscall, internal/…, sync, strconv, bytes, strings, fmt,
#      io, reflect, time, net's sockets, …): so a write(2) under zerolog is
#      logging, a socket write under pgx is SQL and under net/http HTTP,
#      an allocation under encoding/json is HTTP and JSON, runtime.cgocall
#      under go-sqlite3 is SQL and cgo;
#   3. GC and runtime when every frame is generic (the GC's own workers,
#      the scheduler), which includes the garbage collection of everyone's
#      allocations.
# It prints, per component, the profile's CPU time per order (samples /
# ORDERS) and its share; with MS_PER_ORDER (the process's CPU per order
# measured from /proc, as scripts/cpu-per-order.sh does) also that figure
# split by the same shares, which corrects the profile's sampling loss.
set -euo pipefail
if [ $# -lt 3 ]; then
	echo "usage: $0 BINARY PROFILE ORDERS [MS_PER_ORDER]" >&2
	exit 2
fi
bin=$1 prof=$2 orders=$3 measured=${4:-}
export PATH="$PATH:/usr/local/go/bin"
go tool pprof -traces "$bin" "$prof" 2>/dev/null | awk -v orders="$orders" -v measured="$measured" '
function ms(v,   n) {
	# "10ms", "1.20s", "500us"
	n = v + 0
	if (v ~ /us$/) return n / 1000
	if (v ~ /ms$/) return n
	if (v ~ /ns$/) return n / 1e6
	if (v ~ /s$/) return n * 1000
	return n
}
function component(f) {
	if (f ~ /^github\.com\/rs\/zerolog|^github\.com\/paygate\/paygate\/redact\./) return "logging"
	if (f ~ /^crypto\/|^golang\.org\/x\/crypto|standard-webhooks|standardwebhooks/) return "signatures and hashes"
	if (f ~ /^database\/sql|^github\.com\/mattn\/go-sqlite3|^github\.com\/jackc\/|^github\.com\/jmoiron\/sqlx|^github\.com\/paygate\/paygate\/storage\.|^runtime\.cgocall|^_cgo_/) return "SQL and cgo"
	if (f ~ /^github\.com\/paygate\/paygate\/(events|delivery)\./) return "events"
	if (f ~ /^github\.com\/paygate\/paygate\/(ledger|chain)\./) return "ledger and chain"
	if (f ~ /^github\.com\/stripe\/stripe-go|^github\.com\/paygate\/paygate\/providers\/(stripe|rapyd)\./) return "provider clients"
	if (f ~ /^net\/|^encoding\/|^mime|^html\/|^text\/template|^github\.com\/gorilla\/|^github\.com\/paygate\/paygate\/server\.|^vendor\/golang\.org\/x\/net\/http/) return "HTTP and JSON"
	if (f ~ /^github\.com\/prometheus\//) return "metrics"
	if (f ~ /^github\.com\/paygate\/paygate|^main\./) return "business code"
	if (f ~ /^(runtime|internal|syscall|net|sync|strconv|bytes|strings|unicode|reflect|sort|slices|maps|fmt|io|bufio|context|time|math|errors|os|hash|container|compress|path|regexp|iter|unique|weak)[.\/]/ || f !~ /\./) return ""
	return "other"
}
function flush(   i, c) {
	if (!have) return
	c = ""
	for (i = 1; i <= n; i++) if (frames[i] ~ /providers\/(stripesim|rapydsim|simkit)\./) { c = "simulators"; break }
	for (i = 1; c == "" && i <= n; i++) c = component(frames[i])
	if (c == "") c = "GC and runtime"
	total[c] += value; sum += value
	# The owner: the innermost paygate package other than storage (which
	# every package SQL goes through); storage itself only for its own
	# goroutines (the group commit writer, the checkpointer).
	o = ""
	for (i = 1; i <= n && o == ""; i++) {
		if (match(frames[i], /^github\.com\/paygate\/paygate\/[a-z0-9\/]+\./)) {
			p = substr(frames[i], 28, RLENGTH - 28)
			if (p == "storage") { st = 1; continue }
			o = p
		} else if (frames[i] ~ /^main\./) o = "cmd/paygate"
	}
	if (o == "") o = st ? "storage" : "-none-"
	st = 0
	owner[o] += value
	have = 0; n = 0
}
/^-----------\+/ { flush(); next }
/^ +[0-9.]+(ns|us|ms|s) / {
	flush(); have = 1; value = ms($1); line = $0
	sub(/^ +[0-9.]+(ns|us|ms|s) +/, "", line); sub(/ \(inline\)$/, "", line)
	frames[++n] = line; next
}
have && /^ +[^ ]/ { line = $0; sub(/^ +/, "", line); sub(/ \(inline\)$/, "", line); frames[++n] = line }
END {
	flush()
	if (sum == 0 || orders == 0) { print "no samples"; exit 1 }
	split("HTTP and JSON|SQL and cgo|signatures and hashes|logging|simulators|events|ledger and chain|provider clients|business code|metrics|GC and runtime|other", order, "|")
	hdr = measured != "" ? sprintf("%-22s %10s %7s %14s", "component", "profile ms", "share", "ms per order") : sprintf("%-22s %10s %7s", "component", "profile ms", "share")
	print hdr
	for (i = 1; i in order; i++) {
		c = order[i]
		if (measured != "") printf "%-22s %10.3f %6.1f%% %14.3f\n", c, total[c] / orders, 100 * total[c] / sum, measured * total[c] / sum
		else printf "%-22s %10.3f %6.1f%%\n", c, total[c] / orders, 100 * total[c] / sum
	}
	if (measured != "") printf "%-22s %10.3f %6.1f%% %14.3f\n", "total", sum / orders, 100, measured
	else printf "%-22s %10.3f %6.1f%%\n", "total", sum / orders, 100
	print ""
	print "by the innermost paygate package of each sample but storage (its SQL, JSON, hashing included;"
	print "-none-: net/http before the handler, the GC, the scheduler):"
	for (o in owner) printf "%-22s %10.3f %6.1f%%\n", o, owner[o] / orders, 100 * owner[o] / sum | "sort -k2 -g -r"
}'
