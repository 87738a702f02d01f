#!/usr/bin/env bash
# SIP REGISTER throughput: autoreg against Kamailio, same machine, same run,
# same sipp load. Reports REGISTER/s for first-time registrations (new
# bindings; for autoreg each one an autoregistration answered after its
# events are durable) and for refreshes of known devices, the ratio
# autoreg/Kamailio for each, sipp's retransmissions (a sign of saturation),
# and autoreg's resident memory with N devices registered.
#
#   bench/sip_register.sh                 # N=100000 phones offered at RATE=20000/s
#   N=20000 RATE=10000 bench/sip_register.sh
#   MEMORY_LIMIT=140MiB bench/sip_register.sh   # the registrar with --memory-limit
#   SETTLE=10 bench/sip_register.sh               # read the resident size at rest sooner (default 130 s)
#
# Needs: sipp (sip-tester), kamailio (Debian's package), the built binaries
# (make build; BIN=dir to use others). Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=${BIN:-$PWD/bin}
N=${N:-100000}
RATE=${RATE:-20000}
LIMIT=${LIMIT:-5000}
KAM_CHILDREN=${KAM_CHILDREN:-4}
MEMORY_LIMIT=${MEMORY_LIMIT:-}
KAM_PORT=${KAM_PORT:-5070}
REG_SIP=${REG_SIP:-5080}
REG_SCCP=${REG_SCCP:-2080}
REG_ADMIN=${REG_ADMIN:-18090}
OUT=${OUT:-$(mktemp -d /tmp/autoreg-bench.XXXXXX)}

for p in sipp kamailio; do
	command -v "$p" >/dev/null || { echo "bench: $p not found (apt-get install -y sip-tester kamailio)" >&2; exit 2; }
done
[ -x "$BIN/registrar" ] || { echo "bench: $BIN/registrar not built (make build)" >&2; exit 2; }

pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# N MACs, one per line, for sipp's -inf.
{ echo SEQUENTIAL; for ((i = 1; i <= N; i++)); do printf '00BE%08X\n' "$i"; done; } >"$OUT/macs.csv"
SCEN=$PWD/bench/sipp_register.xml

# run_sipp LABEL PORT: one pass over the N MACs at RATE; prints "rate retrans failed".
run_sipp() {
	local label=$1 port=$2 dir="$OUT/$1"
	mkdir -p "$dir"
	(cd "$dir" && sipp -sf "$SCEN" -inf "$OUT/macs.csv" -m "$N" -r "$RATE" -l "$LIMIT" \
		-i 127.0.0.1 -p ${SIPP_PORT:-5099} -t u1 -buff_size 4194304 -nostdin -timeout 300s -max_retrans 5 \
		-trace_stat -stf stat.csv -fd 1 127.0.0.1:"$port" >sipp.out 2>&1) || true
	# The last line of the statistics: cumulative counters.
	sipp_stats "$dir/stat.csv"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, N=$N phones offered at $RATE/s, sipp -l $LIMIT, registrar memory limit: ${MEMORY_LIMIT:-none}"

# --- Kamailio ----------------------------------------------------------------
sed -e "s/!BENCH_PORT!5070!/!BENCH_PORT!$KAM_PORT!/" -e "s/!BENCH_CHILDREN!4!/!BENCH_CHILDREN!$KAM_CHILDREN!/" \
	bench/kamailio.cfg >"$OUT/kamailio.cfg"
kamailio -f "$OUT/kamailio.cfg" -m 2048 -M 16 -DD -E -w "$OUT" >"$OUT/kamailio.log" 2>&1 &
pids+=($!)
sleep 2
read -r k_new k_new_rt k_new_bad k_new_ok k_new_s < <(run_sipp kam-new "$KAM_PORT")
read -r k_ref k_ref_rt k_ref_bad k_ref_ok k_ref_s < <(run_sipp kam-refresh "$KAM_PORT")
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

# --- autoreg -----------------------------------------------------------------
mkdir -p "$OUT/data"
"$BIN/registrar" serve --data "$OUT/data" --tftp-addr "" --sip-addr 127.0.0.1:$REG_SIP --sccp-addr 127.0.0.1:$REG_SCCP \
	--admin-addr 127.0.0.1:$REG_ADMIN --log-level warn ${MEMORY_LIMIT:+--memory-limit "$MEMORY_LIMIT"} >"$OUT/registrar.log" 2>&1 &
rpid=$!
pids+=($rpid)
for _ in $(seq 100); do curl -sf http://127.0.0.1:$REG_ADMIN/healthz >/dev/null 2>&1 && break; sleep 0.1; done
A=("$BIN/registrar" admin --addr http://127.0.0.1:$REG_ADMIN --token-file "$OUT/data/admin.token")
"${A[@]}" partition add Bench >/dev/null
"${A[@]}" range set --start 100000 --end 299999 --partition Bench >/dev/null
"${A[@]}" autoreg protocol sip >/dev/null
"${A[@]}" autoreg open --reason "benchmark" >/dev/null
# cpu_ms: the registrar's CPU time so far (user + system), in ms.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{printf "%d\n", ($14+$15)*1000/hz}' /proc/$rpid/stat; }
c0=$(cpu_ms)
read -r a_new a_new_rt a_new_bad a_new_ok a_new_s < <(run_sipp reg-new "$REG_SIP")
c1=$(cpu_ms)
rss_kb=$(awk '/VmRSS/{print $2}' /proc/$rpid/status)
read -r a_ref a_ref_rt a_ref_bad a_ref_ok a_ref_s < <(run_sipp reg-refresh "$REG_SIP")
c2=$(cpu_ms)
rss2_kb=$(awk '/VmRSS/{print $2}' /proc/$rpid/status)
# At rest: the phones registered, no load, SETTLE seconds later: the
# transactions kept for retransmissions have expired (32-40 s), the runtime
# has collected at least once (it does every 2 minutes when idle) and its
# scavenger has returned to the OS what the bursts left behind.
sleep "${SETTLE:-130}"
rss3_kb=$(awk '/VmRSS/{print $2}' /proc/$rpid/status)
devices=$("${A[@]}" status --format json | sed -n 's/.*"devices": *\([0-9]*\).*/\1/p')

printf '\n%-34s %12s %12s %8s\n' "" "Kamailio" "autoreg" "ratio"
printf '%-34s %12s %12s %8s\n' "first-time REGISTER/s (new)" "$k_new" "$a_new" "$(ratio "$a_new" "$k_new")"
printf '%-34s %12s %12s %8s\n' "refresh REGISTER/s (known)" "$k_ref" "$a_ref" "$(ratio "$a_ref" "$k_ref")"
printf '%-34s %12s %12s\n' "retransmissions new / refresh" "$k_new_rt/$k_ref_rt" "$a_new_rt/$a_ref_rt"
printf '%-34s %12s %12s\n' "failed calls new / refresh" "$k_new_bad/$k_ref_bad" "$a_new_bad/$a_ref_bad"
printf '%-34s %12s %12s\n' "successful new / refresh" "$k_new_ok/$k_ref_ok" "$a_new_ok/$a_ref_ok"
printf '%-34s %12s %12s\n' "autoreg devices registered" "" "$devices"
printf '%-34s %12s %12s\n' "autoreg CPU ms per 1000 new / refresh" "" "$(((c1 - c0) * 1000 / (N > 0 ? N : 1)))/$(((c2 - c1) * 1000 / (N > 0 ? N : 1)))"
printf '%-34s %12s %12s\n' "autoreg resident MB after new" "" "$((rss_kb / 1024))"
printf '%-34s %12s %12s\n' "autoreg resident MB after refresh" "" "$((rss2_kb / 1024))"
printf '%-34s %12s %12s\n' "autoreg resident MB at rest" "" "$((rss3_kb / 1024))"
echo "targets: refresh >= 1.0x, new >= 0.8x, resident <= 150 MB at 100,000 devices"
echo "(details in $OUT)"
