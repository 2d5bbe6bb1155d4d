#!/usr/bin/env bash
# Task-count benchmark (issue 11), loopback only, in one invocation:
#   W1 over HTTP (the `kapacitor bench` client) into four release
#   kapacitord, each with its tasks in its tasks directory:
#     t0     no tasks
#     t1     1 task:  from cpu |groupBy(host, cpu) |window(10s) |mean |alert (10k groups)
#     t100   100 of the same, each `where: host =~ /^host-0NN/` (1 % of hosts)
#     t1000  1,000 of the same, each `where: host = 'host-0NNN'` (one host)
#   run in turn, REPEAT rounds (interleaved, so a noisy neighbour hurts all
#   alike); the table shows each one's median run, and the ratios against
#   t0 of the same round. Then each daemon's thread count, memory and the
#   points its tasks dropped.
#   Then start-up: a daemon with IDLE_TASKS idle task pairs in its tasks
#   directory, timed from exec to its first /ping answer (the directory is
#   loaded before it listens), and its memory against a daemon with none.
#
# Knobs (environment): POINTS per run (default 2000000), BATCH (5000),
# WRITERS (2), REPEAT (3), MAX_SECONDS per run (60), IDLE_TASKS (10000),
# SKIP_BUILD=1 to reuse the binaries in BIN_DIR (default ./target/release),
# OUT (directory for the JSON reports; a temporary one by default).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
POINTS=${POINTS:-2000000}
BATCH=${BATCH:-5000}
WRITERS=${WRITERS:-2}
REPEAT=${REPEAT:-3}
MAX_SECONDS=${MAX_SECONDS:-60}
IDLE_TASKS=${IDLE_TASKS:-10000}
bin=${BIN_DIR:-$root/target/release}

work=$(mktemp -d "${TMPDIR:-/tmp}/kapacitor-tasks-bench.XXXXXX")
OUT=${OUT:-$work/reports}
mkdir -p "$OUT"
. "$root/bench/lib.sh"
cleanup() {
    stop_pids
    rm -rf "$work/daemons"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release --bin kapacitor --bin kapacitord"
    cargo build --release --bin kapacitor --bin kapacitord
fi
kapacitor=$bin/kapacitor

script='stream
    |from()
        .groupBy('"'"'host'"'"', '"'"'cpu'"'"')
    |window()
        .period(10s)
        .every(10s)
    |mean('"'"'usage_idle'"'"')
    |alert()
        .crit(lambda: "mean" < 0.0)
'

# task_pair DIR NAME WHERE: NAME.tick and NAME.yaml (WHERE may be empty).
task_pair() {
    printf '%s' "$script" >"$1/$2.tick"
    {
        echo "type: stream"
        echo "dbrp: [bench.autogen]"
        echo "from: cpu"
        if [[ -n $3 ]]; then echo "where: $3"; fi
    } >"$1/$2.yaml"
}

# start_daemon NAME: starts a kapacitord on $work/daemons/NAME (its tasks
# directory must be filled); sets url[NAME], pid[NAME], startup_ms[NAME].
declare -A url=() pid=() startup_ms=()
start_daemon() {
    local name=$1 dir=$work/daemons/$1 port t0
    mkdir -p "$dir/data" "$dir/tasks"
    port=$(free_port)
    t0=$(date +%s%N)
    (
        cd "$dir" # no ./kapacitor.yaml here: embedded defaults
        exec env KAPACITOR_HTTP_BIND=127.0.0.1:$port \
            KAPACITOR_UDP_BIND=127.0.0.1:$(free_port) \
            KAPACITOR_TCP_BIND=127.0.0.1:$(free_port) \
            KAPACITOR_DATA_DIR="$dir/data" \
            KAPACITOR_TASKS_DIR="$dir/tasks" \
            "$bin/kapacitord"
    ) >"$work/$name.log" 2>&1 &
    pid[$name]=$!
    pids+=("${pid[$name]}")
    url[$name]=http://127.0.0.1:$port
    wait_ping "${url[$name]}" 120 || { log "$name did not start (log: $work/$name.log)"; exit 1; }
    startup_ms[$name]=$((($(date +%s%N) - t0) / 1000000))
    log "$name: up in ${startup_ms[$name]} ms, $(ls "$dir/tasks" | grep -c '\.tick$') tasks"
}

mem_kib() { # pid field: VmRSS or VmHWM in KiB
    grep -E "^$2:" "/proc/$1/status" | tr -s ' \t' ' ' | cut -d' ' -f2
}

# ---- the daemons -----------------------------------------------------------
names=(t0 t1 t100 t1000)
mkdir -p "$work/daemons"/{t0,t1,t100,t1000}/tasks
task_pair "$work/daemons/t1/tasks" mean_alert ""
for ((i = 0; i < 100; i++)); do
    task_pair "$work/daemons/t100/tasks" "mean_alert_$i" "$(printf "host =~ /^host-0%02d/" "$i")"
done
for ((i = 0; i < 1000; i++)); do
    task_pair "$work/daemons/t1000/tasks" "mean_alert_$i" "$(printf "host = 'host-%04d'" "$i")"
done
for name in "${names[@]}"; do
    start_daemon "$name"
done

revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no -- Cargo.toml Cargo.lock src ingest pipeline dsl storage config host 2>/dev/null | awk '{print $2}' | tr '\n' ' ')
[[ -n $dirty ]] && revision+=" with uncommitted changes to: $dirty"
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
log "machine: $machine; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the runs --------------------------------------------------------------
series=10000
next_start=$((($(date +%s) - 86400) * 1000000000))
send() { # name points json-out
    local rc=0
    timeout $((MAX_SECONDS + 120)) "$kapacitor" --url "${url[$1]}" bench --json \
        --points "$2" --batch-size "$BATCH" --writers "$WRITERS" --db bench \
        --start "$next_start" --duration "${MAX_SECONDS}s" --pid "${pid[$1]}" >"$3" || rc=$?
    next_start=$((next_start + ($2 / series + 1) * 10000000000))
    return $rc
}
log "warm-up: $((2 * series)) points to each daemon"
for name in "${names[@]}"; do
    send "$name" $((2 * series)) "$work/warmup-$name.json" || true
done
for ((i = 1; i <= REPEAT; i++)); do
    for name in "${names[@]}"; do
        log "round $i/$REPEAT: $name ($POINTS points)"
        send "$name" "$POINTS" "$OUT/$name-$i.json" || log "$name run $i reported errors (see $OUT/$name-$i.json)"
    done
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the table ---------------------------------------------------------------
field() { # json-file jq-like path (points_per_s | ack p99)
    case $2 in
    rate) grep -o '"points_per_s": *[0-9.e+]*' "$1" | head -n1 | grep -o '[0-9.e+]*$' ;;
    p99) grep -A8 '"ack_ms"' "$1" | grep -o '"p99": *[0-9.e+]*' | head -n1 | grep -o '[0-9.e+]*$' ;;
    esac
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo
echo "W1 over HTTP into kapacitord with 0, 1, 100 and 1,000 tasks; batch $BATCH lines, $WRITERS writers, $POINTS points a run, $REPEAT interleaved rounds after a warm-up"
echo "machine: $machine (client and daemons share these cores)"
echo "built from: $revision"
echo
echo "| tasks | M points/s (median) | ratio to t0, per round | ack p99 ms (median) | threads | RSS MiB | peak RSS MiB | points dropped |"
echo "|---|--:|---|--:|--:|--:|--:|--:|"
for name in "${names[@]}"; do
    ratios=()
    for ((i = 1; i <= REPEAT; i++)); do
        base=$(field "$OUT/t0-$i.json" rate)
        this=$(field "$OUT/$name-$i.json" rate)
        ratios+=("$(awk -v a="$this" -v b="$base" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}')")
    done
    rate=$(for ((i = 1; i <= REPEAT; i++)); do field "$OUT/$name-$i.json" rate; done | median)
    p99=$(for ((i = 1; i <= REPEAT; i++)); do field "$OUT/$name-$i.json" p99; done | median)
    threads=$(ls "/proc/${pid[$name]}/task" | wc -l)
    dropped=$(curl -s "${url[$name]}/kapacitor/v1/status" | grep -o '"dropped_points":[0-9]*' | head -n1 | grep -o '[0-9]*$')
    printf '| %s | %.2f | %s | %.1f | %s | %.0f | %.0f | %s |\n' "$name" \
        "$(awk -v r="$rate" 'BEGIN {print r / 1e6}')" "${ratios[*]}" "$p99" "$threads" \
        "$(awk -v k="$(mem_kib "${pid[$name]}" VmRSS)" 'BEGIN {print k / 1024}')" \
        "$(awk -v k="$(mem_kib "${pid[$name]}" VmHWM)" 'BEGIN {print k / 1024}')" "${dropped:-?}"
done
echo "reports: $OUT"

# ---- idle tasks: start-up and memory -------------------------------------------
for name in "${names[@]}"; do
    kill "${pid[$name]}" 2>/dev/null || true
    wait "${pid[$name]}" 2>/dev/null || true
done
if ((IDLE_TASKS > 0)); then
    mkdir -p "$work/daemons/idle0/tasks" "$work/daemons/idle/tasks"
    for ((i = 0; i < IDLE_TASKS; i++)); do
        task_pair "$work/daemons/idle/tasks" "idle_$i" "$(printf "host = 'idle-%05d'" "$i")"
    done
    start_daemon idle0
    start_daemon idle
    sleep 2 # let both settle
    base=$(mem_kib "${pid[idle0]}" VmRSS)
    with=$(mem_kib "${pid[idle]}" VmRSS)
    echo
    echo "| idle tasks | start-up ms (exec to first /ping) | RSS MiB | RSS per task KB (vs 0 tasks) | threads |"
    echo "|--:|--:|--:|--:|--:|"
    printf '| 0 | %s | %.1f | - | %s |\n' "${startup_ms[idle0]}" "$(awk -v k="$base" 'BEGIN {print k / 1024}')" "$(ls "/proc/${pid[idle0]}/task" | wc -l)"
    printf '| %s | %s | %.1f | %.1f | %s |\n' "$IDLE_TASKS" "${startup_ms[idle]}" \
        "$(awk -v k="$with" 'BEGIN {print k / 1024}')" \
        "$(awk -v a="$with" -v b="$base" -v n="$IDLE_TASKS" 'BEGIN {print (a - b) * 1.024 / n}')" \
        "$(ls "/proc/${pid[idle]}/task" | wc -l)"
fi
