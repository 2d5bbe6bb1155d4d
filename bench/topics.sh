#!/usr/bin/env bash
# Topic fan-out latency (issue 16): 100 k events/s across 100 topics with
# three handlers each (aggregate, publish, a match-filtered log), the delay
# from publication to each handler, per run and per second of each run.
# The machine is shared: the load average is printed with every run, and
# the runs are repeated so a range can be reported.
#
#   REPEAT=5 bench/topics.sh            # RATE, TOPICS, IDS, SECONDS, PUBLISHERS pass through
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-3}
export RATE=${RATE:-100000} TOPICS=${TOPICS:-100} IDS=${IDS:-10} SECONDS=${SECONDS:-10} PUBLISHERS=${PUBLISHERS:-2}
cargo bench --bench topics --no-run >/dev/null 2>&1 || cargo bench --bench topics --no-run
echo "# $(date -u +%FT%TZ) $(nproc) cpus, commit $(git rev-parse --short HEAD)"
for i in $(seq 1 "$REPEAT"); do
    echo "## run $i, load $(cut -d' ' -f1-3 /proc/loadavg)"
    cargo bench --bench topics 2>/dev/null | grep -v '^$'
done
