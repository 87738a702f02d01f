#!/usr/bin/env bash
# Failover of a three-CallManager cluster on one host: the real registrars
# (CM1-CM3 on 127.0.0.1-3, one shared SQLite store) and phonesim's phones
# with the CallManager list; CM1 is SIGKILLed, then restarted. Prints the
# failover times (p50, p99, max) of the SCCP and the SIP phones, as
# tests/e2e/cluster_test.go measures them.
#
#   bench/failover.sh               # 1,000 SCCP and 1,000 SIP phones, keepalive 10 s
#   PHONES=200 KEEPALIVE=2s bench/failover.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin}
[ -x "$BIN/registrar" ] || { echo "bench: $BIN/registrar not built (make build)" >&2; exit 2; }
AUTOREG_BIN=$BIN AUTOREG_CLUSTER_PHONES=${PHONES:-1000} AUTOREG_CLUSTER_KEEPALIVE=${KEEPALIVE:-10s} \
	go test -count=1 -run '^TestClusterFailover$' -v -timeout 10m ./tests/e2e/ 2>&1 | grep -vE '^\s*\{' 
