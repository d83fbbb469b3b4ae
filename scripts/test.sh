#!/usr/bin/env bash
# The tests: installs the peer tools the interop tests need (if missing), then runs
# every test (and checks that the C programs compare.sh builds compile). Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-peers.sh
# The C programs that scripts/compare.sh builds must keep compiling cleanly.
for c in scripts/*.c; do cc -O2 -Wall -Wextra -Werror -fsyntax-only "$c"; done
scripts/check-links.py  # README and docs/: no dead relative link, no anchor that does not exist
# Then the tests skipped for a missing prerequisite (outside CI they record themselves in
# NETTOOL_SKIPS, see tests/it/harness/skip.rs) and a count: passed, failed, skipped.
mkdir -p target
export NETTOOL_SKIPS="$PWD/target/test-skips.tsv"
: >"$NETTOOL_SKIPS"
status=0
cargo test --locked "$@" 2>&1 | tee target/test-output.txt || status=$?
scripts/test-summary.sh target/test-output.txt "$NETTOOL_SKIPS"
exit "$status"
