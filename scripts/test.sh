#!/usr/bin/env bash
# Runs every test of the workspace, on a fresh machine too: installs what the
# tests need first (the InfluxDB 1.x server the batch and benchmark work
# drives), then builds and runs all tests, and checks that the benchmarks
# and fuzz targets still compile.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v influxd >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing influxdb (Debian package) for the tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null
  else
    echo "test.sh: influxd not found and not root; install the 'influxdb' package" >&2
  fi
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast
fi

# Benchmarks and fuzz targets are not run here (benchmarks are measured with
# bench/run.sh; fuzzing needs nightly), but they must keep compiling.
cargo build --workspace --benches --quiet
if [ -f fuzz/Cargo.toml ]; then
  cargo check --manifest-path fuzz/Cargo.toml --quiet
fi
