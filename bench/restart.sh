#!/usr/bin/env bash
# restart.sh: how long `registrar serve` takes to answer /healthz on a store
# of N generated events, and how much it then holds (VmRSS): from the
# snapshot the registrar wrote at its last clean stop, and without one (the
# snapshot deleted: the start replays the store); against the same
# registrar after registering as many devices (SIP, with sipp) on an empty
# store. Also the snapshot's size and the time to write it (from the
# registrar's log), and each registrar's live heap (HeapInuse after a
# collection, through AUTOREG_PPROF), which unlike VmRSS does not depend on
# when the Go runtime gives memory back to the system.
#
#   bench/restart.sh                              # EVENTS="1000000 10000000"
#   EVENTS=1000000 RUNS=5 bench/restart.sh
#   WORK=/var/tmp/restart bench/restart.sh        # generated stores are kept there and reused
#   BIN_BEFORE=/tmp/old/bin bench/restart.sh      # also time another build on the same stores
#   BASELINE=0 bench/restart.sh                   # skip the empty-store registrar
#   PARTS="with baseline" bench/restart.sh         # only some of: with without before baseline
#
# Targets: healthz <= 1 s on 1M events and <= 2 s on 10M with a snapshot;
# resident after start within 10% of the empty-store registrar's at rest.
# Generating 10M events takes a minute or two and 5.7 GB of disk; a start
# without a snapshot on them, a minute. Needs sipp (sip-tester) for the
# baseline, and the built binaries (make build; BIN=dir to use others).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin}
BIN_BEFORE=${BIN_BEFORE:-}
EVENTS=${EVENTS:-"1000000 10000000"}
RUNS=${RUNS:-3}
SETTLE=${SETTLE:-3}             # seconds after healthz 200 before VmRSS is read
BASELINE=${BASELINE:-1}
BASE_SETTLE=${BASE_SETTLE:-90}  # seconds the empty-store registrar rests after the registrations
RATE=${RATE:-5000}              # baseline REGISTERs a second
WORK=${WORK:-/tmp/autoreg-restart}
REG_SIP=${REG_SIP:-5180}
REG_SCCP=${REG_SCCP:-2180}
REG_ADMIN=${REG_ADMIN:-18190}
SIPP_PORT=${SIPP_PORT:-5199}
PPROF=${PPROF:-127.0.0.1:16190}
PARTS=${PARTS:-"with without before baseline"}
SCEN=$PWD/bench/sipp_register.xml

[ -x "$BIN/registrar" ] && [ -x "$BIN/replay" ] || { echo "restart: $BIN/registrar or $BIN/replay not built (make build)" >&2; exit 2; }
if [ "$BASELINE" = 1 ] && ! command -v sipp >/dev/null; then
	echo "restart: sipp not found (apt-get install -y sip-tester), or BASELINE=0" >&2
	exit 2
fi
mkdir -p "$WORK"
rpid=
cleanup() { [ -n "$rpid" ] && kill "$rpid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

now_ms() { date +%s%3N; }
rss_mb() { awk '/^VmRSS/{printf "%.0f", $2/1024}' "/proc/$1/status"; }
# heap_mb: the running registrar's live heap after a collection (MB).
heap_mb() { curl -s "http://$PPROF/debug/pprof/heap?debug=1&gc=1" | awk '/^# HeapInuse = /{printf "%.0f", $4/1048576}'; }
part() { [[ " $PARTS " == *" $1 "* ]]; }

# serve BIN DATA: start a registrar on DATA (log DATA/serve.log), wait for
# /healthz 200; sets rpid and healthy_ms (since the exec).
serve() {
	local bin=$1 data=$2 t0
	t0=$(now_ms)
	AUTOREG_PPROF=$PPROF "$bin/registrar" serve --data "$data" --sip-addr 127.0.0.1:$REG_SIP --sccp-addr 127.0.0.1:$REG_SCCP \
		--admin-addr 127.0.0.1:$REG_ADMIN --log-level info >>"$data/serve.log" 2>&1 &
	rpid=$!
	until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$REG_ADMIN/healthz" 2>/dev/null)" = 200 ]; do
		kill -0 "$rpid" 2>/dev/null || { echo "restart: the registrar exited:" >&2; tail -5 "$data/serve.log" >&2; exit 1; }
		sleep 0.01
	done
	healthy_ms=$(($(now_ms) - t0))
}

# stop: SIGTERM (a clean stop writes a snapshot), wait.
stop() { kill -TERM "$rpid"; wait "$rpid" || true; rpid=; }

# median of the arguments.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# measure BIN DATA SNAP: RUNS starts, with the snapshot (SNAP=with) or after
# deleting it (SNAP=without); prints "healthz_ms_list|rss_mb_list|heap_mb_list".
measure() {
	local bin=$1 data=$2 snap=$3 hs=() rs=() ps=()
	for _ in $(seq "$RUNS"); do
		[ "$snap" = without ] && rm -f "$data/autoreg.db.snapshot"
		[ "$snap" = with ] && [ ! -s "$data/autoreg.db.snapshot" ] && { echo "restart: no snapshot to start from" >&2; exit 1; }
		serve "$bin" "$data"
		sleep "$SETTLE"
		hs+=("$healthy_ms")
		rs+=("$(rss_mb "$rpid")")
		ps+=("$(heap_mb)")
		stop
	done
	echo "${hs[*]}|${rs[*]}|${ps[*]}"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo); RUNS=$RUNS, VmRSS read ${SETTLE}s after healthz 200"
results=()
for n in $EVENTS; do
	dir=$WORK/$n
	data=$dir/data
	if [ ! -f "$dir/generated" ]; then
		rm -rf "$dir"
		mkdir -p "$data"
		echo "## generating $n events into $data/autoreg.db"
		"$BIN/replay" generate --events "$n" --out "$data/autoreg.db" | sed 's/^/   /'
		touch "$dir/generated"
	fi
	# A first start: indexes the file if the generator left it to the
	# registrar, applies the configuration; its clean stop writes the
	# snapshot the timed starts use.
	rm -f "$data/autoreg.db.snapshot" "$data/serve.log"
	serve "$BIN" "$data"
	A=("$BIN/registrar" admin --addr "http://127.0.0.1:$REG_ADMIN" --token-file "$data/admin.token")
	devices=$("${A[@]}" status --format json | sed -n 's/.*"devices": *\([0-9]*\).*/\1/p')
	sleep 1
	stop
	# The snapshot written in the background (due at once: the start read
	# more than snapshot.every_events) or at the stop: the last one.
	line=$(grep '"message":"snapshot written"' "$data/serve.log" | tail -1)
	snap_bytes=$(sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' <<<"$line")
	snap_encode=$(sed -n 's/.*"encode_ms":\([0-9.]*\).*/\1/p' <<<"$line")
	snap_write=$(sed -n 's/.*"write_ms":\([0-9.]*\).*/\1/p' <<<"$line")
	echo "## $n events, $devices devices; snapshot $snap_bytes bytes: encoded in ${snap_encode} ms (the read side paused), written in ${snap_write} ms (fsync and rename)"

	with_h=- with_r=- with_p=- wo_h=- wo_r=- wo_p=-
	if part with; then
		IFS='|' read -r with_h with_r with_p < <(measure "$BIN" "$data" with)
		echo "   with the snapshot:    healthz ms [$with_h], VmRSS MB [$with_r], heap MB [$with_p]"
	fi
	if part without; then
		IFS='|' read -r wo_h wo_r wo_p < <(measure "$BIN" "$data" without)
		echo "   without (deleted):    healthz ms [$wo_h], VmRSS MB [$wo_r], heap MB [$wo_p]"
	fi
	before_h=- before_r=-
	if [ -n "$BIN_BEFORE" ] && part before; then
		rm -f "$data/autoreg.db.snapshot"
		IFS='|' read -r before_h before_r before_p < <(RUNS=1 measure "$BIN_BEFORE" "$data" before)
		echo "   $BIN_BEFORE: healthz ms [$before_h], VmRSS MB [$before_r], heap MB [$before_p]"
		rm -f "$data/autoreg.db.snapshot"
		serve "$BIN" "$data"; stop # the snapshot back, as this build writes it
	fi

	base_reg=- base_rest=- base_heap=-
	if [ "$BASELINE" = 1 ] && part baseline; then
		empty=$dir/empty
		rm -rf "$empty"
		mkdir -p "$empty"
		serve "$BIN" "$empty"
		E=("$BIN/registrar" admin --addr "http://127.0.0.1:$REG_ADMIN" --token-file "$empty/admin.token")
		"${E[@]}" partition add Bench >/dev/null
		"${E[@]}" range set --start 1000000 --end 1999999 --partition Bench >/dev/null
		"${E[@]}" autoreg protocol sip >/dev/null
		"${E[@]}" autoreg open --reason "restart benchmark baseline" >/dev/null
		{ echo SEQUENTIAL; for ((i = 1; i <= devices; i++)); do printf '00BE%08X\n' "$i"; done; } >"$empty/macs.csv"
		(cd "$empty" && sipp -sf "$SCEN" -inf macs.csv -m "$devices" -r "$RATE" -l 5000 \
			-i 127.0.0.1 -p "$SIPP_PORT" -t u1 -buff_size 4194304 -nostdin -timeout 600s -max_retrans 5 \
			-trace_stat -stf stat.csv 127.0.0.1:$REG_SIP >sipp.out 2>&1) || true
		registered=$("${E[@]}" status --format json | sed -n 's/.*"devices": *\([0-9]*\).*/\1/p')
		base_reg=$(rss_mb "$rpid")
		sleep "$BASE_SETTLE"
		base_rest=$(rss_mb "$rpid")
		base_heap=$(heap_mb)
		stop
		echo "   empty store, $registered devices registered over SIP: VmRSS MB $base_reg right after, $base_rest after ${BASE_SETTLE}s at rest; heap MB $base_heap"
	fi
	results+=("$n|$devices|$snap_bytes|$snap_encode|$snap_write|$(median $with_h)|$(median $with_r)|$(median $wo_h)|$(median $wo_r)|$before_h|$before_r|$base_reg|$base_rest|$(median $with_p)|$(median $wo_p)|$base_heap")
done

echo
printf '%-9s %-8s %-10s %-9s %-16s %-14s %-14s %-14s %-18s %-10s\n' events devices snapshot "write ms" "healthz ms w/wo" "VmRSS MB w/wo" "heap MB w/wo" "before ms/MB" "empty MB rss/heap" "ratio rss/heap"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "-" }'; }
for r in "${results[@]}"; do
	IFS='|' read -r n d sb se sw wh wr oh or bh br b1 b2 wp op bp <<<"$r"
	printf '%-9s %-8s %-10s %-9s %-16s %-14s %-14s %-14s %-18s %-10s\n' "$n" "$d" "$((sb / 1024)) KiB" "$(printf '%.0f+%.0f' "$se" "$sw")" \
		"$wh / $oh" "$wr / $or" "$wp / $op" "$bh/$br" "$b2 / $bp" "$(ratio "$wr" "$b2")/$(ratio "$wp" "$bp")"
done
echo "medians of $RUNS starts; the empty-store registrar's VmRSS after ${BASE_SETTLE}s at rest; ratios: the start from a snapshot over the empty-store registrar"
echo "targets: healthz with a snapshot <= 1000 ms (1M), <= 2000 ms (10M); ratio <= 1.10"
