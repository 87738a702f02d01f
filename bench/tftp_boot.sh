#!/usr/bin/env bash
# TFTP boot storm: N phones (default 10,000), C at a time (default 64), each
# fetch their SEP<MAC>.cnf.xml, first from our server (adapters/tftp, files
# generated at request time from fake inputs by adapters/tftp/cmd/tftpbench,
# since the registrar does not serve TFTP yet), then from Debian's tftpd-hpa
# serving static copies of the very same bytes. Same machine, same run, same
# load generator (tftpbench storm: RFC 1350 octet RRQs without options, as a
# 79xx sends, every file checked). Prints files/s and p99 latency of each and
# the ratio ours / tftpd-hpa.
#
#   bench/tftp_boot.sh                 # N=10000 C=64
#   N=2000 C=16 bench/tftp_boot.sh
#
# Needs in.tftpd (Debian package tftpd-hpa; .ci/run installs it). Both
# servers listen on 127.0.0.1 only, on PORT_OURS and PORT_HPA (16969, 16970).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10000}
C=${C:-64}
PORT_OURS=${PORT_OURS:-16969}
PORT_HPA=${PORT_HPA:-16970}
GO=${GO:-go}

TFTPD=$(command -v in.tftpd || true)
[ -n "$TFTPD" ] || [ ! -x /usr/sbin/in.tftpd ] || TFTPD=/usr/sbin/in.tftpd
if [ -z "$TFTPD" ]; then
  echo "tftp_boot: in.tftpd not found (apt-get install tftpd-hpa): skipped" >&2
  exit 0
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

$GO build -o "$work/tftpbench" ./adapters/tftp/cmd/tftpbench
bench=$work/tftpbench

# The static copies, readable by the user in.tftpd drops to.
"$bench" gen -dir "$work/files" -n "$N"
chmod -R a+rX "$work"

"$bench" serve -addr "127.0.0.1:$PORT_OURS" -n "$N" &
pids+=($!)
# -L: foreground; -s: chroot to the folder; -a: address and port.
"$TFTPD" -L -s "$work/files" -a "127.0.0.1:$PORT_HPA" &
pids+=($!)

ready() {
  for _ in $(seq 50); do
    "$bench" storm -addr "127.0.0.1:$1" -n 1 -c 1 -rto 100ms -label probe >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "tftp_boot: nothing answers on 127.0.0.1:$1" >&2
  return 1
}
ready "$PORT_OURS"
ready "$PORT_HPA"

echo "TFTP boot storm: $N phones, $C at a time, SEP<MAC>.cnf.xml each ($(nproc) cores)"
ours=$("$bench" storm -addr "127.0.0.1:$PORT_OURS" -n "$N" -c "$C" -label ours)
echo "$ours"
hpa=$("$bench" storm -addr "127.0.0.1:$PORT_HPA" -n "$N" -c "$C" -label tftpd-hpa)
echo "$hpa"

field() { sed -n "s|.* $2=\([0-9.]*\).*|\1|p" <<<"$1"; }
awk -v a="$(field "$ours" files/s)" -v b="$(field "$hpa" files/s)" \
    -v pa="$(field "$ours" p99_ms)" -v pb="$(field "$hpa" p99_ms)" \
    'BEGIN { printf "ratio ours/tftpd-hpa: files/s x%.2f, p99 x%.2f\n", a / b, pa / pb }'
