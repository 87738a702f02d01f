#!/usr/bin/env bash
# Floods against the real registrar (issue #6, section 3), and the figures:
#
#  1. SIP: RATE REGISTERs a second for SECONDS from unknown devices (DEVICES
#     MACs, cycled; sipp from 127.0.0.2, which the sample configuration does
#     not trust) while the window is closed. Beside it, KNOWN known devices
#     refresh from the flood's own address (sipp, timed) and KNOWN others
#     re-register from 127.0.0.1 (phonesim, timed), once before the flood
#     (unloaded) and once during it (loaded). Prints their latency
#     percentiles, the 503s the per-source limit answered, the registrar's
#     403s, the events written (at most one rejection per device and reason
#     a minute), the log lines about refusals, the registrar's RSS.
#  2. SCCP: IDLE TCP connections (a fifth stalled half way through a frame)
#     from IDLE/150+1 loopback addresses, with IDLE_TIMEOUT: RSS at rest and
#     with them, phones registering beside them, all closed in time.
#
#   bench/flood.sh                          # 1,000/s for 60 s; 10,000 idle connections
#   RATE=500 SECONDS_=20 IDLE=2000 bench/flood.sh
#
# The checks and the measurements are tests/e2e/flood_test.go's (`make test`
# runs them small and checks the invariants only): this script sizes them
# and prints the FIGURE lines. Needs sipp (sip-tester) and the built binaries
# (make build; BIN=dir for others). Everything stays on 127.0.0.0/8.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin}
RATE=${RATE:-1000}
SECONDS_=${SECONDS_:-60}
DEVICES=${DEVICES:-20000}
KNOWN=${KNOWN:-200}
IDLE=${IDLE:-10000}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-20s}
OUT=${OUT:-$(mktemp -d /tmp/autoreg-flood.XXXXXX)}

command -v sipp >/dev/null || { echo "flood: sipp not found (apt-get install -y sip-tester)" >&2; exit 2; }
[ -x "$BIN/registrar" ] && [ -x "$BIN/phonesim" ] || { echo "flood: $BIN/registrar or phonesim not built (make build)" >&2; exit 2; }
# 10,000 connections need as many descriptors on each side (the test raises
# its own soft limit too; the registrar inherits it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "# $(date -u +%FT%TZ) $(nproc) cores; SIP flood $RATE/s for ${SECONDS_}s over $DEVICES MACs, $KNOWN known devices a group; SCCP $IDLE idle connections, idle timeout $IDLE_TIMEOUT; open files $(ulimit -n)"
status=0
run() { # name test env...
	local name=$1 test=$2
	shift 2
	if ! env AUTOREG_BIN="$BIN" "$@" go test -count=1 -v -timeout 30m -run "^$test\$" ./tests/e2e/ >"$OUT/$name.log" 2>&1; then
		status=1
		echo "## $name: FAILED (log in $OUT/$name.log)"
		grep -E -- '--- FAIL|_test.go:[0-9]+:' "$OUT/$name.log" | grep -v FIGURE | head -20 || true
	fi
	echo "## $name"
	grep -B1 -- '--- SKIP' "$OUT/$name.log" | sed 's/^/  /' || true
	sed -n 's/.*FIGURE /  /p' "$OUT/$name.log"
}
run sip-flood TestSIPFloodFromUnknownDevices AUTOREG_FLOOD_RATE="$RATE" AUTOREG_FLOOD_SECONDS="$SECONDS_" \
	AUTOREG_FLOOD_DEVICES="$DEVICES" AUTOREG_FLOOD_KNOWN="$KNOWN"
run sccp-idle TestSCCPIdleAndStalledConnections AUTOREG_FLOOD_IDLE="$IDLE" AUTOREG_FLOOD_IDLE_TIMEOUT="$IDLE_TIMEOUT"
echo "(logs in $OUT)"
exit $status
