#!/usr/bin/env bash
# Compares two builds of the DAG benchmark (pipeline/benches/dag.rs) on this
# noisy shared machine: the two bench binaries run in turn, ROUNDS times
# (interleaved, so a slow phase of the machine hurts both alike), and after
# each run the fastest ("best") and median sample of every benchmark are
# read from criterion's per-sample data.
#
#   cargo bench -p pipeline --bench dag --no-run   # prints the binary's path
#   cp target/release/deps/dag-<hash> /tmp/dag-before   # (and build the other)
#   bench/dag_ab.sh /tmp/dag-before /tmp/dag-after [FILTER]
#
# Knobs (environment): ROUNDS (3), MEASURE seconds per benchmark (4).
set -euo pipefail
before=$1 after=$2 filter=${3:-}
cd "$(dirname "$0")/.."
for round in $(seq "${ROUNDS:-3}"); do
  for which in before after; do
    bin=${!which}
    touch "${TMPDIR:-/tmp}/dag_ab.start"
    "$bin" --bench --warm-up-time 1 --measurement-time "${MEASURE:-4}" $filter >/dev/null 2>&1
    echo "$which, round $round (load $(cut -d' ' -f1 /proc/loadavg))"
    python3 - <<'PY'
import glob, json, os
start = os.path.getmtime(os.path.join(os.environ.get("TMPDIR", "/tmp"), "dag_ab.start"))
for path in sorted(glob.glob("target/criterion/dag/*/new/sample.json")):
    if os.path.getmtime(path) < start:
        continue  # not run this time (filtered out)
    name = path.split("/")[3]
    bench = json.load(open(path.replace("sample.json", "benchmark.json")))
    points = bench["throughput"]["Elements"]
    sample = json.load(open(path))
    per_iter = sorted(t / i for t, i in zip(sample["times"], sample["iters"]))
    best, median = per_iter[0], per_iter[len(per_iter) // 2]
    print(f"  {name:42s} best {points / best * 1e3:6.2f} M/s  median {points / median * 1e3:6.2f} M/s")
PY
  done
done
