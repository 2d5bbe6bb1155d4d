#!/usr/bin/env bash
# Ingest benchmark (W1 over HTTP), loopback only, in one invocation:
#   the `kapacitor bench` client against
#     (a) `kapacitor bench sink`  - a do-nothing HTTP server: the client's ceiling
#     (b) kapacitord              - no tasks
#     (c) InfluxDB 1.6.7          - Debian package `influxdb`, temporary config
#   then a table and the ratios kapacitord / sink and kapacitord / influxdb.
#
# Every server binds 127.0.0.1 on free ports, keeps its data in a temporary
# directory and is stopped on exit. The targets are run in turn, REPEAT times
# (interleaved, so a noisy neighbour hurts all of them alike); the table shows
# the median run of each. Client and servers share this machine's cores.
#
# Knobs (environment): POINTS (sink and kapacitord, default 4000000),
# INFLUX_POINTS (default 300000), BATCH (5000), WRITERS (2), REPEAT (5),
# MAX_SECONDS per run (60), GZIP=1 to gzip every body (as Telegraf >= 1.16
# does by default), SKIP_BUILD=1 to reuse the binaries in BIN_DIR
# (default ./target/release),
# OUT (directory for the JSON reports; a temporary one by default).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
POINTS=${POINTS:-4000000}
INFLUX_POINTS=${INFLUX_POINTS:-300000}
BATCH=${BATCH:-5000}
WRITERS=${WRITERS:-2}
REPEAT=${REPEAT:-5}
MAX_SECONDS=${MAX_SECONDS:-60}
bin=${BIN_DIR:-$root/target/release}

work=$(mktemp -d "${TMPDIR:-/tmp}/kapacitor-bench.XXXXXX")
OUT=${OUT:-$work/reports}
mkdir -p "$OUT"
. "$root/bench/lib.sh"
cleanup() {
    stop_pids
    rm -rf "$work/influxdb" "$work/kapacitord"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ---------------------------------------------------------------
if ! command -v influxd >/dev/null || ! command -v curl >/dev/null || ! command -v ss >/dev/null; then
    log "installing InfluxDB 1.6.7 (Debian package influxdb), curl and ss"
    sudo_cmd=()
    [[ $(id -u) == 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq influxdb curl iproute2 >/dev/null
fi
# The Debian package starts a system service; we only use the binary.

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release --bin kapacitor --bin kapacitord"
    cargo build --release --bin kapacitor --bin kapacitord
fi
kapacitor=$bin/kapacitor

# ---- (a) the sink --------------------------------------------------------
"$kapacitor" bench sink --bind 127.0.0.1:0 >"$work/sink.addr" 2>"$work/sink.log" &
sink_pid=$!
pids+=("$sink_pid")
for ((i = 0; i < 100; i++)); do
    [[ -s $work/sink.addr ]] && break
    sleep 0.1
done
sink_url=http://$(head -n1 "$work/sink.addr")
wait_ping "$sink_url" 10 || { log "the sink did not start"; exit 1; }

# ---- (b) kapacitord ------------------------------------------------------
kd_pid=
kd_url=
if [[ -x $bin/kapacitord ]]; then
    mkdir -p "$work/kapacitord/data" "$work/kapacitord/tasks"
    kd_http=$(free_port)
    kd_url=http://127.0.0.1:$kd_http
    (
        cd "$work/kapacitord" # no ./kapacitor.yaml here: embedded defaults
        exec env KAPACITOR_HTTP_BIND=127.0.0.1:$kd_http \
            KAPACITOR_UDP_BIND=127.0.0.1:$(free_port) \
            KAPACITOR_TCP_BIND=127.0.0.1:$(free_port) \
            KAPACITOR_DATA_DIR="$work/kapacitord/data" \
            KAPACITOR_TASKS_DIR="$work/kapacitord/tasks" \
            "$bin/kapacitord"
    ) >"$work/kapacitord.log" 2>&1 &
    kd_pid=$!
    pids+=("$kd_pid")
    if ! wait_ping "$kd_url" 20; then
        log "kapacitord did not answer /ping with 204; its row is pending (log: $work/kapacitord.log)"
        kd_pid=
    fi
else
    log "no $bin/kapacitord; its row is pending"
fi

# ---- (c) InfluxDB 1.6.7 --------------------------------------------------
start_influxd "$work/influxdb" "$work/influxd.log" || exit 1

# Every listener must be on loopback.
for pid in "$sink_pid" ${kd_pid:+"$kd_pid"} "$influx_pid"; do
    if ss -Htulnp | grep "pid=$pid," | grep -vq ' 127\.0\.0\.1:'; then
        log "process $pid listens beyond 127.0.0.1:"
        ss -Htulnp | grep "pid=$pid," >&2
        exit 1
    fi
done

# ---- the runs ------------------------------------------------------------
# What was measured: the commit, and whether the tree had uncommitted changes
# to what the binaries are built from.
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no -- Cargo.toml Cargo.lock src ingest pipeline dsl storage config 2>/dev/null | awk '{print $2}' | tr '\n' ' ')
[[ -n $dirty ]] && revision+=" with uncommitted changes to: $dirty"
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
log "machine: $machine; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Every run gets its own time range (one day ago onwards), so no point
# overwrites another and the servers' counts can be checked afterwards.
series=10000
next_start=$(( ($(date +%s) - 86400) * 1000000000 ))
declare -A sent=()
send() { # name url pid points json-out
    local name=$1 url=$2 pid=$3 points=$4 out=$5 rc=0
    timeout $((MAX_SECONDS + 120)) "$kapacitor" --url "$url" bench --json \
        --points "$points" --batch-size "$BATCH" --writers "$WRITERS" --db bench \
        --start "$next_start" --duration "${MAX_SECONDS}s" --pid "$pid" ${GZIP:+--gzip} >"$out" || rc=$?
    next_start=$((next_start + (points / series + 1) * 10000000000))
    sent[$name]=$(( ${sent[$name]:-0} + $(grep -o '"points_ok": *[0-9]*' "$out" | grep -o '[0-9]*$' || echo 0) ))
    return $rc
}
run() { # name url pid points repetition
    local name=$1 url=$2 pid=$3 points=$4 i=$5
    log "run $i/$REPEAT: $name ($points points)"
    send "$name" "$url" "$pid" "$points" "$OUT/$name-$i.json" ||
        log "$name run $i reported errors (see $OUT/$name-$i.json)"
}
# Warm-up, not reported: the servers create the 10k series and fill caches,
# as they would have long before in a steady Telegraf deployment.
log "warm-up: $((2 * series)) points to each server"
send sink "$sink_url" "$sink_pid" $((2 * series)) "$work/warmup-sink.json" || true
[[ -n $kd_pid ]] && { send kapacitord "$kd_url" "$kd_pid" $((2 * series)) "$work/warmup-kapacitord.json" || true; }
send influxdb "$influx_url" "$influx_pid" $((2 * series)) "$work/warmup-influxdb.json" || true
for ((i = 1; i <= REPEAT; i++)); do
    run sink "$sink_url" "$sink_pid" "$POINTS" "$i"
    [[ -n $kd_pid ]] && run kapacitord "$kd_url" "$kd_pid" "$POINTS" "$i"
    run influxdb "$influx_url" "$influx_pid" "$INFLUX_POINTS" "$i"
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- what the servers say they kept --------------------------------------
if [[ -n $kd_pid ]]; then
    status=$(curl -s "$kd_url/kapacitor/v1/status")
    log "kapacitord acknowledged ${sent[kapacitord]} points; its status says: $(grep -o '"routed_points":[0-9]*\|"unrouted_points":[0-9]*\|"parse_errors":[0-9]*\|"dropped_points":[0-9]*' <<<"$status" | sort -u | tr '\n' ' ')"
    log "kapacitord memory now: $(grep -E '^(VmHWM|VmRSS)' /proc/$kd_pid/status | tr -s ' \t' ' ' | tr '\n' ' ')"
fi
count=$(curl -s -G "$influx_url/query" --data-urlencode "db=bench" \
    --data-urlencode "q=SELECT count(usage_user) FROM cpu" | grep -o '"values":\[\[[^]]*\]\]' | grep -o '[0-9]*\]\]$' | tr -d ']' || true)
log "influxdb acknowledged ${sent[influxdb]} points; SELECT count(usage_user) FROM cpu says ${count:-?}"

# ---- the table -----------------------------------------------------------
runs=()
for name in sink kapacitord influxdb; do
    for ((i = 1; i <= REPEAT; i++)); do
        runs+=("$name=$OUT/$name-$i.json")
    done
done
echo
echo "W1 over HTTP, loopback, kapacitord with no tasks; batch $BATCH lines, $WRITERS writers; sink and kapacitord $POINTS points, influxdb $INFLUX_POINTS points; $REPEAT runs each after a warm-up, median shown"
echo "machine: $machine (client and server share these cores)"
echo "built from: $revision"
[[ -n ${GZIP:-} ]] && echo "bodies gzip-compressed (Content-Encoding: gzip)"
echo
"$kapacitor" bench compare --subject kapacitord "${runs[@]}"
echo "reports: $OUT"
