#!/usr/bin/env bash
# Recording overhead (issue 13): W1 (2 M points a run) over HTTP into one
# release kapacitord (build it first: cargo build --release), alternating a
# run with no recording and a run while `start-recording` records all of
# bench.autogen; prints each round's rates and their ratio, then the
# recordings (points kept, and dropped if the recorder fell behind).
set -u
cd "$(dirname "$0")/.."
B=${BIN_DIR:-$(pwd)/target/release}
D=$(mktemp -d)
cd $D
KAPACITOR_HTTP_BIND=127.0.0.1:39092 KAPACITOR_UDP_BIND=127.0.0.1:39089 KAPACITOR_TCP_BIND=127.0.0.1:39094 KAPACITOR_DATA_DIR=$D/data KAPACITOR_TASKS_DIR=$D/tasks $B/kapacitord > d.log 2>&1 &
P=$!
sleep 1.5
export KAPACITOR_URL=http://127.0.0.1:39092
start=$((($(date +%s) - 86400*10) * 1000000000))
run() { $B/kapacitor bench --json --points 2000000 --db bench --start $start --duration 60s --pid $P | grep -o '"points_per_s": *[0-9.e+]*' | grep -o '[0-9.e+]*$'; start=$((start + 2100000000000)); }
run >/dev/null
for i in 1 2 3; do
  a=$(run)
  ID=$($B/kapacitor start-recording --db bench --rp autogen | grep -o '[0-9a-f]*$')
  b=$(run)
  $B/kapacitor stop-recording $ID >/dev/null
  echo "round $i: without $a, recording $b, ratio $(awk -v a=$a -v b=$b 'BEGIN{printf "%.3f", b/a}')"
done
$B/kapacitor list recordings | head -5
kill $P; wait $P 2>/dev/null; rm -rf $D
