#!/usr/bin/env bash
# Authenticated SIP REGISTER throughput: autoreg against Kamailio doing the
# same (auth + auth_db over db_text, a password per phone), same machine,
# same run, same sipp load with credentials (bench/sipp_auth.xml: a 401 is
# answered with MD5 digest credentials, the only digest sipp knows).
#
# Phases, N phones each, offered at RATE/s:
#   challenged first registrations: each phone registers a contact the
#     registrar does not hold: 401, then the same REGISTER with credentials,
#     200. For Kamailio a first binding; for autoreg a phone it knows (it
#     autoregistered beforehand, unmeasured, from another port) registering
#     a new contact: the move is challenged, then recorded (an event).
#   refreshes: the same phones again from the same contact. Kamailio
#     challenges every REGISTER; autoreg's default profile (digest) takes a
#     refresh of the binding from where it was made without one, and its
#     digest-always profile challenges each, as Kamailio does: both are
#     measured.
#
#   bench/sip_auth.sh                  # N=10000 phones at RATE=2000/s
#   N=20000 RATE=4000 bench/sip_auth.sh
#
# Needs: sipp (sip-tester), kamailio (Debian's package, with its db_text,
# auth and auth_db modules), curl, the built binaries (make build; BIN=dir).
# Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=${BIN:-$PWD/bin}
N=${N:-10000}
RATE=${RATE:-2000}
LIMIT=${LIMIT:-2000}
KAM_CHILDREN=${KAM_CHILDREN:-4}
KAM_PORT=${KAM_PORT:-5071}
REG_SIP=${REG_SIP:-5081}
REG_SCCP=${REG_SCCP:-2081}
REG_ADMIN=${REG_ADMIN:-18091}
OUT=${OUT:-$(mktemp -d /tmp/autoreg-authbench.XXXXXX)}

for p in sipp kamailio curl; do
	command -v "$p" >/dev/null || { echo "bench: $p not found (apt-get install -y sip-tester kamailio curl)" >&2; exit 2; }
done
[ -x "$BIN/registrar" ] || { echo "bench: $BIN/registrar not built (make build)" >&2; exit 2; }

pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

macs() { for ((i = 1; i <= N; i++)); do printf '00BF%08X\n' "$i"; done; }
SCEN=$PWD/bench/sipp_auth.xml
PLAIN=$PWD/bench/sipp_register.xml

# run_sipp LABEL PORT CSV SCENARIO SIPP_PORT: one pass at RATE; prints
# "rate retrans failed ok secs".
run_sipp() {
	local label=$1 port=$2 csv=$3 scen=$4 sport=$5 dir="$OUT/$1"
	mkdir -p "$dir"
	(cd "$dir" && sipp -sf "$scen" -inf "$csv" -m "$N" -r "$RATE" -l "$LIMIT" \
		-i 127.0.0.1 -p "$sport" -t u1 -buff_size 4194304 -nostdin -timeout 300s -max_retrans 5 \
		-trace_stat -stf stat.csv -fd 1 127.0.0.1:"$port" >sipp.out 2>&1) || true
	sipp_stats "$dir/stat.csv"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, N=$N phones offered at $RATE/s, sipp -l $LIMIT"

# --- Kamailio: a password per phone in db_text's subscriber table --------
mkdir -p "$OUT/dbtext"
echo "id(int,auto) table_name(string) table_version(int) " >"$OUT/dbtext/version"
echo "0:subscriber:7" >>"$OUT/dbtext/version"
{
	echo "id(int,auto) username(string) domain(string) password(string) ha1(string,null) ha1b(string,null) "
	i=0
	macs | while read -r m; do i=$((i + 1)); printf '%d:SEP%s:127.0.0.1:pw%s::\n' "$i" "$m" "$m"; done
} >"$OUT/dbtext/subscriber"
{ echo SEQUENTIAL; macs | while read -r m; do printf '%s;SEP%s;pw%s\n' "$m" "$m" "$m"; done; } >"$OUT/kam.csv"
sed -e "s/!BENCH_PORT!5070!/!BENCH_PORT!$KAM_PORT!/" -e "s/!BENCH_CHILDREN!4!/!BENCH_CHILDREN!$KAM_CHILDREN!/" \
	-e "s#!BENCH_DB!/tmp/dbtext!#!BENCH_DB!$OUT/dbtext!#" bench/kamailio_auth.cfg >"$OUT/kamailio.cfg"
kamailio -f "$OUT/kamailio.cfg" -m 1024 -M 16 -DD -E -w "$OUT" >"$OUT/kamailio.log" 2>&1 &
pids+=($!)
sleep 2
read -r k_new k_new_rt k_new_bad k_new_ok k_new_s < <(run_sipp kam-first "$KAM_PORT" "$OUT/kam.csv" "$SCEN" 5098)
read -r k_ref k_ref_rt k_ref_bad k_ref_ok k_ref_s < <(run_sipp kam-refresh "$KAM_PORT" "$OUT/kam.csv" "$SCEN" 5098)
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

# --- autoreg -----------------------------------------------------------------
mkdir -p "$OUT/data"
AUTOREG_SIP_AUTH_ALGORITHMS=MD5,SHA-256 "$BIN/registrar" serve --data "$OUT/data" --tftp-addr "" \
	--sip-addr 127.0.0.1:$REG_SIP --sccp-addr 127.0.0.1:$REG_SCCP \
	--admin-addr 127.0.0.1:$REG_ADMIN --log-level warn >"$OUT/registrar.log" 2>&1 &
rpid=$!
pids+=($rpid)
for _ in $(seq 100); do curl -sf http://127.0.0.1:$REG_ADMIN/healthz >/dev/null 2>&1 && break; sleep 0.1; done
TOKEN=$(cat "$OUT/data/admin.token")
A=("$BIN/registrar" admin --addr http://127.0.0.1:$REG_ADMIN --token-file "$OUT/data/admin.token")
"${A[@]}" partition add Bench >/dev/null
"${A[@]}" range set --start 100000 --end 299999 --partition Bench >/dev/null
"${A[@]}" autoreg protocol sip >/dev/null
"${A[@]}" autoreg open --reason "benchmark" >/dev/null
{ echo SEQUENTIAL; macs; } >"$OUT/macs.csv"
# Autoregistered (unmeasured), from another port: each is issued credentials.
run_sipp reg-autoregister "$REG_SIP" "$OUT/macs.csv" "$PLAIN" 5097 >/dev/null
"${A[@]}" autoreg close --reason "benchmark" >/dev/null
# The passwords, as an administrator reads them (one connection, N requests).
{
	printf 'header = "Authorization: Bearer %s"\n' "$TOKEN" # once: it applies to every URL
	macs | while read -r m; do printf 'url = "http://127.0.0.1:%s/v1/devices/SEP%s/credentials"\n' "$REG_ADMIN" "$m"; done
} >"$OUT/curl.cfg"
curl -s -K "$OUT/curl.cfg" >"$OUT/credentials.json" || true
{
	echo SEQUENTIAL
	awk -F'"' '/"device":/{d=$4} /"user":/{u=$4} /"password":/{p=$4}
		/^}/{if (p != "") print substr(d, 4) ";" u ";" p; d = u = p = ""}' "$OUT/credentials.json"
} >"$OUT/reg.csv"
got=$(($(wc -l <"$OUT/reg.csv") - 1))
[ "$got" -eq "$N" ] || { echo "bench: read $got of $N phones' credentials" >&2; exit 1; }
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{printf "%d\n", ($14+$15)*1000/hz}' /proc/$rpid/stat; }
c0=$(cpu_ms)
read -r a_new a_new_rt a_new_bad a_new_ok a_new_s < <(run_sipp reg-first "$REG_SIP" "$OUT/reg.csv" "$SCEN" 5098)
c1=$(cpu_ms)
read -r a_ref a_ref_rt a_ref_bad a_ref_ok a_ref_s < <(run_sipp reg-refresh "$REG_SIP" "$OUT/reg.csv" "$SCEN" 5098)
c2=$(cpu_ms)
"${A[@]}" pool set Default --group Default --css Autoreg --sip-auth digest-always >/dev/null
read -r a_all a_all_rt a_all_bad a_all_ok a_all_s < <(run_sipp reg-refresh-always "$REG_SIP" "$OUT/reg.csv" "$SCEN" 5098)
c3=$(cpu_ms)
failures=$(curl -s http://127.0.0.1:$REG_ADMIN/metrics -H "Authorization: Bearer $TOKEN" | awk '/^autoreg_sip_auth_failures_total/{s+=$2} END{print s+0}')

printf '\n%-44s %10s %10s %8s\n' "" "Kamailio" "autoreg" "ratio"
printf '%-44s %10s %10s %8s\n' "challenged first registrations/s" "$k_new" "$a_new" "$(ratio "$a_new" "$k_new")"
printf '%-44s %10s %10s %8s\n' "refreshes/s (autoreg: digest profile)" "$k_ref" "$a_ref" "$(ratio "$a_ref" "$k_ref")"
printf '%-44s %10s %10s %8s\n' "refreshes/s (autoreg: digest-always)" "$k_ref" "$a_all" "$(ratio "$a_all" "$k_ref")"
printf '%-44s %10s %10s\n' "retransmissions first / refresh / always" "$k_new_rt/$k_ref_rt/-" "$a_new_rt/$a_ref_rt/$a_all_rt"
printf '%-44s %10s %10s\n' "failed calls first / refresh / always" "$k_new_bad/$k_ref_bad/-" "$a_new_bad/$a_ref_bad/$a_all_bad"
printf '%-44s %10s %10s\n' "successful first / refresh / always" "$k_new_ok/$k_ref_ok/-" "$a_new_ok/$a_ref_ok/$a_all_ok"
printf '%-44s %10s %10s\n' "autoreg CPU ms per 1000: first/refresh/always" "" "$(((c1 - c0) * 1000 / N))/$(((c2 - c1) * 1000 / N))/$(((c3 - c2) * 1000 / N))"
printf '%-44s %10s %10s\n' "autoreg digest failures counted" "" "$failures"
echo "goal: >= 1.0x for challenged first registrations and refreshes"
echo "(details in $OUT)"
