#!/usr/bin/env bash
# Recording overhead (issue 13): W1 (POINTS a run, 2 M by default) over
# HTTP into one release kapacitord, alternating a run with no recording and
# a run while `start-recording --db bench --rp autogen` records it, REPEAT
# rounds (3). Prints each round's rates, their ratio, what the recording
# kept against what the daemon acknowledged in that run, the daemon's
# CPU-µs per point in each (less at the mercy of other load than the
# rates), its refused and dropped points, and the load average.
#
# BIN_DIR: where kapacitord and kapacitor are (default: target/release of
# $CARGO_TARGET_DIR or ./target; build them first with cargo build
# --release). Free loopback ports and a temporary data directory each run.
set -u
cd "$(dirname "$0")/.."
source bench/lib.sh
B=${BIN_DIR:-${CARGO_TARGET_DIR:-$(pwd)/target}/release}
POINTS=${POINTS:-2000000}
REPEAT=${REPEAT:-3}
D=$(mktemp -d)
trap 'stop_pids; rm -rf "$D"' EXIT
HTTP=$(free_port)
cd "$D"
KAPACITOR_HTTP_BIND=127.0.0.1:$HTTP KAPACITOR_UDP_BIND=127.0.0.1:$(free_port) \
KAPACITOR_TCP_BIND=127.0.0.1:$(free_port) KAPACITOR_DATA_DIR=$D/data \
KAPACITOR_TASKS_DIR=$D/tasks "$B/kapacitord" >d.log 2>&1 &
P=$!
pids+=("$P")
export KAPACITOR_URL=http://127.0.0.1:$HTTP
wait_ping "$KAPACITOR_URL" 10 || { log "kapacitord did not start"; cat d.log; exit 1; }
log "$B/kapacitord, load: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$((($(date +%s) - 86400 * 10) * 1000000000))
status() { curl -s "$KAPACITOR_URL/kapacitor/v1/status"; }
counter() { grep -o "\"$1\": *[0-9]*" | head -1 | grep -o '[0-9]*$'; }
# One W1 run: prints points/s, the points acknowledged and the daemon's
# CPU-µs per point (its CPU time over the run and a 1 s settle, which
# counts what the recorder still had queued at the last ack).
run() {
    local out
    out=$("$B/kapacitor" bench --json --points "$POINTS" --db bench --start $start \
        --duration 120s --pid $P --settle 1s)
    start=$((start + 2100000000000))
    num() { echo "$out" | grep -o "\"$1\": *[0-9.e+-]*" | head -1 | grep -o '[0-9.e+-]*$'; }
    echo "$(num points_per_s) $(num points_ok) $(num cpu_us_per_point)"
}
run >/dev/null
for ((i = 1; i <= REPEAT; i++)); do
    read -r a _ ca < <(run)
    ID=$("$B/kapacitor" start-recording --db bench --rp autogen | grep -o '[0-9a-f]*$')
    read -r b acked cb < <(run)
    rec=$("$B/kapacitor" stop-recording --json "$ID")
    kept=$(echo "$rec" | counter points)
    dropped=$(echo "$rec" | counter dropped)
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b/a}'; }
    echo "round $i: without $(printf %.2f "${a}e-6") M/s ($(printf %.3f "$ca") CPU-µs/pt)," \
        "recording $(printf %.2f "${b}e-6") M/s ($(printf %.3f "$cb") CPU-µs/pt)," \
        "ratio $(ratio "$a" "$b"), CPU ratio $(ratio "$ca" "$cb"), acked $acked," \
        "recorded $kept, recorder dropped ${dropped:-0}"
done
s=$(status)
echo "daemon: refused_points $(echo "$s" | counter refused_points), dropped_points $(echo "$s" | counter dropped_points)"
log "load: $(cut -d' ' -f1-3 /proc/loadavg)"
