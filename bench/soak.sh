#!/usr/bin/env bash
# Soak (issue 12): W1 at twice the rate a deliberately slow task sustains,
# into the release kapacitord, for DURATION seconds in two halves with a
# `kill -9` and a restart between them. Shows, per half:
#   - what the writer saw: points acknowledged (2xx), points refused (503),
#     transport errors;
#   - what the daemon counted: points received, refused, dropped, and what
#     the slow task processed;
#   - the daemon's peak RSS.
# The contract checked: acknowledged = processed by the task + counted drops
# (the task does not opt into `overflow: drop`, so drops should be 0), and
# the writer saw 503s rather than silent loss. Before the kill the load
# stops and the task drains, so what was acknowledged is all processed; a
# kill -9 under load loses what sits in task inboxes (memory only).
#
# Knobs: DURATION (300), RATE (0: calibrate, then twice what was sustained),
# BATCH (5000), WRITERS (2; more writers, like many Telegraf agents, push
# waits past the timeout into 503s), SKIP_BUILD=1, BIN_DIR (./target/release), KEEP=1 keeps the
# work directory (logs, JSON reports).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
DURATION=${DURATION:-300}
RATE=${RATE:-0}
BATCH=${BATCH:-5000}
WRITERS=${WRITERS:-2}
bin=${BIN_DIR:-$root/target/release}
. "$root/bench/lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/kapacitor-soak.XXXXXX")
trap 'stop_pids; [[ ${KEEP:-0} == 1 ]] || rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release --bin kapacitor --bin kapacitord"
    cargo build --release --bin kapacitor --bin kapacitord
fi
kapacitor=$bin/kapacitor

# The slow task: twenty evals per point, every point through all of them.
mkdir -p "$work/tasks" "$work/data"
{
    echo "stream"
    echo "    |from().measurement('cpu')"
    for i in $(seq 1 20); do
        echo "    |eval(lambda: \"usage_idle\" * 1.0001 + $i.0).as('e$i').keep('usage_idle')"
    done
    echo "    |alert().crit(lambda: \"usage_idle\" < -1.0)"
} >"$work/tasks/slow.tick"
printf 'type: stream\ndbrp: [bench.autogen]\n' >"$work/tasks/slow.yaml"

port=$(free_port)
url=http://127.0.0.1:$port
start_daemon() {
    (
        cd "$work"
        exec env KAPACITOR_HTTP_BIND=127.0.0.1:$port KAPACITOR_UDP_BIND=127.0.0.1:$(free_port) \
            KAPACITOR_TCP_BIND=127.0.0.1:$(free_port) KAPACITOR_DATA_DIR="$work/data" \
            KAPACITOR_TASKS_DIR="$work/tasks" "$bin/kapacitord"
    ) >>"$work/daemon.log" 2>&1 &
    daemon=$!
    pids+=("$daemon")
    wait_ping "$url" 60 || { log "kapacitord did not start: $work/daemon.log"; exit 1; }
}
counter() { # status-json jq-ish path, by grep: router.<name>
    grep -o "\"$2\":[0-9]*" "$1" | head -n1 | grep -o '[0-9]*$'
}
processed() { # points the slow task's first node took
    curl -s "$url/metrics" | grep 'kapacitor_node_messages_in_total{task="slow",node="from1"}' | awk '{print $2}'
}
received() { # points the HTTP listener parsed for bench.autogen
    curl -s "$url/metrics" | grep 'kapacitor_ingest_points_total{listener="http",dbrp="bench.autogen"}' | awk '{print $2}'
}
next_start=$((($(date +%s) - 86400 * 30) * 1000000000))
send() { # points rate seconds json
    timeout $(($3 + 60)) "$kapacitor" --url "$url" bench --json --points "$1" --rate "$2" \
        --batch-size "$BATCH" --writers "$WRITERS" --db bench --start "$next_start" --duration "${3}s" \
        --pid "$daemon" >"$4" || true
    next_start=$((next_start + ($1 / 10000 + 1) * 10000000000))
}
field() { grep -o "\"$2\": *[0-9.e+-]*" "$1" | head -n1 | grep -o '[0-9.e+-]*$'; }

start_daemon
if [[ $RATE == 0 ]]; then
    log "calibrating: 2 M points as fast as the slow task lets writes through"
    send 2000000 0 30 "$work/calibrate.json"
    # What the task got through while writers pressed it, per second.
    sustained=$(awk -v p="$(processed)" -v s="$(field "$work/calibrate.json" duration_s)" 'BEGIN {printf "%d", p / s}')
    RATE=$(awk -v r="$sustained" 'BEGIN {printf "%d", 2 * r}')
    log "sustained $sustained points/s; soaking at $RATE"
    sleep 3
fi

half=$((DURATION / 2))
echo
echo "Soak: W1 at $RATE points/s (twice what the slow task sustains), ${DURATION}s in two halves with kill -9 between; batch $BATCH, $WRITERS writers"
echo "machine: $(nproc) cores; built from $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "| half | acked points (2xx) | refused requests (503) | transport errors | daemon received | refused points | dropped points | task processed | acked = processed + dropped | peak RSS MiB |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|---|--:|"
for h in 1 2; do
    base_processed=$(processed || echo 0)
    base_received=$(received || echo 0)
    curl -s "$url/kapacitor/v1/status" >"$work/before-$h.json"
    # The client builds each run's body up front: 10 s slices keep it small.
    for ((t = 0; t < half; t += 10)); do
        send $((RATE * 10)) "$RATE" 10 "$work/half-$h-$t.json"
    done
    sum_field() { local f; for f in "$work"/half-"$1"-*.json; do field "$f" "$2"; done | awk '{s += $1} END {printf "%d", s}'; }
    # Let the task drain what was acknowledged before it is counted.
    for _ in $(seq 1 300); do
        a=$(processed); sleep 0.2; b=$(processed)
        [[ $a == "$b" ]] && break
    done
    curl -s "$url/kapacitor/v1/status" >"$work/after-$h.json"
    acked=$(sum_field "$h" points_ok)
    non2xx=$(sum_field "$h" non_2xx)
    transport=$(sum_field "$h" transport_errors)
    got=$(($(received) - ${base_received:-0}))
    refused=$(($(counter "$work/after-$h.json" refused_points) - $(counter "$work/before-$h.json" refused_points)))
    dropped=$(($(counter "$work/after-$h.json" dropped_points) - $(counter "$work/before-$h.json" dropped_points)))
    done_points=$(($(processed) - ${base_processed:-0}))
    hwm=$(grep VmHWM "/proc/$daemon/status" | awk '{print $2}')
    ok=no; [[ $acked == $((done_points + dropped)) ]] && ok=yes
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f |\n' "$h" "$acked" "$non2xx" "$transport" \
        "$got" "$refused" "$dropped" "$done_points" "$ok" "$(awk -v k="$hwm" 'BEGIN {print k / 1024}')"
    if [[ $h == 1 ]]; then
        # Under load again for a moment, then killed mid-write.
        send $((RATE * 3)) "$RATE" 3 "$work/kill.json" &
        sleep 1.5
        kill -9 "$daemon"
        wait "$daemon" 2>/dev/null || true
        wait || true
        start_daemon
        log "restarted after kill -9; tasks: $(curl -s "$url/kapacitor/v1/tasks" | grep -o '"id":"[^"]*"' | tr '\n' ' ')"
    fi
done
echo
echo "daemon log: $work/daemon.log (kept until exit)"
