#!/usr/bin/env bash
# A bounded soak of the release build: a `nettool chat --proto both -l` child process
# with SOAK_TCP TCP + SOAK_UDP UDP members (default 500 + 500), each sending SOAK_RATE
# numbered lines/s (default 0.2) for SOAK_SECS seconds (default 60). Counts every line
# per sender at every receiver: TCP->TCP must be exact (no loss, no duplicate, in order);
# what crosses UDP is counted and printed. The server's VmRSS after the joins and at the
# end may grow at most SOAK_RSS_MIB MiB (default 16). Prints a summary (lines "soak: …").
# (Every test run does a brief soak of its own: 40 + 40 members for 3 s.)
#
#   scripts/soak.sh                                   # the full soak, about 70 s
#   SOAK_TCP=200 SOAK_UDP=200 SOAK_SECS=20 scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release --locked --test it soak:: -- --ignored --nocapture
