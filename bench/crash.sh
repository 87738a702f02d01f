#!/usr/bin/env bash
# crash.sh: the long crash test. The real registrar under first-time
# registrations over SIP and SCCP (phonesim, in batches), killed with
# SIGKILL at random moments and restarted on the same data directory;
# afterwards every acknowledged phone must have the DN it was told (store
# and admin), no DN twice, replay verify OK. Snapshots are written every
# SNAPSHOT_EVENTS events (or 100 ms), so kills also land while one is being
# written: every start must be from the last whole one (none ignored).
# Prints the FIGURE lines: phones acknowledged, found, lost (must be 0),
# restart times, snapshots written and starts from one.
#
#   bench/crash.sh                      # 20 kills over 120 s, 100 phones/s
#   KILLS=50 SECONDS_=300 RATE=200 SNAPSHOT_EVENTS=50 bench/crash.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin}
[ -x "$BIN/registrar" ] || make build
export AUTOREG_BIN=$BIN
export AUTOREG_CRASH_KILLS=${KILLS:-20}
export AUTOREG_CRASH_SECONDS=${SECONDS_:-120}
export AUTOREG_CRASH_RATE=${RATE:-100}
export AUTOREG_CRASH_BATCH=${BATCH:-50}
export AUTOREG_CRASH_SNAPSHOT_EVENTS=${SNAPSHOT_EVENTS:-20}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
go test -count=1 -timeout 30m -run '^TestCrashLosesNothingAcknowledged$' -v ./tests/e2e/ >"$out" 2>&1
rc=$?
set -e
grep -E 'FIGURE|^(---|ok|FAIL|PASS)|kill [0-9]+:|lost|missing|told DN|held by|slow start|snapshot was ignored' "$out" | cut -c1-400 || true
exit $rc
