#!/usr/bin/env bash
# bus-floor.sh URL SUBJECT RATE SECONDS [SIZE]: the bare async-nats peer (scripts/bus_floor.rs),
# the floor `nettool bench fanout --servers N` sets the bus's cost against. Builds it
# (release, as the bench's servers are) when missing, then runs it; prints
# `published received`. Pin it as you pin what it is compared with, e.g.
#   taskset -c 0 scripts/bus-floor.sh nats://127.0.0.1:4222 floor 1000 10 64
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/examples/bus_floor
if [ ! -x "$bin" ] || [ scripts/bus_floor.rs -nt "$bin" ]; then
    cargo build --release --locked --example bus_floor >&2
fi
exec "$bin" "$@"
