#!/usr/bin/env bash
# Flakiness hunt: the whole suite (scripts/test.sh) HUNT_RUNS times in a row (default 5)
# while a busy loop hogs one of the two cores (HUNT_HOG_CPUS, default 1; "0,1" hogs both,
# one loop per core), so that every test meets the stalls of a loaded machine. Each run
# is bounded by HUNT_RUN_SECS (default 900 s; the hogs are bounded by the same). Builds
# first (outside the runs), then prints one line per run with the tests that failed, and
# a summary; exits 1 when any run failed. Each run's whole output is kept in
# target/flaky-hunt/run-N.log.
# HUNT_STALL_MS (default 0: off) adds what a busy host does to a process now and then:
# every 1-2 s the run's whole process group (cargo, the tests, their servers and peers)
# is stopped for that many milliseconds, then continued.
#
#   scripts/flaky-hunt.sh
#   HUNT_RUNS=10 scripts/flaky-hunt.sh --test it udp_text::     # extra cargo test args
#   HUNT_HOG_CPUS=0,1 HUNT_STALL_MS=450 scripts/flaky-hunt.sh
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${HUNT_RUNS:-5}
cpus=${HUNT_HOG_CPUS:-1}
bound=${HUNT_RUN_SECS:-900}
stall_ms=${HUNT_STALL_MS:-0}
logs=target/flaky-hunt
mkdir -p "$logs"

if ! cargo test --locked --no-run "$@" >"$logs/build.log" 2>&1; then
    tail -n 30 "$logs/build.log" >&2
    echo "flaky-hunt: the build failed" >&2
    exit 2
fi

hogs=()
start_hogs() {
    for c in ${cpus//,/ }; do
        timeout "$bound" taskset -c "$c" sh -c 'while :; do :; done' &
        hogs+=($!)
    done
}
stop_hog() {
    for h in "${hogs[@]}"; do
        kill "$h" 2>/dev/null
        wait "$h" 2>/dev/null
    done
    hogs=()
}
trap stop_hog EXIT

# Stop and continue process group $1 until it is gone (`timeout` leads its own group).
stall() {
    local stall_s
    stall_s=$(printf '%d.%03d' $((stall_ms / 1000)) $((stall_ms % 1000)))
    while sleep "$(printf '1.%03d' $((RANDOM % 1000)))" && kill -STOP -- "-$1" 2>/dev/null; do
        sleep "$stall_s"
        kill -CONT -- "-$1" 2>/dev/null || break
    done
}

green=0
for i in $(seq 1 "$runs"); do
    log="$logs/run-$i.log"
    start_hogs
    start=$SECONDS
    timeout --kill-after=30 "$bound" scripts/test.sh --no-fail-fast "$@" >"$log" 2>&1 &
    run=$!
    stalls=
    if [ "$stall_ms" -gt 0 ]; then
        stall "$run" &
        stalls=$!
    fi
    wait "$run"
    rc=$?
    if [ -n "$stalls" ]; then
        wait "$stalls"
    fi
    stop_hog
    secs=$((SECONDS - start))
    failed=$(sed -nE 's/^test (.*) \.\.\. FAILED$/\1/p' "$log" | sort -u | paste -sd' ' -)
    counts=$(sed -nE 's/^scripts\/test.sh: (.*)$/; \1/p' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        green=$((green + 1))
        echo "flaky-hunt: run $i/$runs green (${secs} s$counts)"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "flaky-hunt: run $i/$runs TIMED OUT after ${bound} s; failed so far: ${failed:-none} ($log)"
    else
        echo "flaky-hunt: run $i/$runs FAILED (status $rc, ${secs} s): ${failed:-no test named, see $log}"
    fi
done
stalled=
[ "$stall_ms" -gt 0 ] && stalled=", ${stall_ms} ms stalls"
echo "flaky-hunt: $green of $runs runs green with core(s) $cpus hogged$stalled"
[ "$green" -eq "$runs" ]
