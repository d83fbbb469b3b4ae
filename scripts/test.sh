#!/usr/bin/env bash
# The tests: installs the peer tools the interop tests need (if missing), then runs
# every test. Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-peers.sh
exec cargo test --locked "$@"
