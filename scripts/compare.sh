#!/usr/bin/env bash
# nettool beside sockperf, iperf3, the lesson's Node.js chat server and ncat --chat, in one
# run on loopback; prints each pair and its ratio. Installs nothing: a missing tool is
# named and its rows skipped (exit 1). Settings: RUNS, SECONDS_EACH, PARTS, OUT (see
# scripts/compare.py). Takes about 6 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
exec python3 scripts/compare.py "$@"
