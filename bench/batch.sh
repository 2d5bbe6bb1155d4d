#!/usr/bin/env bash
# Batch tasks against a real InfluxDB 1.6 on loopback (issue 14), REPEAT
# rounds of:
#
#   (a) latency: 10,000 series (cpu, one point per host), one batch task
#       `SELECT mean(value) … GROUP BY host` every EVERY, one host critical,
#       its alert `.post()`ed to a local receiver. Per run: from the run's
#       start (the task's `batch.last_run`) to the receiver getting the
#       alert, minus T, the same statement (`batch.last_query`) timed alone
#       from a client (curl, `time_total`) right after; SAMPLES runs.
#   (b) schedule: TASKS batch tasks, each querying one host every 1s, for
#       DURATION seconds: runs and skipped runs of each.
#
# Every server binds 127.0.0.1 on free ports and keeps its data in a
# temporary directory; the load average is printed before each part.
# Knobs (environment): REPEAT (3), SAMPLES (10), EVERY (5s), SERIES
# (10000), TASKS (100), DURATION (60), SKIP_BUILD=1 to reuse the binaries
# in BIN_DIR (default ./target/release).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
REPEAT=${REPEAT:-3}
SAMPLES=${SAMPLES:-10}
EVERY=${EVERY:-5s}
SERIES=${SERIES:-10000}
TASKS=${TASKS:-100}
DURATION=${DURATION:-60}
bin=${BIN_DIR:-$root/target/release}

work=$(mktemp -d "${TMPDIR:-/tmp}/kapacitor-batch.XXXXXX")
. "$root/bench/lib.sh"
cleanup() {
    stop_pids
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in influxd curl ss python3; do
    command -v $tool >/dev/null || { log "needs $tool (scripts/test.sh installs influxd)"; exit 1; }
done
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release --bin kapacitord"
    cargo build --release --bin kapacitord
fi

# ---- InfluxDB --------------------------------------------------------------
start_influxd "$work/influxdb" "$work/influxd.log" || exit 1
influx=$influx_url
# One point per host ten minutes ago; the last host (last in the answer,
# which is sorted by tag value) is the critical one.
python3 - "$SERIES" >"$work/points.lp" <<'EOF'
import sys, time
n = int(sys.argv[1]); t = int(time.time()) - 600
for i in range(n):
    print(f"cpu,host=h{i:05d} value={100 if i == n - 1 else 1} {t}")
EOF
curl -sf -XPOST "$influx/write?db=bench&precision=s" --data-binary @"$work/points.lp"
log "influxd on $influx with $SERIES series"

# ---- the alert receiver ----------------------------------------------------
# Appends the wall-clock ns at which each POST arrived.
cat >"$work/receiver.py" <<'EOF'
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
out = open(sys.argv[1], "a", buffering=1)
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        at = time.time_ns()
        self.rfile.read(int(self.headers.get("content-length", 0)))
        out.write(f"{at}\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
: >"$work/received"
python3 "$work/receiver.py" "$work/received" >"$work/receiver.port" &
pids+=($!)
for ((i = 0; i < 100; i++)); do [[ -s $work/receiver.port ]] && break; sleep 0.05; done
receiver=http://127.0.0.1:$(head -n1 "$work/receiver.port")

# ---- kapacitord ------------------------------------------------------------
mkdir -p "$work/kapacitord"
kd_http=$(free_port)
kd=http://127.0.0.1:$kd_http
cat >"$work/kapacitord/kapacitor.yaml" <<EOF
http:
  bind: "127.0.0.1:$kd_http"
udp:
  bind: "127.0.0.1:$(free_port)"
tcp:
  bind: "127.0.0.1:$(free_port)"
data_dir: "$work/kapacitord/data"
tasks_dir: "$work/kapacitord/tasks"
influxdb:
  - name: bench
    urls: ["$influx"]
    disable_subscriptions: true
EOF
(cd "$work/kapacitord" && exec "$bin/kapacitord") >"$work/kapacitord.log" 2>&1 &
pids+=($!)
wait_ping "$kd" 20 || { log "kapacitord did not start (log: $work/kapacitord.log)"; exit 1; }

define() { # id script
    python3 -c 'import json,sys; print(json.dumps({"id": sys.argv[1], "type": "batch", "script": sys.argv[2], "status": "enabled"}))' "$1" "$2" |
        curl -sf -XPOST "$kd/kapacitor/v1/tasks" -H 'content-type: application/json' --data-binary @- >/dev/null
}
delete() { curl -sf -XDELETE "$kd/kapacitor/v1/tasks/$1" >/dev/null; }
task_json() { curl -sf "$kd/kapacitor/v1/tasks/$1"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# ---- (a) latency -----------------------------------------------------------
latency_round() {
    local round=$1 seen i
    : >"$work/received"
    define lat "batch
    |query('SELECT mean(value) FROM \"bench\".\"autogen\".\"cpu\"')
        .period(1h)
        .every($EVERY)
        .groupBy('host')
    |alert()
        .crit(lambda: \"mean\" > 50)
        .post('$receiver/alert')"
    : >"$work/samples"
    seen=0
    # The first run warms the connections; it is not counted.
    for ((i = 0; i <= SAMPLES; i++)); do
        while (($(wc -l <"$work/received") <= seen)); do sleep 0.01; done
        seen=$(wc -l <"$work/received")
        local at json q
        at=$(tail -n1 "$work/received")
        json=$(task_json lat)
        ((i == 0)) && continue
        q=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["batch"]["last_query"])' <<<"$json")
        # T: the same statement alone, between two runs.
        local t
        t=$(curl -s -o /dev/null -w '%{time_total}' -XPOST "$influx/query" \
            --data-urlencode "q=$q" --data-urlencode "epoch=ns")
        # An alert that came meanwhile is not matched to its run's start.
        seen=$(wc -l <"$work/received")
        python3 -c '
import json, sys
j = json.loads(sys.argv[1]); b = j["batch"]
import datetime
def ns(s):
    s = s.rstrip("Z"); base, _, frac = s.partition(".")
    d = datetime.datetime.fromisoformat(base).replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 10**9 + int((frac + "000000000")[:9])
total = (int(sys.argv[2]) - ns(b["last_run"])) / 1e6
t = float(sys.argv[3]) * 1e3
run, series = b["last_duration_ms"], b["last_series"]
if total < 0:  # the next run had started: a mismatch
    sys.exit()
parts = (b["last_answer_ms"], b["last_parse_ms"], b["last_handoff_ms"])
print(f"{total:.2f} {t:.2f} {total - t:.2f} {run:.2f} {series}", *(f"{p:.2f}" for p in parts))
' "$json" "$at" "$t" >>"$work/samples"
    done
    delete lat
    python3 - "$round" "$(load)" "$work/samples" <<'EOF'
import sys, statistics
rows = [list(map(float, l.split())) for l in open(sys.argv[3]) if l.strip()]
col = lambda i: [r[i] for r in rows]
med = lambda i: statistics.median(col(i))
print(f"round {sys.argv[1]} latency (load {sys.argv[2]}): {len(rows)} runs of {int(rows[0][4])} series; "
      f"start->alert median {med(0):.1f} ms (min {min(col(0)):.1f}, max {max(col(0)):.1f}); "
      f"T median {med(1):.1f} ms (min {min(col(1)):.1f}, max {max(col(1)):.1f}); "
      f"added median {med(2):.1f} ms (min {min(col(2)):.1f}, max {max(col(2)):.1f}); "
      f"of the run: answer {med(5):.1f}, parse {med(6):.1f}, hand-off {med(7):.1f} ms; "
      f"start->alert minus the answer as the daemon timed it: median {statistics.median(r[0] - r[5] for r in rows):.1f} ms")
EOF
}

# ---- (b) schedule ----------------------------------------------------------
schedule_round() {
    local round=$1 i
    for ((i = 0; i < TASKS; i++)); do
        define "s$i" "batch
    |query('SELECT mean(value) FROM \"bench\".\"autogen\".\"cpu\" WHERE host = \\'h$(printf %05d "$i")\\'')
        .period(1h)
        .every(1s)
    |httpOut('out')"
    done
    local before after
    before=$(curl -sf "$kd/kapacitor/v1/tasks")
    sleep "$DURATION"
    after=$(curl -sf "$kd/kapacitor/v1/tasks")
    for ((i = 0; i < TASKS; i++)); do delete "s$i"; done
    python3 - "$round" "$(load)" "$DURATION" <(echo "$before") <(echo "$after") <<'EOF'
import json, sys
def runs(path):
    out = {}
    for t in json.load(open(path))["tasks"]:
        b = t.get("batch")
        if t["id"].startswith("s") and b:
            out[t["id"]] = (b["runs"], b["skipped"], b["errors"])
    return out
a, b = runs(sys.argv[4]), runs(sys.argv[5])
d = {k: tuple(y - x for x, y in zip(a[k], b[k])) for k in b if k in a}
r = [v[0] for v in d.values()]
print(f"round {sys.argv[1]} schedule (load {sys.argv[2]}): {len(d)} tasks over {sys.argv[3]} s: "
      f"runs per task {min(r)}..{max(r)}, skipped {sum(v[1] for v in d.values())}, "
      f"errors {sum(v[2] for v in d.values())}")
EOF
}

for ((round = 1; round <= REPEAT; round++)); do
    log "round $round: load $(load)"
    latency_round "$round"
    schedule_round "$round"
done
