#!/usr/bin/env bash
# Floods naming known devices, and refusals from many sources, against the
# real registrar, and the figures (events and log lines each wrote):
#
#  1. SCCP: a connect-register-close loop on a known name for SECONDS_
#     (phone package: connect, RegisterMessage, close, as fast as the
#     registrar answers).
#  2. SIP: COUNT REGISTERs at RATE/s naming a known device's MAC with a new
#     Contact each (every one a move), from 20 source addresses
#     (127.0.0.10-29).
#  3. SIP: COUNT REGISTERs at RATE/s of unknown devices (a new MAC each)
#     from 20 source addresses (127.0.0.40-59) while the window is closed;
#     with SUMMARY=1 (the default) it waits for the minute's
#     registrar.rejections_suppressed event and prints it.
#
#   bench/moves_flood.sh                         # 5 s loop; 10,000 REGISTERs at 2,000/s
#   BIN=/tmp/main-bin bench/moves_flood.sh       # the same against other binaries (before)
#
# The checks and the measurements are tests/e2e/moves_flood_test.go's
# (`make test` runs them small): this script sizes them and prints the
# FIGURE lines. Events are counted from the store (read-only, as `replay
# events` reads it); log lines from the registrar's output (JSON, info).
# Needs the built binaries (make build; BIN=dir for others). Everything
# stays on 127.0.0.0/8.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin}
SECONDS_=${SECONDS_:-5}
RATE=${RATE:-2000}
COUNT=${COUNT:-10000}
SUMMARY=${SUMMARY:-1}
OUT=${OUT:-$(mktemp -d /tmp/autoreg-moves.XXXXXX)}

[ -x "$BIN/registrar" ] && [ -x "$BIN/phonesim" ] || { echo "moves_flood: $BIN/registrar or phonesim not built (make build)" >&2; exit 2; }
echo "# $(date -u +%FT%TZ) $(nproc) cores; SCCP loop ${SECONDS_}s; SIP $COUNT REGISTERs at $RATE/s from 20 sources, twice; binaries $BIN"
status=0
run() { # name test env...
	local name=$1 test=$2
	shift 2
	if ! env AUTOREG_BIN="$BIN" "$@" go test -count=1 -v -timeout 10m -run "^$test\$" ./tests/e2e/ >"$OUT/$name.log" 2>&1; then
		status=1
		echo "## $name: FAILED (log in $OUT/$name.log)"
		grep -E -- '--- FAIL|_test.go:[0-9]+:' "$OUT/$name.log" | grep -v FIGURE | cut -c1-300 | head -10 || true
	fi
	echo "## $name"
	sed -n 's/.*FIGURE /  /p' "$OUT/$name.log"
}
run sccp-loop TestSCCPConnectLoopOnKnownNameIsBounded AUTOREG_MOVES_SECONDS="$SECONDS_"
summary=()
[ "$SUMMARY" = 1 ] && summary=(AUTOREG_MOVES_SUMMARY=1)
run sip-moves-rejections TestSIPMovesAndRejectionsFromManySources AUTOREG_MOVES_RATE="$RATE" AUTOREG_MOVES_COUNT="$COUNT" "${summary[@]}"
echo "(logs in $OUT)"
exit $status
