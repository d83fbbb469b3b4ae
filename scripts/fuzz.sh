#!/usr/bin/env bash
# Fuzz every decoder for a bounded time: installs cargo-fuzz if missing, builds the
# targets in fuzz/ (stable toolchain, so no sanitizer: `-s none`), then runs each one
# for FUZZ_SECONDS (default 20) from the committed seeds in fuzz/corpus/<target>/ plus
# the corpus grown by earlier runs (kept in fuzz/target/corpus/, git-ignored).
# Fails on the first crash, leak of the RSS limit or timeout; the input is in
# fuzz/artifacts/<target>/. Prints executions and coverage per target.
#
# Usage: scripts/fuzz.sh [TARGET...]        (default: every target)
#        FUZZ_SECONDS=60 scripts/fuzz.sh frame
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-20}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# -s none: the address sanitizer needs nightly; libFuzzer's coverage guidance does not.
# -a: debug assertions (integer overflow checks) on in the fuzzed code.
cargo fuzz build -s none -a

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

summary=()
for t in "${targets[@]}"; do
    work="fuzz/target/corpus/$t"
    mkdir -p "$work" "fuzz/corpus/$t"
    log="fuzz/target/fuzz-$t.log"
    echo "fuzz.sh: $t for ${seconds}s" >&2
    # New inputs go to the scratch corpus (first directory); the seeds are read only.
    if ! cargo fuzz run -s none -a "$t" "$work" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz.sh: $t FAILED; input saved under fuzz/artifacts/$t/ (log: $log)" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    summary+=("$(printf '%-10s %12s runs  cov %6s  ft %6s  corpus %6s' "$t" "$runs" "$cov" "$ft" "$corp")")
done

printf 'fuzz.sh: %ss per target, no crash\n' "$seconds"
printf '%s\n' "${summary[@]}"
